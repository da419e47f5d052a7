"""Training a U-Net attacker against a detector held fixed.

One update rule serves both places a U-Net learns: adversarial training
(`fakeguard.training.adversary.Adversary`, a few steps per detector step and a warm-up before
the first) and `fit_unet`, which fits a fresh attacker to a frozen checkpoint, so that a model is
attacked by a U-Net fitted to it rather than by another model's (evaluate.py's
`attacker=train`). Either can train through a platform (`fakeguard.attacks.through`): the loss
then sees `detector(platform(x + delta))`, and what the U-Net learns survives that platform.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fakeguard.attacks.modes import frozen
from fakeguard.attacks.through import through
from fakeguard.attacks.unet import OBJECTIVES, UNetAttacker, attacker_loss, frequency_profile

# fit_unet's default budget, measured against the clean demo model (48 px, train crops in
# batches of 32, one shared CPU core): 250 steps at lr 3e-3 take ~100 s and its test AUC from
# 0.999 to 0.008 (constant lr 1e-3: 0.09 after 150 steps; 3e-3: 0.03; the old unconditioned
# -BCE loss: 0.999 after 150 steps at 1e-3, 0.98 at 1e-2). Through the jpeg50 stand-in it needs
# more: test AUC after real JPEG 50 0.37 after 250 steps (92 s), 0.09 after 500 (143 s); the
# U-Net fitted on the model input scores 0.24 after real JPEG 50.
FIT_STEPS = 250
FIT_LR = 3e-3


@dataclass(frozen=True)
class AttackerLoss:
    """The U-Net's loss settings (see `fakeguard.attacks.unet.attacker_loss`)."""

    objective: str = "margin"
    margin: float = 5.0
    tv_weight: float = 0.05
    freq_weight: float = 0.1
    freq_radius: float = 0.1

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if not (self.margin > 0 and math.isfinite(self.margin)):
            raise ValueError(f"margin must be a positive finite number, got {self.margin!r}")

    def __call__(
        self, logits: Tensor, labels: Tensor, delta: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        return attacker_loss(
            logits,
            labels,
            delta,
            self.tv_weight,
            self.freq_weight,
            self.freq_radius,
            self.objective,
            self.margin,
        )


def loss_against(
    unet: UNetAttacker, model: nn.Module, x: Tensor, y: Tensor, loss: AttackerLoss
) -> tuple[Tensor, dict[str, Tensor]]:
    """The U-Net's loss against `model` (a detector, or one behind a platform), held frozen:
    eval mode and no parameter gradients inside, every flag restored after (an opponent that
    learns from the attacker's gradient would not be the one it is fitted to)."""
    with frozen(model):
        delta = unet(x, y)
        return loss(model((x + delta).clamp(0, 1)), y, delta)


def train_attacker(
    unet: UNetAttacker,
    model: nn.Module,
    batches: Iterator[tuple[Tensor, Tensor]],
    steps: int,
    loss: AttackerLoss,
    step: Callable[[Tensor], None],
) -> list[dict[str, float]]:
    """`steps` updates of `unet` against `model`, one per (pixels, labels) batch drawn from
    `batches`; `step(loss)` applies one (the caller's optimizer, clipping and mixed precision).
    Returns each update's loss parts, measured before it, as floats."""
    device = next(unet.parameters()).device
    records = []
    for x, y in itertools.islice(batches, steps):
        total, parts = loss_against(unet, model, x.to(device), y.to(device).float(), loss)
        step(total)
        records.append({name: value.item() for name, value in parts.items()})
    return records


def fit_unet(
    detector: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    *,
    eps: float = 8 / 255,
    steps: int = FIT_STEPS,
    lr: float = FIT_LR,
    platform: nn.Module | None = None,
    loss: AttackerLoss | None = None,
    base_channels: int = 16,
    depth: int = 3,
    seed: int = 0,
) -> tuple[UNetAttacker, dict[str, float]]:
    """A fresh label-conditioned U-Net, trained for `steps` Adam updates (cosine-decayed from
    `lr`) against the frozen `detector`, through `platform` when given, cycling over `batches`.

    Returns the attacker in eval mode and a summary: `steps`, `seconds`, and over the last tenth
    of the updates the attacked batches' `success` (share the detector gets wrong) and `bce`,
    plus the final perturbations' `freq_low|mid|high`. Seeded by `seed` (initialisation and any
    random platform) without touching the caller's generators.
    """
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    device = next(detector.parameters(), torch.empty(0)).device
    forked = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked):
        torch.manual_seed(seed)
        unet = UNetAttacker(eps, base_channels, depth, conditioned=True).to(device)
        optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        model = through(detector, platform)
        cycled = _cycle(batches)
        start = time.perf_counter()
        records = train_attacker(
            unet, model, cycled, steps, loss or AttackerLoss(), _adam_step(optimizer, schedule)
        )
        seconds = time.perf_counter() - start
        unet.eval()
        x, y = next(cycled)
        with torch.no_grad():
            profile = frequency_profile(unet(x.to(device), y.to(device).float()))
    tail = records[-max(1, steps // 10) :]
    summary = {"steps": steps, "seconds": seconds}
    summary |= {k: sum(r[k] for r in tail) / len(tail) for k in ("success", "bce")}
    return unet, summary | {f"freq_{band}": share for band, share in profile.items()}


def _adam_step(
    optimizer: torch.optim.Optimizer, schedule: torch.optim.lr_scheduler.LRScheduler
) -> Callable[[Tensor], None]:
    def step(loss: Tensor) -> None:
        optimizer.zero_grad()
        if torch.isfinite(loss):  # a non-finite batch is skipped, not applied
            loss.backward()
            optimizer.step()
        schedule.step()

    return step


def _cycle(batches: Iterable[tuple[Tensor, Tensor]]) -> Iterator[tuple[Tensor, Tensor]]:
    """The batches over and over (the first pass kept, as itertools.cycle does)."""
    cycled = itertools.cycle(batches)
    first = next(cycled, None)
    if first is None:
        raise ValueError("fit_unet needs at least one batch")
    return itertools.chain([first], cycled)
