"""What adversarial training plays against: L-inf PGD (or FGSM) and a learned U-Net attacker,
on the model input or through a platform (a codec's stand-in or the EOT distribution)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from fakeguard import settings
from fakeguard.attacks.modes import eval_mode
from fakeguard.attacks.pgd import PGD
from fakeguard.attacks.through import through as behind
from fakeguard.attacks.unet import OBJECTIVES as UNET_OBJECTIVES
from fakeguard.attacks.unet import UNetAttacker
from fakeguard.attacks.unet_fit import AttackerLoss, loss_against, train_attacker
from fakeguard.errors import SettingError
from fakeguard.robustness.eot import platform
from fakeguard.robustness.standins import STAND_INS
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
# What the attackers may go through (attack.through): the EOT platform or a suite codec.
PLATFORMS = ("eot", *sorted(STAND_INS))


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

    The U-Net's schedule: `unet_steps` updates per detector step (on the same batch), and
    `unet_warmup_steps` updates before the detector's first: the run's first
    ceil(unet_warmup_steps / unet_steps) batches train the U-Net only. `unet_objective` and
    `unet_margin` choose its fooling term (`fakeguard.attacks.unet.fooling_term`).

    `through` (None, `eot` or a suite codec, `PLATFORMS`) puts a platform between the attackers
    and the detector (`eot`: `fakeguard.robustness.eot.Platform(**eot)`): PGD attacks
    `Through(detector, platform)`, the U-Net trains through it, and the detector's adversarial
    terms are its loss on what the platform delivers, the real codec's output. The platform is
    held outside the module tree: it has no weights, and checkpoints must not depend on it.
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
        unet_objective: str = "margin",
        unet_margin: float = 5.0,
        unet_steps: int = 1,
        unet_warmup_steps: int = 0,
        through: str | None = None,
        eot: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self._check_unet_schedule(unet, unet_steps, unet_warmup_steps)
        self.unet_loss = _unet_loss(
            unet_objective, unet_margin, tv_weight, freq_weight, freq_radius
        )
        self.through = through
        # not a submodule (see the docstring): plain attribute, outside state_dict and .to()
        self.__dict__["platform"] = _platform(through, eot)
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

    def _check_unet_schedule(
        self, unet: UNetAttacker | None, steps: int, warmup_steps: int
    ) -> None:
        self.unet_steps = settings.whole_number("attack.adversary.unet_steps", steps, 1)
        self.unet_warmup_steps = settings.whole_number(
            "attack.adversary.unet_warmup_steps", warmup_steps, 0
        )
        if self.unet_warmup_steps and unet is None:
            raise SettingError(
                f"attack.adversary.unet_warmup_steps={warmup_steps} warms up the U-Net attacker, "
                "and this adversary has none: set it to 0 or use attack=pgd_unet"
            )

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
        model = self.target(detector)
        if self.objective == "sum":
            return loss(detector(self.deliver(attack(model, x, y))), y)
        with eval_mode(detector), torch.no_grad():  # TRADES's target: the eval-mode prediction
            target = detector(x).float()
        x_adv = attack(model, x, target, loss=_kl_from_clean, start_std=TRADES_START_STD)
        return bernoulli_kl(clean_logits, detector(self.deliver(x_adv)))

    def target(self, detector: nn.Module) -> nn.Module:
        """What the attackers optimise against: the detector, behind the platform if any."""
        return behind(detector, self.platform)

    def deliver(self, x: torch.Tensor) -> torch.Tensor:
        """What the detector receives for the attacked `x`: the platform's output, if any
        (the real codec's; no gradient is needed through it)."""
        if self.platform is None:
            return x
        with torch.no_grad():
            return self.platform(x)

    def attacker_loss(
        self, detector: nn.Module, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The U-Net's loss against `detector` (behind the platform), which is frozen."""
        return loss_against(self.unet, self.target(detector), x, y, self.unet_loss)

    def update_unet(
        self,
        detector: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        step: Callable[[torch.Tensor], None],
    ) -> list[dict[str, float]]:
        """`unet_steps` U-Net updates on this batch against `detector` (behind the platform);
        `step(loss)` applies one. The update `fakeguard.attacks.unet_fit.fit_unet` uses too."""
        batches = itertools.repeat((x, y), self.unet_steps)
        model = self.target(detector)
        return train_attacker(self.unet, model, batches, self.unet_steps, self.unet_loss, step)

    def warmup_batches(self) -> int:
        """How many of the run's first batches train the U-Net only."""
        return -(-self.unet_warmup_steps // self.unet_steps)

    def unet_term(
        self,
        detector: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The detector's U-Net loss term on a fresh perturbation (behind the platform), with
        the logits it is computed on and the perturbation applied (for logging)."""
        with torch.no_grad():
            x_unet = self.unet.perturb(x, y)
        logits = detector(self.deliver(x_unet))
        return loss(logits, y), logits, x_unet - x

    def passes(self) -> int:
        """Detector forward+backward passes per training step (for benchmarks)."""
        attack = self.attack.passes if self.attack is not None else 0
        return len(self.loss_weights) + attack + (self.unet_steps if self.unet is not None else 0)


def _unet_loss(
    objective: str, margin: float, tv_weight: float, freq_weight: float, freq_radius: float
) -> AttackerLoss:
    """The U-Net's loss settings, checked under their config keys."""
    prefix = "attack.adversary."
    return AttackerLoss(
        settings.one_of(f"{prefix}unet_objective", objective, UNET_OBJECTIVES),
        settings.number_in(f"{prefix}unet_margin", margin, 0, math.inf, low_open=True),
        tv_weight,
        freq_weight,
        freq_radius,
    )


def _platform(through: str | None, eot: Mapping[str, Any] | None) -> nn.Module | None:
    """The platform `attack.through` names, or None; a typo names the choices."""
    if through is None:
        return None
    settings.one_of("attack.through", through, PLATFORMS)
    try:
        return platform(through, eot)
    except (TypeError, ValueError) as error:  # the eot group's settings
        raise SettingError(f"attack.through={through}: {error}") from None


def _kl_from_clean(adv_logits: torch.Tensor, clean_logits: torch.Tensor) -> torch.Tensor:
    """TRADES's inner objective in PGD's `loss(logits, y)` order: KL(p_clean || p_adv)."""
    return bernoulli_kl(clean_logits, adv_logits)
