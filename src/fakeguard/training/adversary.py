"""What adversarial training plays against: L-inf PGD (or FGSM) and a learned U-Net attacker."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from fakeguard.attacks.modes import frozen
from fakeguard.attacks.pgd import PGD
from fakeguard.attacks.unet import UNetAttacker, attacker_loss

# The detector's loss terms. `pgd` is the pixel-space attack's, PGD or FGSM (the name is kept:
# it is the loss_weights key of every config and the logged `train/loss_pgd`).
LOSS_TERMS = ("clean", "pgd", "unet")


class Adversary(nn.Module):
    """The attackers and their knobs, held as a module so the U-Net is saved in checkpoints.

    `attack` is the pixel-space attack: `PGD` or `FGSM` (an FGSM is a one-step PGD).
    The U-Net has its own optimizer and, optionally, its own scheduler (stepped per epoch).
    `loss_weights` weigh the detector's clean, pixel-attack (`pgd`) and U-Net losses
    (normalised to sum to 1 over the terms in use; default equal). `tv_weight`, `freq_weight`
    and `freq_radius` shape the U-Net's own loss (see `fakeguard.attacks.unet.attacker_loss`).
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
    ) -> None:
        super().__init__()
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
        total = sum(weights[t] for t in used)
        self.loss_weights = {t: weights[t] / total for t in used}

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
