"""The U-Net attacker: bounded, per-image perturbations and a loss that fools a fixed detector."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import FLOAT32_NOISE
from torch import nn

from fakeguard.attacks.unet import (
    OBJECTIVES,
    UNetAttack,
    UNetAttacker,
    attacker_loss,
    fooling_term,
    frequency_profile,
    low_frequency_share,
    success_rate,
    total_variation,
)

EPS = 8 / 255

pytestmark = pytest.mark.usefixtures("one_thread")


def small_attacker(**kwargs) -> UNetAttacker:
    torch.manual_seed(0)
    return UNetAttacker(**{"eps": EPS, "base_channels": 4, "depth": 2, **kwargs})


def checkerboard(h: int, w: int, amplitude: float = 1.0) -> torch.Tensor:
    """(1, 3, H, W) pattern alternating +-amplitude: all its energy sits at Nyquist."""
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    board = ((yy + xx) % 2 * 2 - 1).float() * amplitude
    return board.expand(1, 3, h, w).clone()


def sinusoid(size: int, cycles: int) -> torch.Tensor:
    """(1, 3, size, size) vertical cosine with `cycles` periods across the image."""
    x = torch.arange(size).float()
    wave = torch.cos(2 * math.pi * cycles * x / size)
    return wave.expand(1, 3, size, size).clone()


@pytest.mark.parametrize("bias", [1e4, -1e4])
def test_delta_stays_strictly_within_eps_even_when_saturated(bias):
    attacker = small_attacker()
    with torch.no_grad():
        attacker.head.bias.fill_(bias)
        x = torch.rand(2, 3, 16, 16)
        x[0, :, :4] = 0.0
        x[1, :, :4] = 1.0
        delta = attacker(x)
        x_adv = attacker.perturb(x)
    assert delta.abs().max() > 0.99 * EPS  # really saturated
    assert (delta.abs() < EPS).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1


@pytest.mark.parametrize("size", [(64, 64), (33, 47), (20, 20), (5, 3)])
def test_delta_has_the_input_shape_at_any_image_size(size):
    attacker = small_attacker(depth=3)
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        assert attacker(x).shape == x.shape
        assert attacker.perturb(x).shape == x.shape


def test_untrained_attacker_starts_small_but_nonzero():
    with torch.no_grad():
        delta = small_attacker()(torch.rand(2, 3, 16, 16))
    assert 0 < delta.abs().max() < 0.2 * EPS


def test_perturbation_of_one_image_does_not_depend_on_the_batch():
    attacker = small_attacker().train()  # train mode: a BatchNorm would use batch statistics
    nn.init.normal_(attacker.head.weight, std=1.0)  # make deltas large enough to compare
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        alone = attacker(x)
        with_dark = attacker(torch.cat([x, torch.zeros(3, 3, 24, 24)]))[:1]
        with_bright = attacker(torch.cat([x, torch.ones(3, 3, 24, 24)]))[:1]
    assert alone.abs().max() > 0.1 * EPS
    torch.testing.assert_close(with_dark, alone, atol=1e-6, rtol=0)
    torch.testing.assert_close(with_bright, alone, atol=1e-6, rtol=0)


def test_total_variation_is_zero_on_a_constant_and_highest_on_a_checkerboard():
    constant = torch.full((1, 3, 16, 16), 0.3)
    ramp = torch.linspace(0, 1, 16).expand(1, 3, 16, 16)
    board = checkerboard(16, 16, amplitude=0.5)
    assert total_variation(constant) == 0
    tv_ramp, tv_board = total_variation(ramp), total_variation(board)
    assert tv_board == pytest.approx(2.0)  # |+-0.5 step| = 1 in each of the two directions
    assert tv_ramp == pytest.approx(1 / 15)  # horizontal steps of 1/15, no vertical change
    assert tv_board > 10 * tv_ramp


def test_total_variation_does_not_scale_with_image_size():
    small, large = checkerboard(8, 8), checkerboard(64, 64)
    assert total_variation(small) == pytest.approx(total_variation(large).item())
    assert total_variation(small).ndim == 0


def test_low_frequency_share_is_one_for_a_constant_offset_and_zero_for_a_checkerboard():
    offset = torch.full((2, 3, 32, 32), 0.01)
    assert low_frequency_share(offset) == pytest.approx(1.0, abs=1e-6)
    assert low_frequency_share(checkerboard(32, 32)) == pytest.approx(0.0, abs=1e-6)


def test_low_frequency_radius_is_a_fraction_of_nyquist():
    # cutoff = radius * 0.5 cycles/pixel; a 50-pixel wave with k cycles sits at k/50.
    share = low_frequency_share
    assert share(sinusoid(50, 2), radius=0.1) == pytest.approx(1.0, abs=1e-5)  # 0.04 <= 0.05
    assert share(sinusoid(50, 4), radius=0.1) == pytest.approx(0.0, abs=1e-5)  # 0.08 > 0.05
    assert share(sinusoid(50, 12), radius=0.5) == pytest.approx(1.0, abs=1e-5)  # 0.24 <= 0.25
    assert share(sinusoid(50, 12), radius=0.4) == pytest.approx(0.0, abs=1e-5)  # 0.24 > 0.2


def test_low_frequency_share_averages_over_the_batch():
    batch = torch.cat([torch.full((1, 3, 32, 32), 0.01), checkerboard(32, 32)])
    assert low_frequency_share(batch) == pytest.approx(0.5, abs=1e-6)


def test_zero_delta_has_zero_low_frequency_share_not_nan():
    share = low_frequency_share(torch.zeros(2, 3, 16, 16))
    assert torch.isfinite(share) and share == 0


def test_low_frequency_share_works_under_bf16_autocast():
    delta = torch.rand(2, 3, 16, 16) - 0.5
    expected = low_frequency_share(delta)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = low_frequency_share(delta)
        got_bf16_input = low_frequency_share(delta.bfloat16())
    assert got.dtype == torch.float32
    assert got == pytest.approx(expected.item(), abs=1e-6)
    assert got_bf16_input == pytest.approx(expected.item(), abs=1e-2)


def test_attacker_loss_gradient_reaches_every_unet_parameter():
    attacker = small_attacker()
    detector = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 1)
    )
    x = torch.rand(4, 3, 16, 16)
    delta = attacker(x)
    logits = detector((x + delta).clamp(0, 1)).squeeze(-1)
    loss, parts = attacker_loss(logits, torch.ones(4), delta)
    loss.backward()
    for name, param in attacker.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert set(parts) == {"bce", "success", "tv", "lowfreq"}
    assert not any(p.requires_grad for p in parts.values())


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_attacker_loss_is_lower_when_the_detector_is_more_wrong(objective):
    delta = torch.rand(2, 3, 8, 8) * 0.01
    labels = torch.ones(2)  # fakes
    fooled, _ = attacker_loss(torch.full((2,), -3.0), labels, delta, objective=objective)
    caught, parts = attacker_loss(torch.full((2,), 3.0), labels, delta, objective=objective)
    assert fooled < caught
    bce = F.binary_cross_entropy_with_logits(torch.full((2,), 3.0), labels)
    fool = -bce if objective == "bce" else 3.0  # the fakes' signed logit
    expected = fool + 0.05 * total_variation(delta) + 0.1 * low_frequency_share(delta)
    assert caught == pytest.approx(expected.item())
    assert parts["bce"] == pytest.approx(bce.item()) and parts["success"] == 0


def test_the_margin_objective_pulls_confident_samples_as_hard_as_doubtful_ones():
    """Why the U-Net attacks now: -BCE's gradient vanishes on the samples a detector is sure
    of, which are nearly all of them for a trained one; the margin's does not, until a sample
    is fooled by `margin`."""
    logits = torch.tensor([12.0, 1.0, -4.0, -6.0], requires_grad=True)  # all fakes
    labels = torch.ones(4)
    grads = {}
    for objective in OBJECTIVES:
        (grad,) = torch.autograd.grad(fooling_term(logits, labels, objective, 5.0), logits)
        grads[objective] = grad
    assert grads["bce"][0].abs() < 1e-3 * grads["bce"][1].abs()  # the sure one: no pull
    assert grads["margin"][:3].tolist() == [0.25] * 3  # each sample the same pull
    assert grads["margin"][3] == 0  # fooled by more than the margin: left alone
    assert success_rate(logits, labels) == 0.5


def test_frequency_profile_puts_each_pattern_in_its_band():
    bands = frequency_profile(torch.cat([torch.full((1, 3, 32, 32), 0.01)] * 2))
    assert bands == pytest.approx({"low": 1.0, "mid": 0.0, "high": 0.0}, abs=1e-6)
    assert frequency_profile(checkerboard(32, 32))["high"] == pytest.approx(1.0, abs=1e-6)
    # 12 cycles over 64 px: 0.1875 cycles/px, 0.375 of Nyquist
    assert frequency_profile(sinusoid(64, 12))["mid"] == pytest.approx(1.0, abs=1e-5)
    mixed = frequency_profile(torch.cat([sinusoid(64, 2), checkerboard(64, 64)]))
    assert mixed == pytest.approx({"low": 0.5, "mid": 0.0, "high": 0.5}, abs=1e-5)


class MeanColourDetector(nn.Module):
    """A fixed linear detector on each image's mean colour, confident that the inputs are fake."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[30.0, -30.0, 15.0]]))
            self.linear.bias.fill_(2.0 - 7.5)  # logit ~ 2 at mean colour (0.5, 0.5, 0.5)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.mean(dim=(2, 3))).squeeze(-1)


def test_training_the_attacker_raises_the_detector_bce():
    attacker, detector = small_attacker(), MeanColourDetector()
    torch.manual_seed(1)
    x = 0.25 + 0.5 * torch.rand(8, 3, 16, 16)
    labels = torch.ones(8)

    def detector_bce() -> float:
        with torch.no_grad():
            return F.binary_cross_entropy_with_logits(detector(attacker.perturb(x)), labels).item()

    before = detector_bce()
    optimizer = torch.optim.Adam(attacker.parameters(), lr=0.1)
    for _ in range(20):
        delta = attacker(x)
        loss, _ = attacker_loss(detector((x + delta).clamp(0, 1)), labels, delta)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert detector_bce() > before + 0.3


def test_spec_rebuilds_an_identical_attacker(tmp_path: Path):
    attacker = small_attacker(eps=4 / 255)
    nn.init.normal_(attacker.head.weight)  # weights differ from any fresh init
    path = tmp_path / "attacker.pt"
    torch.save({"spec": attacker.spec, "state_dict": attacker.state_dict()}, path)
    saved = torch.load(path, weights_only=True)  # no pickle of the class needed
    torch.manual_seed(123)
    rebuilt = UNetAttacker(**saved["spec"])
    rebuilt.load_state_dict(saved["state_dict"])
    x = torch.rand(2, 3, 20, 20)
    with torch.no_grad():  # separate tensors: the kernels may round them differently
        torch.testing.assert_close(rebuilt(x), attacker(x), **FLOAT32_NOISE)
    assert saved["spec"] == {"eps": 4 / 255, "base_channels": 4, "depth": 2, "conditioned": False}


def test_a_spec_saved_before_conditioning_existed_rebuilds_its_attacker():
    old = small_attacker()
    spec = {k: v for k, v in old.spec.items() if k != "conditioned"}  # an older checkpoint's
    rebuilt = UNetAttacker(**spec)
    rebuilt.load_state_dict(old.state_dict())  # strict: the same 3-channel input layer
    assert not rebuilt.conditioned


def test_a_conditioned_attacker_perturbs_fakes_and_reals_differently_and_needs_the_labels():
    attacker = small_attacker(conditioned=True)
    nn.init.normal_(attacker.head.weight, std=1.0)
    x = torch.rand(1, 3, 16, 16).expand(2, -1, -1, -1)
    with torch.no_grad():
        delta = attacker(x, torch.tensor([0.0, 1.0]))
        assert (delta[0] - delta[1]).abs().max() > 0.1 * EPS  # same image, other label
        with pytest.raises(ValueError, match="pass y"):
            attacker(x)


@pytest.mark.parametrize(
    "kwargs",
    [{"eps": 0.0}, {"eps": -0.1}, {"eps": float("nan")}, {"base_channels": 0}, {"depth": 0}],
)
def test_invalid_constructor_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        UNetAttacker(**kwargs)


def test_as_an_evaluation_attack_it_perturbs_whatever_the_detector():
    torch.manual_seed(0)
    unet = UNetAttacker(base_channels=4, depth=2, conditioned=True).train()
    attack = UNetAttack(unet)
    x, y = torch.rand(2, 3, 16, 16), torch.tensor([0.0, 1.0])
    x_adv = attack(nn.Identity(), x, y)
    assert not unet.training and not x_adv.requires_grad
    torch.testing.assert_close(x_adv, unet.perturb(x, y))  # the labels reach the attacker
