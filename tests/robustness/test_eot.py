"""EOT platform: a random real platform per image forward, differentiable backward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import CONFIGS, face_image
from omegaconf import OmegaConf

from fakeguard.robustness import codecs
from fakeguard.robustness.eot import SETTINGS, Platform, platform
from fakeguard.robustness.standins import Chain
from fakeguard.robustness.tensors import recompress, to_uint8


def faces(n: int, h: int = 48, w: int = 48) -> torch.Tensor:
    images = [np.ascontiguousarray(face_image(64)[i : i + h, i : i + w]) for i in range(n)]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255


def expected(x: torch.Tensor, drawn: dict[str, torch.Tensor]) -> torch.Tensor:
    """The drawn platforms applied with the codecs, image by image."""
    out = []
    for image, scale, webp, quality in zip(
        to_uint8(x), drawn["scale"], drawn["webp"], drawn["quality"], strict=True
    ):
        if scale:
            h, w = image.shape[:2]
            image = codecs.resize_down_up(image, round(w * float(scale)), round(h * float(scale)))
        if webp:
            image = codecs.webp(image, 75)
        out.append(codecs.jpeg(image, int(quality)))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255


@pytest.mark.parametrize(("n", "h", "w"), [(6, 48, 48), (1, 47, 33)])
def test_forward_is_the_drawn_real_platforms(n, h, w):
    x = faces(n, h, w).requires_grad_(True)
    eot = Platform(resize_p=0.5, webp_p=0.5)
    torch.manual_seed(0)
    y = eot(x)
    torch.manual_seed(0)
    assert torch.equal(y, expected(x, eot.draw(n)))


def test_one_fixed_platform_is_the_suite_track():
    x = faces(3).requires_grad_(True)
    jpeg50 = Platform(quality=(50, 50), resize_p=0, webp_p=0)
    assert torch.equal(jpeg50(x), recompress(x, "jpeg50"))


def test_draws_differ_per_image_and_call_and_follow_the_seed():
    eot = Platform()
    torch.manual_seed(1)
    first, second = eot.draw(64), eot.draw(64)
    assert len(set(first["quality"].tolist())) > 10
    assert 0 < int((first["scale"] > 0).sum()) < 64 and 0 < int(first["webp"].sum()) < 64
    assert first["quality"].min() >= 40 and first["quality"].max() <= 95
    resized = first["scale"][first["scale"] > 0]
    assert resized.min() >= 0.5 and resized.max() <= 1.0
    assert not torch.equal(first["quality"], second["quality"])
    torch.manual_seed(1)
    assert all(torch.equal(first[k], v) for k, v in eot.draw(64).items())


def test_same_seed_same_output():
    x = faces(4)
    outputs = []
    for _ in range(2):
        torch.manual_seed(5)
        outputs.append(Platform()(x))
    assert torch.equal(*outputs)


def test_gradients_reach_the_input_finite_and_nonzero():
    x = faces(6).requires_grad_(True)
    torch.manual_seed(0)
    weights = torch.randn(x.shape)
    (grad,) = torch.autograd.grad((Platform(resize_p=0.5, webp_p=0.5)(x) * weights).sum(), x)
    assert torch.isfinite(grad).all()
    assert (grad != 0).float().mean() > 0.5


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"quality": (0, 95)}, "quality must satisfy 1 <= low <= high <= 100"),
        ({"quality": (90, 40)}, "quality must satisfy"),
        ({"quality": (40.5, 95)}, "quality must hold two integers"),
        ({"quality": 50}, r"quality must be a pair \(low, high\)"),
        ({"scale": (0, 1)}, "scale must be > 0"),
        ({"scale": (0.5, 2.0)}, "scale must satisfy"),
        ({"resize_p": 1.5}, r"resize_p must be a probability in \[0, 1\]"),
        ({"webp_p": True}, "webp_p must be a probability"),
    ],
)
def test_bad_settings_raise(settings, message):
    with pytest.raises(ValueError, match=message):
        Platform(**settings)


def test_platform_by_name():
    assert isinstance(platform("eot"), Platform)
    assert platform("eot", {"quality": [60, 70]}).quality == (60, 70)
    assert isinstance(platform("social"), Chain)
    with pytest.raises(ValueError, match=r"'eot', 'clean'.*'social'"):
        platform("instagram")
    with pytest.raises(ValueError, match=r"unknown eot settings \['qualty'\]"):
        platform("eot", {"qualty": [60, 70]})


def test_the_eot_config_holds_the_defaults():
    config = OmegaConf.load(CONFIGS / "eot" / "platform.yaml")
    assert tuple(config) == SETTINGS
    assert repr(platform("eot", config)) == repr(Platform())
