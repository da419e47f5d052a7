"""The detection loss: BCE on one logit, optionally class-balanced or fake-weighted."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fakeguard.training.losses import detection_loss


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
