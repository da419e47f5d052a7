"""Worst of several random-start runs, and the `pgd-strong` evaluation attack built on it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fakeguard.attacks.modes import eval_mode
from fakeguard.attacks.pgd import PGD, PGD_8_255, pgd_settings
from fakeguard.attacks.registry import Attack, AttackSpec, budget, in_255ths, register

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


def pgd_strong(
    eps: float = PGD_8_255["eps"], steps: int = STRONG_STEPS, restarts: int = STRONG_RESTARTS
) -> WorstOfRestarts:
    """PGD-50 (the `pgd` track's step, eps / 4) from 5 random starts, worst case per sample."""
    return WorstOfRestarts(PGD(**{**pgd_settings(eps), "steps": steps}), restarts)


def _describe(eps: float, steps: int, restarts: int) -> str:
    starts = "1 random start" if restarts == 1 else f"{restarts} random starts"
    return (
        f"{budget(eps)}, {steps} steps of {in_255ths(pgd_settings(eps)['step_size'])}/255, "
        f"{starts}, worst case per sample ({steps * restarts} gradient steps per image)"
    )


register(
    "pgd-strong",
    AttackSpec(
        factory=pgd_strong,
        # Not "PGD-50, 5 restarts": attack_budgets may change both; the note says what ran.
        title="PGD strong (restarts)",
        short_title="PGD-strong",
        description=_describe(PGD_8_255["eps"], STRONG_STEPS, STRONG_RESTARTS),
        white_box=True,
        eps=PGD_8_255["eps"],
        settings={"steps": STRONG_STEPS, "restarts": STRONG_RESTARTS},
        describe=_describe,
    ),
)
