"""APGD-CE (our torch port of Croce & Hein 2020): the highest-loss iterate for every sample,
the exact budget, as strong as PGD and ART's APGD; why DLR cannot run on a binary detector."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import MeanBrightness, random_batch, tiny_conv_net, two_conv_net
from torch import nn

from fakeguard.attacks.apgd import APGD, TwoLogits, apgd_ce, checkpoints
from fakeguard.attacks.pgd import PGD, PGD_8_255
from fakeguard.attacks.restarts import WorstOfRestarts, per_sample_loss

EPS = PGD_8_255["eps"]


class Centred(nn.Module):
    """`two_conv_net` shifted and scaled so its logits on a batch have median 0 and spread 1: a
    toy whose decisions small budgets can flip."""

    def __init__(self, x: torch.Tensor) -> None:
        super().__init__()
        self.net = two_conv_net()
        with torch.no_grad():
            z = self.net(x)
        self.shift, self.scale = z.median().item(), 1 / z.std().item()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.net(x) - self.shift) * self.scale


def toy(n: int = 24) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """`Centred` on a batch, labelled with its own clean decisions (clean accuracy 1)."""
    x, _ = random_batch(n, seed=4)
    model = Centred(x).eval()
    with torch.no_grad():
        return model, x, (model(x) > 0).float()


def test_two_logits_cross_entropy_is_the_detectors_bce():
    model, (x, y) = tiny_conv_net(), random_batch()
    ce = F.cross_entropy(TwoLogits(model)(x), y.long())
    assert ce.item() == pytest.approx(F.binary_cross_entropy_with_logits(model(x), y).item())


def test_checkpoints_follow_the_paper():
    # p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (steps shrink by 0.03, >= 0.06)
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(1) == [] and all(0 < w < 10 for w in checkpoints(10))


@pytest.mark.parametrize("eps", [EPS, 4 / 255, 0.5 / 255])
def test_the_budget_is_exact_and_pixels_stay_in_range(eps):
    model, (x, y) = two_conv_net(), random_batch(8)
    x[:2] = 0.0  # on the box's edges the ball is clipped
    x[2:4] = 1.0
    x[4] = torch.rand(3, 16, 16) * 3 / 255  # within eps of 0
    torch.manual_seed(0)
    x_adv = APGD(eps, iterations=20)(model, x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert (x_adv - x).abs().max().item() <= eps  # in floating point, not up to rounding
    assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_every_sample_gets_its_highest_loss_also_where_it_cannot_flip():
    # A linear detector: moving every pixel by eps against the label's side is the strongest
    # attack. Samples 0-3 sit 0.01 from the boundary (eps = 0.031 flips them), 4-5 sit 0.2
    # away (it cannot). Unlike ART's (AutoAttack's semantics), which return the random start
    # where the decision does not flip, every sample gets the worst case the budget allows.
    model = MeanBrightness()
    x, y = random_batch(6, 8)
    offset = torch.tensor([0.01, 0.01, 0.01, 0.01, 0.2, 0.2]) * (2 * y - 1)
    x = (x - x.mean(dim=(1, 2, 3), keepdim=True)) * 0.2 + 0.5 + offset.view(-1, 1, 1, 1)
    torch.manual_seed(0)
    x_adv = apgd_ce()(model, x, y)
    wrong = (model(x_adv) > 0).float() != y
    assert wrong.tolist() == [True] * 4 + [False] * 2
    worst = (x - EPS * (2 * y - 1).view(-1, 1, 1, 1)).clamp(0, 1)
    torch.testing.assert_close(model(x_adv), model(worst), atol=1e-3, rtol=0)


def test_more_iterations_never_lower_the_loss_it_returns():
    # Same seed, same random start and first step: the best iterate of 50 includes that of 1.
    model, (x, y) = two_conv_net(), random_batch(8)
    losses = []
    for iterations in (1, 50):
        torch.manual_seed(0)
        losses.append(per_sample_loss(model, APGD(EPS, iterations)(model, x, y), y))
    assert (losses[1] >= losses[0]).all()
    assert (losses[0] > per_sample_loss(model, x, y)).all()


@pytest.mark.parametrize("eps_255ths", [2, 8])
def test_it_reaches_at_least_pgd_10s_loss_on_most_samples(eps_255ths):
    model, x, y = toy()
    eps = eps_255ths / 255
    torch.manual_seed(0)
    pgd = per_sample_loss(model, PGD(eps, eps / 4, 10)(model, x, y), y)
    torch.manual_seed(0)
    apgd = per_sample_loss(model, apgd_ce(eps)(model, x, y), y)
    assert (apgd >= pgd - 1e-4).float().mean() >= 0.9
    assert apgd.mean() >= pgd.mean()


def test_it_is_deterministic_under_a_seed_and_restores_the_model():
    model, (x, y) = two_conv_net(), random_batch(4)
    model.train()
    model[0].eval()  # a submodule kept in eval on purpose (a frozen BatchNorm, say)
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        with torch.inference_mode():  # as in Lightning's validation loop
            runs.append(apgd_ce(iterations=10)(model, x, y))
    assert torch.equal(runs[0], runs[1])
    assert model.training and not model[0].training
    assert all(p.grad is None for p in model.parameters())


def test_restarts_are_the_worst_case_of_several_runs():
    attack = apgd_ce(4 / 255, iterations=10, restarts=3)
    assert isinstance(attack, WorstOfRestarts) and attack.restarts == 3
    assert attack.attack.eps == 4 / 255 and attack.attack.iterations == 10
    assert isinstance(apgd_ce(), APGD)


def _art_apgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    from art.attacks.evasion import AutoProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    classifier = PyTorchClassifier(
        model=TwoLogits(model),
        loss=nn.CrossEntropyLoss(),
        input_shape=tuple(x.shape[1:]),
        nb_classes=2,
        clip_values=(0.0, 1.0),
        device_type="cpu",
    )
    attack = AutoProjectedGradientDescent(
        classifier,
        norm=np.inf,
        eps=eps,
        eps_step=2 * eps,
        max_iter=100,
        nb_random_init=1,
        batch_size=len(x),
        loss_type="cross_entropy",
        verbose=False,
    )
    return torch.from_numpy(attack.generate(x.numpy(), y.long().numpy()))


@pytest.mark.parametrize("eps_255ths", [0.5, 1, 2])
def test_robust_accuracy_is_no_better_than_arts_apgd(eps_255ths):
    """ART's APGD (AutoAttack's semantics: it keeps what flips) as the cross-check: on a toy
    whose decisions these budgets flip in part, ours leaves at most one sample more correctly
    classified (the random starts differ)."""
    model, x, y = toy()
    eps = eps_255ths / 255
    np.random.seed(0)
    theirs = _art_apgd(model, x, y, eps)
    torch.manual_seed(0)
    ours = apgd_ce(eps)(model, x, y)
    assert (ours - x).abs().max().item() <= eps
    with torch.no_grad():
        acc_ours = ((model(ours) > 0).float() == y).float().mean().item()
        acc_art = ((model(theirs) > 0).float() == y).float().mean().item()
    assert 0 < acc_art < 1  # the toy discriminates
    assert acc_ours <= acc_art + 1 / len(y)


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
    x, y = random_batch()
    with pytest.raises(IndexError):  # DLR reads the third-largest logit
        attack.generate(x.numpy(), y.long().numpy())
