"""`square`: ART's Square Attack as a black-box evaluation attack. The exact budget, a real
attack on what PGD breaks, every sample attacked for the whole budget (unlike ART's default),
the query budget as the work, `square@4`, the model's flags and numpy's seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import MeanBrightness, random_batch, two_conv_net
from sklearn.metrics import roc_auc_score
from torch import nn

from fakeguard.attacks.pgd import PGD
from fakeguard.attacks.registry import pinned_attack, variant
from fakeguard.attacks.restarts import per_sample_loss
from fakeguard.attacks.square import Square, _Oracle

EPS = 8 / 255


def near_boundary(offsets: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose `MeanBrightness` logit sits `offset` (in mean pixel) on the label's side."""
    x, y = random_batch(len(offsets), 8)
    offset = torch.tensor(offsets) * (2 * y - 1)
    x = (x - x.mean(dim=(1, 2, 3), keepdim=True)) * 0.2 + 0.5 + offset.view(-1, 1, 1, 1)
    return x, y


class Counting(nn.Module):
    """A detector that counts the images it scores."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.images = model, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.images += len(x)
        return self.model(x)


@pytest.mark.parametrize("name", ["square", "square@4", "square@0.5"])
def test_the_budget_is_exact_and_pixels_stay_in_range(name):
    model, (x, y) = two_conv_net(flags=True), random_batch(8)
    x[:2] = 0.0  # on the box's edges the ball is clipped
    x[2:4] = 1.0
    x[4] = torch.rand(3, 16, 16) * 3 / 255  # within eps of 0
    np.random.seed(0)
    attack = pinned_attack(name, {"square": {"queries": 30}})
    x_adv = attack(model, x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert (x_adv - x).abs().max().item() <= attack.eps  # in floating point, not up to rounding
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv != x).any()


def test_it_breaks_what_pgd_breaks_without_gradients():
    # MeanBrightness: samples 0.01 from the boundary, which eps = 0.031 crosses. PGD flips
    # them all; Square, from scores alone, too, and it never returns a lower loss than clean.
    model = MeanBrightness()
    x, y = near_boundary([0.01] * 6)
    torch.manual_seed(0)
    pgd = PGD(EPS, EPS / 4, 10)(model, x, y)
    np.random.seed(0)
    square = Square(EPS, queries=100)(model, x, y)
    for x_adv in (pgd, square):
        assert ((model(x_adv) > 0).float() != y).all()
    clean = per_sample_loss(model, x, y)
    assert (per_sample_loss(model, square, y) > clean).all()


class Centred(nn.Module):
    """`conv_net` shifted and scaled so its logits on a batch have median 0 and spread 1: a
    toy whose decisions eps = 8/255 can flip."""

    def __init__(self, x: torch.Tensor) -> None:
        super().__init__()
        self.net = two_conv_net(flags=True)
        with torch.no_grad():
            z = self.net(x)
        self.shift, self.scale = z.median().item(), 1 / z.std().item()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.net(x) - self.shift) * self.scale


def test_it_lowers_the_auc_of_a_conv_net_that_pgd_breaks():
    x, _ = random_batch(16, seed=4)
    model = Centred(x).eval()
    with torch.no_grad():
        y = (model(x) > 0).float()  # its own decisions: clean AUC 1

    def auc(x_adv: torch.Tensor) -> float:
        with torch.no_grad():
            return roc_auc_score(y.numpy(), model(x_adv).numpy())

    torch.manual_seed(0)
    np.random.seed(0)
    x_adv = Square(EPS, queries=200)(model, x, y)
    assert auc(x) == 1 and auc(PGD(EPS, EPS / 4, 10)(model, x, y)) < 0.1
    assert auc(x_adv) < 0.25
    assert (per_sample_loss(model, x_adv, y) > per_sample_loss(model, x, y)).all()


def _art_default(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """ART's SquareAttack with its own criterion: it stops where the decision flips."""
    from art.attacks.evasion import SquareAttack
    from art.estimators.classification import PyTorchClassifier

    from fakeguard.attacks.apgd import TwoLogits

    classifier = PyTorchClassifier(
        TwoLogits(model), nn.CrossEntropyLoss(), (3, 8, 8), 2, clip_values=(0.0, 1.0)
    )
    attack = SquareAttack(classifier, eps=EPS, max_iter=100, batch_size=len(x), verbose=False)
    return torch.from_numpy(attack.generate(x.numpy(), y.long().numpy()))


def test_every_sample_gets_the_whole_budget_unlike_arts_default():
    # Samples 0-1 are misclassified already (0.05 on the wrong side), 2-3 sit 0.01 from the
    # boundary, 4-5 are 0.2 from it (eps cannot flip them). ART's default returns 0-1 clean and
    # stops 2-3 just across; ours pushes every sample as far as it gets, like PGD.
    model = MeanBrightness()
    x, y = near_boundary([-0.05, -0.05, 0.01, 0.01, 0.2, 0.2])
    np.random.seed(0)
    art = _art_default(model, x, y)
    np.random.seed(0)
    ours = Square(EPS, queries=100)(model, x, y)
    clean = per_sample_loss(model, x, y)
    assert torch.equal(art[:2], x[:2])
    theirs, mine = per_sample_loss(model, art, y), per_sample_loss(model, ours, y)
    assert (mine[:4] > theirs[:4]).all() and (mine[:4] > clean[:4]).all()
    assert (theirs[4:] > clean[4:]).all() and (mine[4:] > clean[4:]).all()  # best iterate


def test_queries_are_the_work_per_image():
    model, (x, y) = Counting(two_conv_net(flags=True)), random_batch(4)
    for queries in (10, 40):
        model.images = 0
        np.random.seed(0)
        pinned_attack("square", {"square": {"queries": queries}})(model, x, y)
        # clean + first stripes + one proposal per iteration (none where it changes nothing)
        assert len(x) * queries // 2 < model.images <= len(x) * (queries + 2)
    assert pinned_attack("square").queries == 1000
    assert "40 queries per image" in variant("square").description({"square": {"queries": 40}})


def test_the_oracle_scores_each_distinct_image_once():
    model, (x, _) = Counting(two_conv_net(flags=True)), random_batch(4)
    oracle = _Oracle(model, x)
    first = oracle(x)
    moved = x.clone()
    moved[1] += 0.01
    second = oracle(moved)
    assert model.images == 5 and oracle.images == 5
    assert torch.equal(second[[0, 2, 3]], first[[0, 2, 3]])
    assert torch.equal(first[:, 0], torch.zeros(4)) and torch.equal(first[:, 1], model(x))
    assert list(oracle.parameters()) == []  # ART's .to(device) cannot reach the detector


def test_square_at_4_changes_only_eps():
    at4, pinned = pinned_attack("square@4"), pinned_attack("square")
    assert (at4.eps, at4.queries) == (4 / 255, 1000) and pinned.eps == EPS
    assert variant("square@8").name == "square" and variant("square@4").name == "square@4"
    assert "L-inf 4/255" in variant("square@4").description()
    assert not variant("square@4").spec.white_box


def test_it_follows_numpys_seed_and_restores_the_model():
    model, (x, y) = two_conv_net(flags=True), random_batch(4)
    model.train()  # BatchNorm would fold every query into its statistics, Dropout add noise
    model[0].eval()  # a submodule kept in eval on purpose
    stats = model[1].running_mean.clone()
    runs = []
    for seed in (7, 7, 8):
        np.random.seed(seed)
        torch.manual_seed(0)
        with torch.inference_mode():  # as in Lightning's validation loop
            runs.append(Square(EPS, queries=20)(model, x, y))
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])
    assert model.training and not model[0].training and model[1].training
    assert torch.equal(model[1].running_mean, stats)
    assert all(p.grad is None for p in model.parameters())


def test_bad_settings_and_an_empty_random_batch():
    with pytest.raises(ValueError, match="queries"):
        Square(EPS, queries=0)
    with pytest.raises(ValueError, match="eps"):
        Square(0.0)
    x = torch.zeros(0, 3, 16, 16)
    assert Square()(two_conv_net(flags=True), x, torch.zeros(0)).shape == x.shape
