"""Evaluation attacks: worst-of-restarts, APGD-CE through ART, U-Net attackers from checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fakeguard.attacks.unet import UNetAttacker
from fakeguard.evaluation.attacks import (
    APGDCE,
    EPS,
    TwoLogits,
    WorstOfRestarts,
    load_attacker,
    per_sample_loss,
    pinned_attack,
)
from fakeguard.training.module import ATTACKER_SPEC_KEY


class MeanBrightness(nn.Module):
    """logit = 20 * (mean pixel - 0.5): darker images look real, brighter ones fake."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 20 * (x.mean(dim=(1, 2, 3)) - 0.5)


def tiny_detector() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 1),
        nn.Flatten(0),
    ).eval()


def batch(n: int = 6, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(n, 3, size, size, generator=generator) * 0.8 + 0.1
    return x, torch.tensor([i % 2 for i in range(n)], dtype=torch.float32)


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
    strong = pinned_attack("pgd-strong")
    assert strong.restarts == 5 and strong.attack.steps == 50 and strong.attack.random_start
    model, (x, y) = tiny_detector(), batch(2, 8)
    x_adv = strong(model, x, y)
    assert (x_adv - x).abs().max() <= EPS and x_adv.min() >= 0 and x_adv.max() <= 1
    assert (per_sample_loss(model, x_adv, y) >= per_sample_loss(model, x, y)).all()


def test_two_logits_cross_entropy_is_the_detectors_bce():
    model, (x, y) = tiny_detector(), batch()
    ce = F.cross_entropy(TwoLogits(model)(x), y.long())
    assert ce.item() == pytest.approx(F.binary_cross_entropy_with_logits(model(x), y).item())


def test_apgd_ce_flips_what_the_budget_can_flip_and_stays_in_it():
    # A linear detector: moving every pixel by eps against the label's side is the strongest
    # attack. Samples 0-3 sit 0.01 from the boundary (eps = 0.031 flips them), 4-5 sit 0.2
    # away (it cannot). ART's APGD (AutoAttack's semantics) returns an adversarial image only
    # where it flips the decision, else its random start: the report says so.
    model = MeanBrightness()
    x, y = batch(6, 8)
    offset = torch.tensor([0.01, 0.01, 0.01, 0.01, 0.2, 0.2]) * (2 * y - 1)
    x = (x - x.mean(dim=(1, 2, 3), keepdim=True)) * 0.2 + 0.5 + offset.view(-1, 1, 1, 1)
    np.random.seed(0)
    x_adv = APGDCE()(model, x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert (x_adv - x).abs().max() <= EPS + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    wrong = (model(x_adv) > 0).float() != y
    assert wrong.tolist() == [True] * 4 + [False] * 2
    assert (per_sample_loss(model, x_adv, y)[:4] > per_sample_loss(model, x, y)[:4]).all()


def test_dlr_needs_three_classes_which_is_why_only_apgd_ce_runs():
    from art.attacks.evasion import AutoProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    classifier = PyTorchClassifier(
        model=TwoLogits(tiny_detector()),
        loss=nn.CrossEntropyLoss(),
        input_shape=(3, 16, 16),
        nb_classes=2,
        clip_values=(0.0, 1.0),
    )
    attack = AutoProjectedGradientDescent(
        classifier, eps=EPS, loss_type="difference_logits_ratio", verbose=False
    )
    x, y = batch()
    with pytest.raises(IndexError):  # DLR reads the third-largest logit
        attack.generate(x.numpy(), y.long().numpy())


def test_the_u_net_attacker_loads_from_a_training_checkpoint(tmp_path):
    unet = UNetAttacker(eps=4 / 255, base_channels=4, depth=2)
    state = {f"adversary.unet.{k}": v for k, v in unet.state_dict().items()}
    state["net.head.weight"] = torch.zeros(1)
    path = tmp_path / "adv.ckpt"
    torch.save({ATTACKER_SPEC_KEY: unet.spec, "state_dict": state}, path)
    loaded = load_attacker(path)
    x, _ = batch(2)
    torch.testing.assert_close(loaded(x), unet.eval()(x))
    torch.save({"state_dict": {"net.head.weight": torch.zeros(1)}}, tmp_path / "clean.ckpt")
    assert load_attacker(tmp_path / "clean.ckpt") is None
