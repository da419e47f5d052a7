"""Straight-through stand-ins: the suite's codecs forward, a differentiable model backward."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import SHARED_DATA, face_image
from torch import nn

from fakeguard.attacks.pgd import PGD
from fakeguard.attacks.through import Through
from fakeguard.data.images import read_rgb
from fakeguard.robustness import codecs, standins, suite
from fakeguard.robustness.standins import matched_jpeg_quality, stand_in, straight_through
from fakeguard.robustness.tensors import recompress

TRACKS = sorted(suite.TRACKS)
FACES = SHARED_DATA / "real_and_fake_face_160"


def faces(size: tuple[int, int]) -> torch.Tensor:
    """Face crops of one size, shifted per image so that no two are alike."""
    h, w = size
    images = [face_image(160)[i * 9 : i * 9 + 120, i * 5 : i * 5 + 120] for i in range(4)]
    batch = [cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in images]
    return torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float() / 255


def test_every_suite_track_has_a_stand_in():
    assert set(standins.STAND_INS) == set(suite.TRACKS)


@pytest.mark.parametrize("name", TRACKS)
@pytest.mark.parametrize(("n", "size"), [(3, (48, 48)), (1, (47, 33))])
def test_forward_is_the_suite_codec_bit_for_bit(name, n, size):
    x = faces(size)[:n] + 0.01 * torch.randn(
        n, 3, *size, generator=torch.Generator().manual_seed(0)
    )
    x = x.clamp(0, 1).requires_grad_(True)  # the differentiable path runs too
    expected = recompress(x, name)
    assert torch.equal(stand_in(name)(x), expected)
    with torch.no_grad():
        assert torch.equal(stand_in(name)(x), expected)


def test_social_resizes_as_the_suite_does():
    # both sides over 256 px: the suite's down/up resize applies (and runs on the gradient path)
    x = torch.rand(1, 3, 264, 280, generator=torch.Generator().manual_seed(1))
    assert standins.social_size(264, 280) == (256, 256)
    assert torch.equal(stand_in("social")(x.requires_grad_(True)), recompress(x, "social"))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_dtype_is_kept_and_values_still_exact(dtype):
    x = faces((32, 32)).to(dtype).requires_grad_(True)
    y = stand_in("social")(x)
    assert y.dtype == dtype
    assert torch.equal(y, recompress(x, "social"))


def test_autocast_changes_nothing():
    x = faces((32, 32)).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = stand_in("jpeg50")(x)
    assert y.dtype == torch.float32 and torch.equal(y, recompress(x, "jpeg50"))


@pytest.mark.parametrize("name", TRACKS)
def test_gradients_reach_the_input_finite_and_nonzero(name):
    x = faces((40, 40)).requires_grad_(True)
    weights = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    (grad,) = torch.autograd.grad((stand_in(name)(x) * weights).sum(), x)
    assert torch.isfinite(grad).all()
    assert (grad != 0).float().mean() > 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_input_stays_on_its_device():
    x = faces((40, 40)).cuda().requires_grad_(True)
    with torch.autocast("cuda", dtype=torch.float16):
        y = stand_in("social")(x)
    assert y.device == x.device and torch.equal(y, recompress(x, "social"))
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert grad.device == x.device and torch.isfinite(grad).all()


def test_social_gradient_is_jpeg55s_averaged_over_nearby_qualities():
    # WebP 75 and JPEG 80 pass the gradient through; JPEG 55's is the mean over nearby tables
    x = faces((48, 48)).requires_grad_(True)
    weights = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    (grad,) = torch.autograd.grad((stand_in("social")(x) * weights).sum(), x)
    approx = standins.mean_diff_jpeg(standins.quantised(x), standins.SOCIAL_JPEG55_QUALITIES)
    (expected,) = torch.autograd.grad((approx * weights).sum(), x)
    torch.testing.assert_close(grad, expected)


def test_mean_diff_jpeg_averages_the_gradients():
    x = faces((32, 32)).requires_grad_(True)
    (mean,) = torch.autograd.grad(standins.mean_diff_jpeg(x, (50, 60)).sum(), x)
    (g50,) = torch.autograd.grad(standins.diff_jpeg(x, 50).sum(), x)
    (g60,) = torch.autograd.grad(standins.diff_jpeg(x, 60).sum(), x)
    torch.testing.assert_close(mean, (g50 + g60) / 2)


def test_stand_ins_have_no_parameters():
    for name in TRACKS:
        assert not list(stand_in(name).parameters())


def test_an_unknown_track_names_the_choices():
    with pytest.raises(ValueError, match="h264_c23.*jpeg50"):
        stand_in("jpeg30")


def test_straight_through_is_real_forward_and_approx_backward():
    x = torch.tensor([0.1, 0.7, 0.9], requires_grad=True)
    real = torch.tensor([1 / 255, 3 / 255, 1.0])
    y = straight_through(real, 3 * x)
    assert torch.equal(y, real)  # exactly: approx + (real - approx) would round
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(grad, torch.full((3,), 3.0))


def tiny_detector() -> nn.Module:
    """A fixed random two-layer CNN: like a real detector, its plain PGD gradient is mostly
    fine texture, which the codecs wash out."""
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 1),
        nn.Flatten(0),
    )
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=generator))
    return model.eval()


@pytest.mark.parametrize("name", ["jpeg50", "social", "h264_c23", "h264_c40"])
def test_an_attack_through_the_stand_in_survives_the_codec_better(name):
    model = tiny_detector()
    x = faces((48, 48))
    y = torch.zeros(len(x))

    def loss_after_codec(x_adv: torch.Tensor) -> float:
        with torch.no_grad():
            return F.binary_cross_entropy_with_logits(model(recompress(x_adv, name)), y).item()

    attack = PGD(eps=8 / 255, step_size=2 / 255, steps=5, random_start=False)
    clean = loss_after_codec(x)
    blind = loss_after_codec(attack(model, x, y)) - clean
    adaptive = loss_after_codec(attack(Through(model, stand_in(name)), x, y)) - clean
    # measured gains, adaptive vs blind: jpeg50 0.14 vs 0.032, social 0.14 vs 0.035,
    # h264_c23 0.078 vs 0.038, h264_c40 0.061 vs 0.014
    assert adaptive > 1.5 * blind > 0


def test_matched_jpeg_quality_finds_a_jpeg_itself():
    images = [face_image(s) for s in (48, 64, 96)]
    assert matched_jpeg_quality(lambda im: codecs.jpeg(im, 60), images) == 60


@pytest.mark.skipif(not FACES.is_dir(), reason="needs ../shared/data/real_and_fake_face_160")
@pytest.mark.parametrize("crf", [23, 40])
def test_the_pinned_h264_qualities_still_match(crf):
    rng = np.random.default_rng(0)
    files = sorted(FACES.glob("*/*.jpg"))
    images = []
    for i in rng.choice(len(files), 24, replace=False):
        side = int(rng.integers(48, 161))
        images.append(cv2.resize(read_rgb(files[i]), (side, side), interpolation=cv2.INTER_AREA))
    matched = matched_jpeg_quality(lambda im: codecs.h264_image(im, crf), images)
    # 24 crops instead of the 96 measured: other subsets of 24 gave 36..38 (CRF 23), 5 (CRF 40)
    assert abs(matched - standins.H264_JPEG[crf]) <= 3
