"""The gasbench harness as benchmark_dir reproduces it: its config contract, its input (centre
crop + INTER_LINEAR), its image reading and clip sampling, its augmented passes, its softmax."""

from __future__ import annotations

import math
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import yaml
from helpers import face_image, noise
from PIL import Image

from fakeguard.data.frames import MediaReadError
from fakeguard.errors import MissingFileError, UserError
from fakeguard.export.harness import (
    HarnessInput,
    augment_video,
    center_crop_resize,
    downscale_even,
    harness_input,
    model_input,
    p_not_real,
    prepare,
    read_clip,
    read_image,
    read_model_config,
)
from fakeguard.robustness.codecs import h264_frames
from fakeguard.robustness.suite import track

pytestmark = pytest.mark.usefixtures("one_thread")


def test_p_fake_is_one_minus_p_real_for_any_number_of_classes():
    # 3 classes [real, synthetic, semisynthetic]: p_real = 2 / (2 + 1 + 1) = 0.5
    logits = np.array([[math.log(2), 0, 0], [0, 0, 0]], dtype=np.float32)
    np.testing.assert_allclose(p_not_real(logits), [0.5, 2 / 3], atol=1e-6)
    with pytest.raises(UserError, match=r"shape \(2, 1\)"):
        p_not_real(np.zeros((2, 1), np.float32))


# ---- the model input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "size", "window"),
    [
        ((300, 200), (64, 64), (slice(50, 250), slice(0, 200))),  # portrait: centre rows
        ((200, 300), (64, 64), (slice(0, 200), slice(50, 250))),  # landscape: centre columns
        ((40, 30), (64, 64), (slice(5, 35), slice(0, 30))),  # small: cropped, then upscaled
        # [H, W] = [64, 96]: scale = min(300/64, 200/96) = 2.0833, crop 133 x 200 from row 83
        ((300, 200), (64, 96), (slice(83, 216), slice(0, 200))),
    ],
    ids=["portrait", "landscape", "small", "wide-target"],
)
def test_the_input_is_the_centred_crop_of_the_target_aspect_resized_bilinear(shape, size, window):
    image = noise(*shape)
    out = center_crop_resize(image, size)
    expected = cv2.resize(image[window], (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    assert out.shape == (*size, 3) and np.array_equal(out, expected)


def test_model_input_is_uint8_chw_for_images_and_tchw_for_clips():
    assert model_input(noise(50, 70), (32, 48)).shape == (3, 32, 48)
    clip = model_input(noise(50, 70, frames=5), (32, 48))
    assert clip.shape == (5, 3, 32, 48) and clip.dtype == np.uint8
    assert np.array_equal(clip[2], model_input(noise(50, 70, frames=5)[2], (32, 48)))


def test_images_are_read_as_pil_converts_them_16_bit_clipped_like_the_harness(tmp_path):
    grey16 = np.full((20, 30), 1000, np.uint16)
    Image.fromarray(grey16).save(tmp_path / "deep.png")
    rgba = np.dstack([noise(20, 30), np.full((20, 30), 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    # PIL's I;16 -> RGB clips at 255 (fakeguard's own reader would scale to 1000/257 = 4)
    assert np.all(read_image(tmp_path / "deep.png") == 255)
    assert np.array_equal(read_image(tmp_path / "alpha.png"), rgba[..., :3])
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    with pytest.raises(MediaReadError, match="not a readable image"):
        read_image(tmp_path / "broken.jpg")


# ---- the augmented passes -------------------------------------------------------------------


def test_the_image_augmentation_is_the_social_track_then_the_input(tmp_path):
    image = face_image(300)[:, :260]
    cv2.imwrite(str(tmp_path / "face.png"), image[..., ::-1])
    clean, augmented, why = prepare(tmp_path / "face.png", HarnessInput("image", (64, 64)))
    assert why is None
    assert np.array_equal(clean, model_input(image, (64, 64)))
    assert np.array_equal(augmented, model_input(track("social").image(image), (64, 64)))
    assert not np.array_equal(clean, augmented)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((500, 700), (256, 350)),  # 700x500 -> 350x256: the 256 px floor on the short side
        ((1080, 1920), (540, 960)),
        ((600, 1002), (300, 500)),  # 501 wide after halving: the last column dropped
        ((300, 1000), (256, 500)),
        ((257, 513), (256, 256)),  # round(256.5) = 256, then the floor
        ((1003, 1003), (502, 502)),  # round(501.5) = 502 (Python rounds half to even)
        ((256, 1000), (256, 1000)),  # the short side cannot shrink: no resize at all
        ((255, 301), (254, 300)),  # no resize, but odd: trimmed to even
    ],
)
def test_the_video_augmentation_halves_with_a_256_floor_and_even_sizes(shape, expected):
    frames = noise(*shape, frames=2)
    out = downscale_even(frames)
    assert out.shape == (2, *expected, 3)
    h, w = max(256, round(shape[0] / 2)), max(256, round(shape[1] / 2))
    shrinks = h < shape[0] and w < shape[1]  # then INTER_AREA, and the trim after it
    source = cv2.resize(frames[1], (w, h), interpolation=cv2.INTER_AREA) if shrinks else frames[1]
    assert np.array_equal(out[1], source[: expected[0], : expected[1]])


def test_the_video_augmentation_is_libx264_crf23_of_the_downscaled_frames():
    frames = np.stack([cv2.resize(face_image(160), (700, 500)) for _ in range(3)])
    out = augment_video(frames)
    assert out.shape == (3, 256, 350, 3)
    expected = np.stack(h264_frames(list(downscale_even(frames)), 23, 25))
    assert np.array_equal(out, expected)
    assert not np.array_equal(out, downscale_even(frames))  # it went through the codec


# ---- clips: which frames the harness takes --------------------------------------------------


def write_counting_video(path: Path, frames: int = 12, fps: int = 25) -> Path:
    """Flat grey frames, frame i at level 10 + 20 i, so a decoded frame tells its index."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            frame = np.full((48, 64, 3), 10 + 20 * i, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def indices_of(clip: np.ndarray) -> list[int]:
    return [round((float(frame.mean()) - 10) / 20) for frame in clip]


@pytest.mark.parametrize(
    ("num_frames", "frame_rate", "expected"),
    [
        (4, None, [0, 1, 2, 3]),  # the first frames, in order
        (8, 12.5, [0, 2, 4, 6, 8, 10, 10, 10]),  # every round(25 / 12.5) = 2nd; short: repeat
        (3, 10, [0, 2, 4]),  # round(2.5) = 2
        (4, 8, [0, 3, 6, 9]),  # round(3.125) = 3
        (16, None, [*range(12), 11, 11, 11, 11]),
    ],
)
def test_clips_are_the_first_frames_at_the_frame_rate_stride(
    tmp_path, num_frames, frame_rate, expected
):
    video = write_counting_video(tmp_path / "count.mp4")
    clip = read_clip(video, num_frames, frame_rate)
    assert clip.shape == (num_frames, 48, 64, 3) and clip.dtype == np.uint8
    assert indices_of(clip) == expected


def test_an_unreadable_video_is_a_media_read_error(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    with pytest.raises(MediaReadError, match="not a readable video"):
        read_clip(tmp_path / "bad.mp4", 4)


# ---- model_config.yaml ------------------------------------------------------------------------


def video_config(**preprocessing) -> dict:
    return {"modality": "video", "preprocessing": {"resize": [32, 48], **preprocessing}}


@pytest.mark.parametrize(
    ("preprocessing", "frames", "rate"),
    [
        ({}, 16, None),
        ({"max_frames": 8}, 8, None),
        ({"num_frames": 4, "max_frames": 8, "frame_rate": 5}, 4, 5.0),
    ],
)
def test_the_clip_settings_are_read_from_preprocessing_as_the_harness_reads_them(
    preprocessing, frames, rate
):
    spec = harness_input(video_config(**preprocessing))
    assert (spec.modality, spec.size, spec.num_frames, spec.frame_rate) == (
        "video", (32, 48), frames, rate,
    )  # fmt: skip
    assert not spec.notes


def test_clip_settings_outside_preprocessing_are_ignored_with_a_note():
    spec = harness_input({**video_config(), "num_frames": 8, "frame_rate": 5})
    assert spec.num_frames == 16 and spec.frame_rate is None
    assert "frame_rate, num_frames at the top level" in spec.notes[0]


@pytest.mark.parametrize(
    ("config", "match"),
    [
        (video_config(num_frames=65), "num_frames=65"),
        (video_config(num_frames=0), "num_frames=0"),
        (video_config(frame_rate=-1), "frame_rate=-1"),
        ({"modality": "audio"}, "modality='audio'"),
        ({"modality": "image", "preprocessing": {"resize": 64}}, "resize=64"),
    ],
)
def test_settings_the_harness_refuses_are_clear_errors(config, match):
    with pytest.raises(UserError, match=match):
        harness_input(config)


def test_an_image_config_without_resize_gets_the_harness_default_with_a_note():
    spec = harness_input({"modality": "image"})
    assert spec.size == (224, 224) and "224x224" in spec.notes[0]


def test_a_model_dir_without_its_files_is_a_clear_error(tmp_path):
    with pytest.raises(MissingFileError, match="has no model_config.yaml"):
        read_model_config(tmp_path)
    (tmp_path / "model_config.yaml").write_text(yaml.safe_dump({"modality": "image"}))
    with pytest.raises(UserError, match="needs a `model:` section"):
        read_model_config(tmp_path)
    (tmp_path / "model_config.yaml").write_text(yaml.safe_dump({"model": {"num_classes": 2}}))
    with pytest.raises(MissingFileError, match="has no model.py"):
        read_model_config(tmp_path)
