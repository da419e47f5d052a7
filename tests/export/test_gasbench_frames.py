"""A gasbench model that takes whole frames finds and cuts faces as `prepare` does, scores the
frame by its faces, falls back to the whole frame (counted), and takes video clips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from helpers import SHARED_DATA, clean_gasbench_logits, tiny_detector

from fakeguard.data.faces import FaceDetector, crop_box
from fakeguard.data.transforms import eval_pipeline
from fakeguard.errors import SettingError
from fakeguard.export import gasbench_faces, gasbench_model
from fakeguard.export.gasbench import (
    Packaging,
    check_model_source,
    load_like_harness,
    write_gasbench_dir,
)
from fakeguard.robustness.video import decoded_frames
from fakeguard.scoring.predict import p_fake_of_crops
from fakeguard.scoring.video import confident_mean

FFPP = SHARED_DATA / "ffpp_sample"
needs_ffpp = pytest.mark.skipif(not FFPP.is_dir(), reason=f"needs {FFPP}")


@pytest.fixture(scope="module")
def detector():
    return tiny_detector("Detector")


@pytest.fixture(scope="module")
def frames_model(detector, tmp_path_factory):
    folder = write_gasbench_dir(detector, tmp_path_factory.mktemp("gas") / "frames")
    model, _ = load_like_harness(folder)
    return model


@pytest.fixture(scope="module")
def ffpp_frames() -> list[np.ndarray]:
    """Frames from FF++ clips of three sizes (480p, 720p, 1080p: each detector rescale rule),
    and a 280 px one, which prepare enlarges 2x before MTCNN."""
    frames = []
    for video in ("original_sequences/youtube/c23/videos/519.mp4",
                  "manipulated_sequences/NeuralTextures/c23/videos/004_982.mp4",
                  "manipulated_sequences/Face2Face/c23/videos/750_743.mp4"):  # fmt: skip
        clip = decoded_frames(FFPP / video)
        frames += [frame for i, frame in zip(range(25), clip, strict=False) if i % 12 == 0]
    small = cv2.resize(frames[0], (280, 210), interpolation=cv2.INTER_AREA)
    return [*frames, small]


def as_batch(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()


@needs_ffpp
def test_in_model_faces_are_the_boxes_prepare_cuts_within_1px(frames_model, ffpp_frames):
    prepare = FaceDetector()
    for frame, faces in zip(ffpp_frames, prepare.detect(ffpp_frames), strict=True):
        h, w = frame.shape[:2]
        with torch.inference_mode():
            (found,) = frames_model.faces(as_batch([frame]).float())
        assert len(found) == len(faces) >= 1, f"{w}x{h}"
        for face, ours in zip(faces, found, strict=True):
            theirs = crop_box(face.box, h, w, 0.3)
            mine = gasbench_faces.crop_box(ours, h, w, 0.3)
            assert np.abs(np.array(mine) - theirs).max() <= 1, f"{w}x{h}: {mine} vs {theirs}"


@pytest.mark.parametrize("shape", [(90, 60), (30, 45), (300, 200), (64, 64), (17, 200)])
def test_crops_are_resized_and_padded_as_evaluation_does(shape):
    rng = np.random.default_rng(sum(shape))
    crop = cv2.GaussianBlur(rng.integers(0, 256, (*shape, 3), dtype=np.uint8), (5, 5), 0)
    expected = eval_pipeline(64)(image=crop, keypoints=np.zeros((0, 2)))["image"]
    ours = gasbench_faces.resize_and_pad(torch.from_numpy(crop).permute(2, 0, 1).float(), 64)
    diff = np.abs(ours.permute(1, 2, 0).numpy() - expected.astype(np.float32))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.1  # OpenCV's fixed point: one grey level


@needs_ffpp
def test_a_frame_scores_as_its_face_crops_score_in_predict(detector, frames_model, ffpp_frames):
    frames = ffpp_frames[:3]
    prepare = FaceDetector()
    crops = []
    for frame, faces in zip(frames, prepare.detect(frames), strict=True):
        x1, y1, x2, y2 = crop_box(faces[0].box, *frame.shape[:2], 0.3)
        crops.append(frame[y1:y2, x1:x2])
    expected = p_fake_of_crops(detector, crops, detector.spec["img_size"], 8)
    with torch.inference_mode():
        logits = frames_model(as_batch(frames))
    ours = torch.softmax(logits, 1)[:, 1].numpy()
    np.testing.assert_allclose(ours, expected, atol=0.01)
    assert frames_model.fallback_rate == 0.0


def test_a_frame_without_a_face_is_scored_whole_and_counted(detector, tmp_path):
    folder = write_gasbench_dir(detector, tmp_path / "gas")
    model, _ = load_like_harness(folder)
    frame = cv2.GaussianBlur(
        np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8), (9, 9), 0
    )
    with torch.inference_mode():
        logits = model(as_batch([frame, frame]))
    expected = p_fake_of_crops(detector, [frame], detector.spec["img_size"], 1)
    np.testing.assert_allclose(torch.softmax(logits, 1)[:, 1].numpy(), [expected[0]] * 2, atol=0.01)
    assert (int(model.frames_seen), int(model.frames_whole)) == (2, 2)
    assert model.fallback_rate == 1.0


def test_the_frames_model_runs_without_fakeguard_and_passes_the_static_check(detector, tmp_path):
    folder = write_gasbench_dir(detector, tmp_path / "gas")
    assert check_model_source((folder / "model.py").read_text()) == []
    frame = np.full((100, 140, 3), 128, np.uint8)
    logits = clean_gasbench_logits(folder, as_batch([frame]), tmp_path)
    expected = p_fake_of_crops(detector, [frame], detector.spec["img_size"], 1)
    np.testing.assert_allclose(torch.softmax(logits, 1)[:, 1].numpy(), expected, atol=0.01)


def test_a_video_model_takes_clips_and_says_how_many_frames(detector, tmp_path):
    packaging = Packaging(modality="video", num_frames=4, frame_rate=5.0, frame_size=96)
    folder = write_gasbench_dir(detector, tmp_path / "gas", packaging)
    model, config = load_like_harness(folder)
    assert config["modality"] == "video"
    assert config["preprocessing"] == {
        "resize": [96, 96], "num_frames": 4, "max_frames": 4, "frame_rate": 5.0
    }  # fmt: skip
    clips = torch.randint(0, 256, (2, 4, 3, 96, 96), dtype=torch.uint8)
    with torch.inference_mode():
        logits = model(clips)
        frame_probs = torch.softmax(model(clips.flatten(0, 1)), 1)[:, 1].view(2, 4)
    assert logits.shape == (2, 2)
    # fewer than 12 confident frames and not 90% real: the confident strategy is the mean
    torch.testing.assert_close(
        torch.softmax(logits, 1)[:, 1], frame_probs.mean(1), atol=1e-5, rtol=0
    )


@needs_ffpp
def test_the_video_path_scores_a_decoded_ffpp_clip(detector, tmp_path):
    folder = write_gasbench_dir(detector, tmp_path / "gas", Packaging(modality="video"))
    model, config = load_like_harness(folder)
    side = config["preprocessing"]["resize"][0]
    clip = decoded_frames(FFPP / "original_sequences/youtube/c23/videos/519.mp4")
    frames = [cv2.resize(f, (side, side)) for _, f in zip(range(4), clip, strict=False)]
    x = as_batch(frames).unsqueeze(0)
    assert x.shape == (1, 4, 3, side, side) and x.dtype == torch.uint8
    with torch.inference_mode():
        logits = model(x)
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()
    assert model.fallback_rate == 0.0  # the presenter's face is found in every frame


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"input": "face"}, "gasbench.input"),
        ({"face_score": "mean"}, "gasbench.face_score"),
        ({"modality": "video", "input": "crops"}, "gasbench.modality"),
        ({"min_face_size": 5}, "gasbench.min_face_size"),
        ({"thresholds": [0.9, 0.9]}, "gasbench.thresholds"),
    ],
)
def test_a_bad_packaging_setting_is_named(detector, tmp_path, change, named):
    with pytest.raises(SettingError, match=named):
        write_gasbench_dir(detector, tmp_path / "gas", Packaging(**change))


@pytest.mark.parametrize("case", ["mostly fake", "mostly real", "mixed"])
def test_the_clip_score_is_fakeguard_s_confident_strategy(case):
    rng = np.random.default_rng(len(case))
    low, high = {"mostly fake": (0.7, 1.0), "mostly real": (0.0, 0.21), "mixed": (0.0, 1.0)}[case]
    probs = rng.uniform(low, high, 32)
    ours = gasbench_model.confident_mean(torch.tensor(probs), 0.8)
    assert float(ours) == pytest.approx(confident_mean(probs, 0.8), abs=1e-9)
