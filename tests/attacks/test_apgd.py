"""APGD-CE through ART, on two logits; why the DLR attacks cannot run on a binary detector."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import MeanBrightness, tiny_conv_net
from torch import nn

from fakeguard.attacks.apgd import APGDCE, TwoLogits
from fakeguard.attacks.pgd import PGD_8_255
from fakeguard.attacks.restarts import per_sample_loss

EPS = PGD_8_255["eps"]


def batch(n: int = 6, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(n, 3, size, size, generator=generator) * 0.8 + 0.1
    return x, torch.tensor([i % 2 for i in range(n)], dtype=torch.float32)


def test_two_logits_cross_entropy_is_the_detectors_bce():
    model, (x, y) = tiny_conv_net(), batch()
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
        model=TwoLogits(tiny_conv_net()),
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
