"""Worst of restarts, and `pgd-strong` built on it."""

from __future__ import annotations

import pytest
import torch
from helpers import MeanBrightness, tiny_conv_net

from fakeguard.attacks.pgd import PGD_8_255
from fakeguard.attacks.registry import get
from fakeguard.attacks.restarts import WorstOfRestarts, per_sample_loss


def test_restarts_keep_each_samples_worst_case():
    model = MeanBrightness()
    x = torch.full((2, 3, 4, 4), 0.5)
    y = torch.tensor([1.0, 1.0])  # fake: darker is worse for the detector
    runs = iter([torch.tensor([-0.02, 0.03]), torch.tensor([0.01, -0.01]), torch.tensor([0, 0.0])])

    def scripted(model, x, y):  # restart k shifts each sample's brightness by its own amount
        return x + next(runs).view(-1, 1, 1, 1)

    worst = WorstOfRestarts(scripted, restarts=3)(model, x, y)
    assert worst[:, 0, 0, 0].tolist() == pytest.approx([0.48, 0.49])


def test_pgd_strong_is_fifty_steps_from_five_starts_and_never_helps_the_detector():
    strong = get("pgd-strong").factory()
    assert strong.restarts == 5 and strong.attack.steps == 50 and strong.attack.random_start
    assert strong.attack.eps == PGD_8_255["eps"]
    assert strong.attack.step_size == PGD_8_255["step_size"]
    model = tiny_conv_net()
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 8, 8, generator=generator) * 0.8 + 0.1
    y = torch.tensor([0.0, 1.0])
    x_adv = strong(model, x, y)
    eps = PGD_8_255["eps"]
    assert (x_adv - x).abs().max() <= eps and x_adv.min() >= 0 and x_adv.max() <= 1
    assert (per_sample_loss(model, x_adv, y) >= per_sample_loss(model, x, y)).all()
