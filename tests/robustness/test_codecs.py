"""Codec degradations are real (the named codec, a plausible loss), sized right and reproducible."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest
from PIL import Image, JpegImagePlugin
from skimage import data

from fakeguard.robustness import codecs
from fakeguard.robustness.codecs import (
    CodecUnavailableError,
    as_rgb_uint8,
    h264_decode,
    h264_encode,
    h264_frames,
    h264_image,
    jpeg,
    jpeg_encode,
    psnr,
    resize_down_up,
    webp,
)

# Runs every degradation on a seeded image and prints sha256 digests of the outputs. Executed
# both in a fresh interpreter and in this one, so a hidden source of nondeterminism (thread
# scheduling, uninitialised memory, global state) shows up as a mismatch.
_DIGEST_SCRIPT = """
import hashlib, json
import numpy as np
from fakeguard.robustness import codecs as c

def digests():
    rng = np.random.default_rng(1234)
    image = rng.integers(0, 256, (47, 65, 3), dtype=np.uint8)
    clip = [np.roll(image, 2 * i, axis=1) for i in range(5)]
    outputs = {
        "jpeg": c.jpeg(image, 60),
        "webp": c.webp(image, 60),
        "resize": c.resize_down_up(image, 20, 15),
        "h264_image": c.h264_image(image, 28),
        "h264_frames": np.stack(c.h264_frames(clip, 28)),
    }
    return {k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in outputs.items()}

if __name__ == "__main__":
    print(json.dumps(digests()))
"""


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def moving_clip(astronaut) -> list[np.ndarray]:
    """Ten frames of a textured image panning 4 px per frame, so P/B-frames carry motion."""
    return [np.roll(astronaut, 4 * i, axis=1) for i in range(10)]


def test_every_degradation_is_byte_identical_across_processes():
    namespace: dict = {}
    exec(_DIGEST_SCRIPT, namespace)
    in_process = namespace["digests"]()
    result = subprocess.run(
        [sys.executable, "-c", _DIGEST_SCRIPT], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == in_process
    assert namespace["digests"]() == in_process  # and repeatable within one process


# Pinned on Pillow 13 / libjpeg-turbo, libwebp and PyAV 18's libx264; the bands (±1 dB) are
# narrower than the gap to the neighbouring settings, so a wrong quality or codec fails.
@pytest.mark.parametrize(
    ("name", "degrade", "expected_db"),
    [
        ("jpeg q50", lambda im: jpeg(im, 50), 29.9),  # q30: 28.4, q75: 31.9
        ("webp q50", lambda im: webp(im, 50), 31.5),  # q30: 29.9, q75: 33.2
        ("resize 64", lambda im: resize_down_up(im, 64, 64), 21.8),  # 128: 26.3
        ("h264 crf23", lambda im: h264_image(im, 23), 30.0),  # crf30: 26.3, crf40: 21.6
    ],
)
def test_codec_loss_on_a_natural_image_is_in_the_measured_band(
    astronaut, name, degrade, expected_db
):
    out = degrade(astronaut)
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    assert psnr(astronaut, out) == pytest.approx(expected_db, abs=1.0), name


def test_higher_jpeg_quality_loses_less(astronaut):
    assert psnr(astronaut, jpeg(astronaut, 30)) < psnr(astronaut, jpeg(astronaut, 90))


@pytest.mark.parametrize("quality", [50, 95])
def test_jpeg_is_always_4_2_0(astronaut, quality):
    # Pillow alone would choose 4:4:4 at quality >= 90.
    with Image.open(io.BytesIO(jpeg_encode(astronaut, quality))) as encoded:
        assert JpegImagePlugin.get_sampling(encoded) == 2


def test_h264_is_libx264_honouring_crf(moving_clip):
    streams = {crf: h264_encode(moving_clip, crf)[0] for crf in (23, 40)}
    quality = {}
    for crf, stream in streams.items():
        decoded = list(h264_decode(stream))
        assert len(decoded) == len(moving_clip)
        quality[crf] = np.mean([psnr(a, b) for a, b in zip(moving_clip, decoded, strict=True)])
        with av.open(io.BytesIO(stream)) as container:
            video = container.streams.video[0]
            assert video.codec_context.name == "h264"
            assert (video.width, video.height) == (256, 256)
            assert video.codec_context.pix_fmt == "yuv420p"
    assert len(streams[40]) < len(streams[23])
    assert quality[40] < quality[23]
    assert quality[23] == pytest.approx(33.1, abs=1.5)  # measured 33.1 dB; crf40: 24.5 dB


def test_odd_sized_video_and_image_keep_their_size(moving_clip):
    clip = [frame[:47, :65] for frame in moving_clip]
    out = h264_frames(clip, 23)
    assert len(out) == len(clip)
    assert all(frame.shape == (47, 65, 3) and frame.dtype == np.uint8 for frame in out)
    assert psnr(clip[0], out[0]) > 25  # the replicated edge is still close to the input
    assert h264_image(clip[0][:3, :3], 23).shape == (3, 3, 3)


def test_too_small_or_mismatched_frames_are_refused(moving_clip):
    with pytest.raises(ValueError, match="at least 2x2"):
        h264_image(np.zeros((1, 1, 3), np.uint8), 23)
    with pytest.raises(ValueError, match="same size"):
        h264_frames([moving_clip[0], moving_clip[1][:100]], 23)


def test_missing_encoders_raise_instead_of_falling_back(monkeypatch, astronaut):
    def no_codec(name, mode):
        raise ValueError(f"unknown codec {name}")

    monkeypatch.setattr(codecs.av.codec, "Codec", no_codec)
    with pytest.raises(CodecUnavailableError, match="libx264"):
        h264_image(astronaut, 23)
    monkeypatch.setattr(codecs.features, "check", lambda name: False)
    with pytest.raises(CodecUnavailableError, match="WebP"):
        webp(astronaut, 50)


def test_as_rgb_uint8_accepts_grey_rgba_and_16_bit():
    grey = as_rgb_uint8(np.full((4, 5), 77, np.uint8))
    assert grey.shape == (4, 5, 3) and (grey == 77).all()
    assert as_rgb_uint8(np.full((4, 5, 1), 9, np.uint8)).shape == (4, 5, 3)
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    rgb = as_rgb_uint8(rgba)
    assert rgb.shape == (4, 5, 3) and (rgb[..., 0] == 200).all() and (rgb[..., 1:] == 0).all()
    deep = as_rgb_uint8(np.array([[[0, 257 * 100, 65535]]], np.uint16))
    assert deep.dtype == np.uint8 and deep.tolist() == [[[0, 100, 255]]]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((4, 4, 3), np.float32), "unsupported pixel type float32"),
        (np.zeros((4, 4, 5), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
    ],
)
def test_as_rgb_uint8_refuses_unsupported_input(bad, message):
    with pytest.raises(ValueError, match=message):
        as_rgb_uint8(bad)


def test_resize_down_up_keeps_size_but_loses_detail(astronaut):
    out = resize_down_up(astronaut, 50, 30)
    assert out.shape == astronaut.shape and not np.array_equal(out, astronaut)


def test_psnr_of_identical_images_is_infinite(astronaut):
    assert psnr(astronaut, astronaut.copy()) == float("inf")
