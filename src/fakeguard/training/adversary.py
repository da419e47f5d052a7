"""What adversarial training plays against: L-inf PGD (or FGSM) and a learned U-Net attacker."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from fakeguard import settings
from fakeguard.attacks.modes import eval_mode, frozen
from fakeguard.attacks.pgd import PGD
from fakeguard.attacks.unet import UNetAttacker, attacker_loss
from fakeguard.errors import SettingError
from fakeguard.training.losses import bernoulli_kl

# The detector's loss terms. `pgd` is the pixel-space attack's, PGD or FGSM (the name is kept:
# it is the loss_weights key of every config and the logged `train/loss_pgd`).
LOSS_TERMS = ("clean", "pgd", "unet")
# How the pixel-space attack enters the detector's loss (attack.adversary.objective):
# `sum`: the weighted sum of the clean and adversarial BCE (Madry et al. with a clean term);
# `trades`: BCE(clean) + trades_beta * KL(p_clean || p_adv), the attack maximising that KL
# (Zhang et al. 2019, TRADES).
OBJECTIVES = ("sum", "trades")
# TRADES's random start: x + 0.001 * N(0, 1) (the reference implementation's)
TRADES_START_STD = 0.001


class Adversary(nn.Module):
    """The attackers and their knobs, held as a module so the U-Net is saved in checkpoints.

    `attack` is the pixel-space attack: `PGD` or `FGSM` (an FGSM is a one-step PGD).
    The U-Net has its own optimizer and, optionally, its own scheduler (stepped per epoch).
    `loss_weights` weigh the detector's clean, pixel-attack (`pgd`) and U-Net losses
    (normalised to sum to 1 over the terms in use; default equal). `tv_weight`, `freq_weight`
    and `freq_radius` shape the U-Net's own loss (see `fakeguard.attacks.unet.attacker_loss`).

    `objective="trades"` makes the pixel-attack term TRADES's: the attack maximises
    KL(p_clean || p_adv) from a 0.001 * N(0, 1) start, against the detector's eval-mode clean
    prediction (detached), and the detector's loss is BCE(clean) + `trades_beta` * KL (both
    sides trained, as TRADES does). Its weights are then relative to the clean term: clean 1,
    `pgd` `trades_beta` (loss_weights.pgd is not used), `unet` loss_weights.unet /
    loss_weights.clean; the U-Net term itself is unchanged.

    `warmup_epochs` (k) ramps the pixel attack's budget: at the training batch number b
    (counted from 0 over the whole run) eps and step_size are scaled by
    min(1, (b + 1) / (k * batches_per_epoch)), from ~0 to the full eps at the end of epoch k.
    0: no warm-up. The U-Net keeps its full eps (its bound is part of its architecture, saved
    with it, and its own losses would not scale with a ramp).
    """

    def __init__(
        self,
        attack: PGD | None = None,
        unet: UNetAttacker | None = None,
        unet_optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None = None,
        unet_scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
        loss_weights: Mapping[str, float] | None = None,
        tv_weight: float = 0.05,
        freq_weight: float = 0.1,
        freq_radius: float = 0.1,
        objective: str = "sum",
        trades_beta: float = 6.0,
        warmup_epochs: int = 0,
    ) -> None:
        super().__init__()
        self.objective = settings.one_of("attack.adversary.objective", objective, OBJECTIVES)
        self.trades_beta = settings.number_in(
            "attack.adversary.trades_beta", trades_beta, 0, float("inf"), high_open=True
        )
        self.warmup_epochs = settings.whole_number("attack.warmup_epochs", warmup_epochs, 0)
        if self.warmup_epochs and attack is None:
            raise SettingError(
                f"attack.warmup_epochs={warmup_epochs} ramps the pixel-space attack's eps, and "
                "this adversary has none: set attack.warmup_epochs=0"
            )
        if self.objective == "trades" and attack is None:
            raise SettingError(
                "attack.adversary.objective=trades needs a pixel-space attack (PGD or FGSM)"
            )
        if attack is None and unet is None:
            raise ValueError("an Adversary needs `attack` (PGD or FGSM), `unet` or both")
        if unet is not None and unet_optimizer is None:
            raise ValueError("a U-Net attacker needs its own `unet_optimizer`")
        weights = {term: 1.0 for term in LOSS_TERMS} | dict(loss_weights or {})
        unknown = set(weights) - set(LOSS_TERMS)
        if unknown:
            raise ValueError(f"unknown loss_weights {sorted(unknown)}; expected {LOSS_TERMS}")
        self.attack = attack
        self.unet = unet
        self.unet_optimizer = unet_optimizer
        self.unet_scheduler = unet_scheduler
        self.tv_weight = tv_weight
        self.freq_weight = freq_weight
        self.freq_radius = freq_radius
        players = {"clean": True, "pgd": attack is not None, "unet": unet is not None}
        used = [t for t in LOSS_TERMS if players[t]]
        if self.objective == "trades":
            if unet is not None and weights["clean"] <= 0:
                raise SettingError(
                    "attack.adversary.loss_weights.clean must be > 0 with objective=trades: "
                    "the U-Net's weight is relative to it"
                )
            self.loss_weights = {"clean": 1.0, "pgd": self.trades_beta}
            if unet is not None:
                self.loss_weights["unet"] = weights["unet"] / weights["clean"]
            return
        total = sum(weights[t] for t in used)
        self.loss_weights = {t: weights[t] / total for t in used}

    def warmup_scale(self, batches_done: int, batches_per_epoch: float) -> float:
        """The share of eps the pixel attack uses at the training batch `batches_done`
        (0-based, over the whole run): min(1, (batches_done + 1) / (k * batches_per_epoch)).
        Derived from the trainer's progress alone, so a resumed run continues the ramp."""
        if not self.warmup_epochs:
            return 1.0
        if not (batches_per_epoch and math.isfinite(batches_per_epoch)):
            batches_per_epoch = 1.0  # unknown length: ramp per batch over k batches
        return min(1.0, (batches_done + 1) / (self.warmup_epochs * batches_per_epoch))

    def pixel_term(
        self,
        detector: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        clean_logits: torch.Tensor,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        scale: float = 1.0,
    ) -> torch.Tensor:
        """The detector's pixel-attack loss term: `loss` (its BCE) on the attacked batch
        (`sum`), or the KL from `clean_logits` to the attacked batch's logits (`trades`).
        `scale` is the warm-up's share of eps."""
        attack = self.attack if scale >= 1 else self.attack.scaled(scale)
        if self.objective == "sum":
            return loss(detector(attack(detector, x, y)), y)
        with eval_mode(detector), torch.no_grad():  # TRADES's target: the eval-mode prediction
            target = detector(x).float()
        x_adv = attack(detector, x, target, loss=_kl_from_clean, start_std=TRADES_START_STD)
        return bernoulli_kl(clean_logits, detector(x_adv))

    def attacker_loss(
        self, detector: nn.Module, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The U-Net's loss against `detector`, which is frozen (no parameter grads, eval mode)."""
        with frozen(detector):
            delta = self.unet(x)
            logits = detector((x + delta).clamp(0, 1))
            return attacker_loss(
                logits, y, delta, self.tv_weight, self.freq_weight, self.freq_radius
            )

    def passes(self) -> int:
        """Detector forward+backward passes per training step (for benchmarks)."""
        attack = self.attack.passes if self.attack is not None else 0
        return len(self.loss_weights) + attack + (1 if self.unet is not None else 0)


def _kl_from_clean(adv_logits: torch.Tensor, clean_logits: torch.Tensor) -> torch.Tensor:
    """TRADES's inner objective in PGD's `loss(logits, y)` order: KL(p_clean || p_adv)."""
    return bernoulli_kl(clean_logits, adv_logits)
