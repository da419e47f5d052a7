"""The gasbench harness as benchmark_dir reproduces it: its config contract, its input (centre
crop + INTER_LINEAR), its clip sampling, its augmented passes and its sn34 arithmetic."""

from __future__ import annotations

import math
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
import yaml
from helpers import face_image, write_face_video
from PIL import Image
from safetensors.torch import save_file

from fakeguard.data.frames import MediaReadError
from fakeguard.errors import DataError, MissingFileError, UserError
from fakeguard.export.gasbench import import_model_py
from fakeguard.export.harness import (
    FolderScores,
    HarnessInput,
    PassScores,
    augment_video,
    blend,
    center_crop_resize,
    downscale_even,
    harness_input,
    list_media,
    load_harness_model,
    model_input,
    p_not_real,
    prepare,
    read_clip,
    read_image,
    read_model_config,
    score_folder,
    summary,
)
from fakeguard.robustness.codecs import h264_frames
from fakeguard.robustness.suite import track

pytestmark = pytest.mark.usefixtures("one_thread")


def noise(height: int, width: int, frames: int | None = None, seed: int = 0) -> np.ndarray:
    shape = (height, width, 3) if frames is None else (frames, height, width, 3)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# ---- sn34, the blend, the softmax ------------------------------------------------------------


def test_sn34_per_pass_matches_the_formula_computed_by_hand():
    # 4 fakes, 4 reals. P(fake): fakes 0.9 0.9 0.6 0.4 (0.4 is a miss), reals 0.1 0.1 0.4 0.6
    # (0.6 is a false alarm) -> TP 3, FN 1, TN 3, FP 1.
    # MCC = (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (9 - 1) / sqrt(4^4) = 0.5
    # Brier = mean((p - y)^2): fakes .01 + .01 + .16 + .36 = .54, reals the same .54
    #       = 1.08 / 8 = 0.135
    # mcc_c   = clip((0.5 + 1) / 2, 0, 1) ** 1.2 = 0.75 ** 1.2 = exp(1.2 * -0.2876821) = 0.7080656
    # brier_c = max(0, (0.25 - 0.135) / 0.25) ** 1.8 = 0.46 ** 1.8 = exp(1.8 * -0.7765288)
    #         = 0.2471520
    # sn34    = sqrt(max(1e-12, 0.7080656 * 0.2471520)) = sqrt(0.1749998) = 0.4183298
    labels = [1, 1, 1, 1, 0, 0, 0, 0]
    probs = [0.9, 0.9, 0.6, 0.4, 0.1, 0.1, 0.4, 0.6]
    # as the harness gets them: two logits [real, fake], softmax, P(fake) = 1 - p[real]
    logits = np.array([[0.0, math.log(p / (1 - p))] for p in probs], dtype=np.float32)
    metrics = PassScores(list("abcdefgh"), labels, p_not_real(logits).tolist()).metrics()
    assert metrics["n"] == 8 and metrics["acc"] == pytest.approx(0.75)
    assert metrics["mcc"] == pytest.approx(0.5, abs=1e-6)
    assert metrics["brier"] == pytest.approx(0.135, abs=1e-6)
    assert metrics["sn34"] == pytest.approx(0.4183298, abs=1e-6)


def test_the_score_is_the_harness_blend_and_a_bad_pass_floors_at_1e_6():
    # augmented pass: every P(fake) 0.5 -> Brier 0.25, at the baseline -> brier_c = 0
    # -> sn34 = sqrt(max(1e-12, 0)) = 1e-6; blend = 0.8 * 0.4183298 + 0.2 * 1e-6 = 0.3346640
    labels = [1, 1, 1, 1, 0, 0, 0, 0]
    clean = PassScores(list("abcdefgh"), labels, [0.9, 0.9, 0.6, 0.4, 0.1, 0.1, 0.4, 0.6])
    augmented = PassScores(list("abcdefgh"), labels, [0.5] * 8)
    scores = FolderScores(HarnessInput("image", (8, 8)), {"clean": clean, "augmented": augmented},
                          [], {"real": 4, "fake": 4})  # fmt: skip
    result = summary(scores, aug_weight=0.2)
    assert result["passes"]["augmented"]["sn34"] == pytest.approx(1e-6)
    assert result["sn34"] == pytest.approx(0.3346640, abs=1e-6)
    assert result["sn34"] == pytest.approx(blend(result["passes"]["clean"]["sn34"], 1e-6, 0.2))
    assert summary(scores, aug_weight=0.0)["sn34"] == result["passes"]["clean"]["sn34"]
    scores.passes["augmented"] = PassScores()  # no augmented prediction: the clean score
    assert summary(scores, aug_weight=0.2)["sn34"] == result["passes"]["clean"]["sn34"]


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


# ---- folders ----------------------------------------------------------------------------------


def test_a_root_without_real_or_fake_is_a_clear_error(tmp_path):
    (tmp_path / "real").mkdir()
    with pytest.raises(DataError, match=r"needs a real/ and a fake/ folder \(missing: fake/\)"):
        list_media(tmp_path, "image")


def test_other_files_are_recorded_skips_and_max_files_draws_a_seeded_subset(tmp_path):
    for name in ("real", "fake"):
        (tmp_path / name / "sub").mkdir(parents=True)
        for i in range(5):
            (tmp_path / name / "sub" / f"{i}.png").write_bytes(b"")
    (tmp_path / "real" / "clip.mp4").write_bytes(b"")
    (tmp_path / "fake" / "notes.txt").write_text("x")
    items, skipped, selected = list_media(tmp_path, "image", max_files=3, seed=1)
    assert selected == {"real": 3, "fake": 3} and len(items) == 6
    assert [label for _, label in items] == [0, 0, 0, 1, 1, 1]
    assert items == list_media(tmp_path, "image", max_files=3, seed=1)[0]
    assert {Path(s.path).name: s.reason for s in skipped} == {
        "clip.mp4": "a video file; the model takes images",
        "notes.txt": "not an image or video file",
    }
    (tmp_path / "real" / "clip.mp4").unlink()
    with pytest.raises(DataError, match="no video files"):
        list_media(tmp_path, "video")


# ---- scoring a folder -------------------------------------------------------------------------


TINY_MODEL = '''
import torch
from safetensors.torch import load_file
from torch import nn


class FrameAverage(nn.Module):
    """An image net: images [B, 3, H, W] or clips [B, T, 3, H, W] (logits averaged over T)."""

    def __init__(self, num_classes: int = 2):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(4, num_classes)
        self.inputs = []

    def forward(self, x):
        self.inputs.append((tuple(x.shape), x.dtype))
        clips = x if x.ndim == 5 else x.unsqueeze(1)
        b, t = clips.shape[:2]
        frames = clips.reshape(b * t, *clips.shape[2:]).to(self.classifier.weight.dtype) / 255.0
        return self.classifier(self.features(frames).flatten(1)).reshape(b, t, -1).mean(1)


def load_model(weights_path, num_classes=2):
    model = FrameAverage(num_classes)
    model.load_state_dict(load_file(weights_path))
    model.train(False)
    return model
'''


def write_model_dir(folder: Path, modality: str, **preprocessing) -> Path:
    """A hand-made gasbench directory around TINY_MODEL (seeded weights)."""
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(TINY_MODEL)
    torch.manual_seed(0)
    weights = import_model_py(folder).FrameAverage().state_dict()
    save_file(weights, str(folder / "model.safetensors"))
    config = {
        "name": "frame-average",
        "modality": modality,
        "preprocessing": {"resize": [32, 48], **preprocessing},
        "model": {"num_classes": 2, "weights_file": "model.safetensors"},
    }
    (folder / "model_config.yaml").write_text(yaml.safe_dump(config))
    return folder


def write_images(root: Path) -> None:
    for name, shift in (("real", 0), ("fake", 60)):
        (root / name).mkdir(parents=True)
        for i, (h, w) in enumerate([(80, 120), (150, 100), (64, 64)]):
            image = np.roll(cv2.resize(face_image(160), (w, h)), shift + 7 * i, axis=1)
            cv2.imwrite(str(root / name / f"{i}.png"), image[..., ::-1])
    (root / "fake" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")


def test_an_image_folder_is_scored_in_batches_with_the_model_s_softmax(tmp_path):
    model_dir = write_model_dir(tmp_path / "model", "image")
    write_images(tmp_path / "images")
    model = load_harness_model(model_dir, torch.device("cpu"))
    spec = harness_input(read_model_config(model_dir))
    scores = score_folder(model, spec, tmp_path / "images", batch_size=4)
    assert [Path(s.path).name for s in scores.skipped] == ["corrupt.jpg"]
    assert "not a readable image" in scores.skipped[0].reason
    clean = scores.passes["clean"]
    assert len(clean.paths) == 6 and clean.labels == [0, 0, 0, 1, 1, 1]
    assert scores.passes["augmented"].paths == clean.paths
    assert {shape for shape, _ in model.inputs} == {(4, 3, 32, 48), (2, 3, 32, 48)}
    assert {dtype for _, dtype in model.inputs} == {torch.uint8}
    # P(fake) is the model's softmax[:, 1] on the harness's input, one image at a time
    x = torch.from_numpy(np.stack([model_input(read_image(p), (32, 48)) for p in clean.paths]))
    with torch.inference_mode():
        expected = torch.cat([torch.softmax(model(image[None]), 1)[:, 1] for image in x])
    np.testing.assert_allclose(clean.p_fake, expected.numpy(), atol=1e-6)


def test_a_video_model_gets_b_t_3_h_w_uint8_clips_in_both_passes(tmp_path):
    model_dir = write_model_dir(tmp_path / "model", "video", num_frames=4, frame_rate=12.5)
    root = tmp_path / "videos"
    for name in ("real", "fake"):
        (root / name).mkdir(parents=True)
        for i in range(2):
            write_face_video(root / name / f"{i}.mp4", frames=10, size=(160 + 40 * i, 120))
    (root / "fake" / "broken.mp4").write_bytes(b"not a video")
    cv2.imwrite(str(root / "real" / "still.png"), face_image(64))
    spec = harness_input(read_model_config(model_dir))
    model = load_harness_model(model_dir, torch.device("cpu"))
    scores = score_folder(model, spec, root, batch_size=3)
    assert {Path(s.path).name: s.reason.split(" (")[0] for s in scores.skipped} == {
        "still.png": "an image file; the model takes videos",
        "broken.mp4": "not a readable video",
    }
    for name in ("clean", "augmented"):
        assert scores.passes[name].labels == [0, 0, 1, 1]
    assert {shape for shape, _ in model.inputs} == {(3, 4, 3, 32, 48), (1, 4, 3, 32, 48)}
    assert {dtype for _, dtype in model.inputs} == {torch.uint8}
    assert scores.passes["clean"].p_fake != scores.passes["augmented"].p_fake
