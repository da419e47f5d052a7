"""The detection loss: BCE on one logit, optionally class-balanced or fake-weighted; TRADES's
KL between the clean and the adversarial P(fake)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fakeguard.training.losses import bernoulli_kl, detection_loss


def test_plain_loss_is_bce_with_logits():
    logits, labels = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 0.0])
    expected = F.binary_cross_entropy_with_logits(logits, labels)
    assert torch.allclose(detection_loss(logits, labels), expected)


def test_balanced_loss_weighs_the_two_classes_equally_whatever_the_mix():
    logits = torch.tensor([3.0, 3.0, 3.0, -3.0])  # three confident fakes, one wrong real
    labels = torch.tensor([1.0, 1.0, 1.0, 0.0])
    per = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    balanced = detection_loss(logits, labels, balanced=True)
    assert torch.allclose(balanced, (per[:3].mean() + per[3]) / 2)
    assert balanced < detection_loss(logits, labels)  # the lone real counts for half


def test_balanced_loss_with_one_class_in_the_batch():
    logits, labels = torch.tensor([1.0, 2.0]), torch.ones(2)
    assert torch.allclose(
        detection_loss(logits, labels, balanced=True), detection_loss(logits, labels)
    )


def test_pos_weight_scales_the_fake_term():
    logits, labels = torch.tensor([0.0]), torch.tensor([1.0])
    assert torch.allclose(
        detection_loss(logits, labels, pos_weight=3.0), 3 * detection_loss(logits, labels)
    )


def test_trades_kl_is_zero_when_clean_and_adversarial_predictions_agree():
    logits = torch.tensor([-3.0, 0.0, 2.5])
    assert bernoulli_kl(logits, logits.clone()).item() == pytest.approx(0.0, abs=1e-7)


def test_trades_kl_matches_a_hand_computation():
    p, q = 0.8, 0.4  # P(fake) on the clean and on the adversarial crop
    expected = p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))
    logit = lambda v: math.log(v / (1 - v))  # noqa: E731
    kl = bernoulli_kl(torch.tensor([logit(p)]), torch.tensor([logit(q)]))
    assert kl.item() == pytest.approx(expected, rel=1e-5)
    # KL is asymmetric, positive, and the batch mean of the per-sample values
    both = bernoulli_kl(torch.tensor([logit(p), 0.0]), torch.tensor([logit(q), 0.0]))
    assert both.item() == pytest.approx(expected / 2, rel=1e-5)


def test_trades_kl_stays_finite_for_confident_predictions_and_trains_both_sides():
    clean = torch.tensor([40.0, -40.0], requires_grad=True)
    adv = torch.tensor([-40.0, 40.0], requires_grad=True)
    kl = bernoulli_kl(clean, adv)  # each sample: log(1 / sigmoid(-40)) = 40
    kl.backward()
    assert torch.isfinite(kl) and kl.item() == pytest.approx(40.0, rel=1e-4)
    assert clean.grad is not None and adv.grad is not None
    assert torch.isfinite(clean.grad).all() and torch.isfinite(adv.grad).all()
