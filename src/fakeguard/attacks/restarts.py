"""Worst of several random-start runs, and the `pgd-strong` evaluation attack built on it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fakeguard.attacks.modes import eval_mode
from fakeguard.attacks.pgd import PGD, PGD_8_255
from fakeguard.attacks.registry import Attack, AttackSpec, budget, register

STRONG_STEPS = 50
STRONG_RESTARTS = 5


class WorstOfRestarts:
    """`restarts` runs of a random-start attack; each sample keeps the run with the highest
    loss, so more restarts can only make the attack stronger."""

    def __init__(self, attack: Attack, restarts: int) -> None:
        self.attack = attack
        self.restarts = restarts

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        best = x.detach().clone()
        best_loss = torch.full((len(x),), -torch.inf, device=x.device)
        for _ in range(self.restarts):
            x_adv = self.attack(model, x, y)
            loss = per_sample_loss(model, x_adv, y)
            better = loss > best_loss
            best[better] = x_adv[better]
            best_loss = torch.where(better, loss, best_loss)
        return best


def per_sample_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The detector's BCE per sample, in eval mode."""
    with eval_mode(model), torch.no_grad():
        logits = model(x).float().flatten()
        return F.binary_cross_entropy_with_logits(logits, y.float().flatten(), reduction="none")


def pgd_strong() -> WorstOfRestarts:
    """PGD-50 (the `pgd` track's budget and step) from 5 random starts, worst case per sample."""
    return WorstOfRestarts(PGD(**{**PGD_8_255, "steps": STRONG_STEPS}), STRONG_RESTARTS)


register(
    "pgd-strong",
    AttackSpec(
        factory=pgd_strong,
        title="PGD-50, 5 restarts",
        short_title="PGD-50",
        description=(
            f"{budget(PGD_8_255['eps'])}, {STRONG_STEPS} steps of "
            f"{PGD_8_255['step_size'] * 255:.0f}/255, {STRONG_RESTARTS} random starts, "
            "worst case per sample"
        ),
        white_box=True,
    ),
)
