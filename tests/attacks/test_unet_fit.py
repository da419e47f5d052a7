"""fit_unet: a fresh U-Net fitted to a frozen detector (evaluate.py's attacker=train) attacks
it, through a platform when given, and leaves the detector as it was."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from fakeguard.attacks.unet import UNetAttacker
from fakeguard.attacks.unet_fit import AttackerLoss, fit_unet, train_attacker

EPS = 8 / 255
SMALL = {"base_channels": 8, "depth": 2}

pytestmark = pytest.mark.usefixtures("one_thread")


class SureBrightness(nn.Module):
    """A confident detector: logit = 1000 * (mean pixel - 0.5), +-10 on the data below, so the
    old -BCE loss has almost no gradient on any sample. An eps of 8/255 can flip every one."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(1000.0))  # one parameter, to watch it stay put

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * (x.mean(dim=(1, 2, 3)) - 0.5)


def batches(count: int = 4, fakes: float = 0.51) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Textures whose mean is `fakes` (fake) or 1 - `fakes` (real), 8 of each per batch."""
    generator = torch.Generator().manual_seed(0)
    out = []
    for _ in range(count):
        y = torch.arange(16).remainder(2).float()
        noise = torch.rand(16, 3, 16, 16, generator=generator) * 0.2 - 0.1
        noise -= noise.mean(dim=(1, 2, 3), keepdim=True)
        mean = 1 - fakes + (2 * fakes - 1) * y.view(-1, 1, 1, 1)
        out.append((mean + noise, y))
    return out


def accuracy(detector: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return ((detector(x) > 0).float() == y).float().mean().item()


def test_a_fitted_unet_fools_a_confident_detector_where_the_old_schedule_did_not():
    detector, data = SureBrightness(), batches()
    x, y = torch.cat([b[0] for b in data]), torch.cat([b[1] for b in data])
    assert accuracy(detector, x, y) == 1.0
    unet, summary = fit_unet(detector, data, eps=EPS, steps=100, **SMALL)
    with torch.no_grad():
        assert accuracy(detector, unet.perturb(x, y), y) < 0.1  # far below chance
    assert summary["success"] > 0.8 and summary["steps"] == 100
    # The old schedule: unconditioned, -BCE, Adam at 1e-3, the same number of updates.
    torch.manual_seed(0)
    old = UNetAttacker(EPS, **SMALL)
    optimizer = torch.optim.Adam(old.parameters(), lr=1e-3)
    train_attacker(old, detector, itertools.cycle(data), 100, AttackerLoss("bce"), step(optimizer))
    with torch.no_grad():
        assert accuracy(detector, old.perturb(x), y) > 0.9


def step(optimizer: torch.optim.Optimizer):
    def apply(loss: torch.Tensor) -> None:
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return apply


class Negative(nn.Module):
    """A platform that inverts the image: the attack that fools the detector behind it is the
    opposite of the one that fools the bare detector. Counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return 1 - x


def test_fitting_through_a_platform_attacks_what_the_platform_delivers():
    detector, platform = SureBrightness(), Negative()
    data = batches(fakes=0.49)  # darker fakes, which the platform makes brighter
    x, y = torch.cat([b[0] for b in data]), torch.cat([b[1] for b in data])
    assert accuracy(detector, 1 - x, y) == 1.0  # right behind the platform
    unet, _ = fit_unet(detector, data, eps=EPS, steps=100, platform=platform, **SMALL)
    assert platform.calls == 100
    with torch.no_grad():
        x_adv = unet.perturb(x, y)
    assert accuracy(detector, 1 - x_adv, y) < 0.1  # fooled behind the platform
    assert accuracy(detector, x_adv, y) > 0.9  # the bare detector: pushed the other way


def test_the_detector_is_left_as_it_was_and_the_attacker_comes_back_ready():
    detector = SureBrightness().train()
    before = torch.get_rng_state()
    unet, summary = fit_unet(detector, batches(1), eps=4 / 255, steps=3, seed=5, **SMALL)
    assert torch.equal(torch.get_rng_state(), before)  # the caller's draws are not shifted
    assert detector.training and detector.scale.requires_grad and detector.scale.grad is None
    assert detector.scale.item() == 1000.0
    assert not unet.training and unet.conditioned and unet.eps == 4 / 255
    assert set(summary) == {
        "steps",
        "seconds",
        "success",
        "bce",
        "freq_low",
        "freq_mid",
        "freq_high",
    }
    again, _ = fit_unet(detector, batches(1), eps=4 / 255, steps=3, seed=5, **SMALL)
    assert all(
        torch.equal(a, b) for a, b in zip(unet.parameters(), again.parameters(), strict=True)
    )


@pytest.mark.parametrize("steps, data", [(0, batches(1)), (2.5, batches(1)), (3, [])])
def test_a_budget_without_steps_or_batches_is_refused(steps, data):
    with pytest.raises(ValueError, match="steps|batch"):
        fit_unet(SureBrightness(), data, steps=steps, **SMALL)
