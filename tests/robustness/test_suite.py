"""Suite v1: pinned tracks, the social chain's resize rule, frame-before-crop."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
from helpers import ROOT, face_image

from fakeguard.robustness import codecs, suite


@pytest.mark.parametrize(
    ("size", "resized"), [((300, 400), (256, 256)), ((200, 500), None), ((1000, 600), (500, 300))]
)
def test_social_resizes_exactly_when_the_rule_says_so(monkeypatch, size, resized):
    calls = []
    real = codecs.resize_down_up
    monkeypatch.setattr(
        codecs, "resize_down_up", lambda im, w, h: calls.append((h, w)) or real(im, w, h)
    )
    image = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    out = suite.social(image)
    assert out.shape == image.shape
    assert calls == ([resized] if resized else [])


def test_social_is_the_gasbench_chain_step_by_step():
    image = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    expected = codecs.resize_down_up(image, 256, 256)
    for step in (
        lambda im: codecs.jpeg(im, 55),
        lambda im: codecs.webp(im, 75),
        lambda im: codecs.jpeg(im, 80),
    ):
        expected = step(expected)
    np.testing.assert_array_equal(suite.social(image), expected)


@pytest.mark.parametrize("name", sorted(suite.TRACKS))
def test_every_track_keeps_the_size_and_only_clean_is_lossless(name):
    image = face_image(97)  # odd size on purpose
    out = suite.degrade_crop(name, image)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out, image) == (name == "clean")


def test_in_frame_mode_degrades_the_frame_then_crops():
    frame = face_image(160)
    box = (30, 20, 130, 140)
    out = suite.degrade_in_frame("jpeg50", frame, box)
    np.testing.assert_array_equal(out, codecs.jpeg(frame, 50)[20:140, 30:130])


def test_an_unknown_track_names_the_real_ones():
    with pytest.raises(ValueError, match="h264_c23"):
        suite.track("h264")


# PSNR of each track on face_image(160), measured once and pinned: a codec or chain that
# changes (another library version, a wrong argument) moves these.
PINNED_PSNR = {"jpeg50": 31.8, "social": 31.2, "h264_c23": 31.4, "h264_c40": 22.6}

DIGEST = """
import hashlib, sys
sys.path.insert(0, "tests")
from helpers import ROOT, face_image
from fakeguard.robustness import suite
for name in sorted(suite.TRACKS):
    print(name, hashlib.sha256(suite.degrade_crop(name, face_image(97)).tobytes()).hexdigest())
"""


@pytest.mark.parametrize("name", sorted(PINNED_PSNR))
def test_each_track_degrades_by_its_pinned_amount(name):
    image = face_image(160)
    assert codecs.psnr(image, suite.degrade_crop(name, image)) == pytest.approx(
        PINNED_PSNR[name], abs=0.5
    )


def test_every_track_gives_the_same_bytes_in_another_process():
    result = subprocess.run(
        [sys.executable, "-c", DIGEST], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    here = {
        name: hashlib.sha256(suite.degrade_crop(name, face_image(97)).tobytes()).hexdigest()
        for name in sorted(suite.TRACKS)
    }
    assert dict(line.split() for line in result.stdout.splitlines()) == here
