"""Scoring a folder as the gasbench harness would: sn34 per pass computed by hand, the blend,
the listing of root/real and root/fake with recorded skips, image and video models."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from helpers import face_image, write_face_video
from safetensors.torch import save_file

from fakeguard.errors import DataError
from fakeguard.export.benchmark import (
    FolderScores,
    PassScores,
    blend,
    list_media,
    score_folder,
    summary,
)
from fakeguard.export.gasbench import import_model_py
from fakeguard.export.harness import (
    HarnessInput,
    harness_input,
    load_harness_model,
    model_input,
    p_not_real,
    read_image,
    read_model_config,
)

pytestmark = pytest.mark.usefixtures("one_thread")


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
