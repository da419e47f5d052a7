"""The face-extraction settings `prepare` and `predict` share (`extract.*`, `detector.*`): both
commands check them with one function, before any media is listed, any checkpoint read or any
output written, and say in one line which values work."""

from __future__ import annotations

import pytest
import torch
from helpers import user_error

from fakeguard.data.extract import ExtractSettings, check_face_settings
from fakeguard.data.faces import FaceDetector
from fakeguard.data.prepare import prepare
from fakeguard.errors import SettingError
from fakeguard.inference.run import predict

# command -> (function, what else it needs: paths that must never be read or written)
COMMANDS = {
    "predict": (
        predict,
        lambda tmp: ["ckpt_path=never_read.ckpt", f"input={tmp}/no_input", f"out={tmp}/p.csv"],
    ),
    "prepare": (prepare, lambda tmp: ["source=folders", f"root={tmp}/no_root", f"out={tmp}/out"]),
}
FACE_SETTINGS = [
    ("extract.frames=0", "extract.frames=0 is too small: at least 1"),
    ("extract.frames=2.5", "extract.frames=2.5 must be a whole number"),
    ("extract.margin=-0.1", "extract.margin=-0.1 must lie in [0, inf)"),
    ("extract.margin=wide", "extract.margin=wide must be a number in [0, inf)"),
    ("extract.keep=biggest", "extract.keep=biggest is not one of largest, all"),
    ("extract.track_iou=1.5", "extract.track_iou=1.5 must lie in [0, 1]"),
    (
        "+extract.fps=5",
        "extract.fps is not a setting: choose from extract.frames, extract.margin, "
        "extract.keep, extract.track_iou, extract.reuse_source_boxes",
    ),
    (
        "detector.thresholds=[0.85,0.95]",
        "detector.thresholds=[0.85,0.95] must be three thresholds in (0, 1), one per MTCNN "
        "stage (e.g. [0.85,0.95,0.95])",
    ),
    (
        "detector.thresholds=[0.85,0.95,1.0]",
        "detector.thresholds=[0.85,0.95,1.0] must be three thresholds in (0, 1), one per MTCNN "
        "stage (e.g. [0.85,0.95,0.95])",
    ),
    (
        "detector.thresholds=0.9",
        "detector.thresholds=0.9 must be three thresholds in (0, 1), one per MTCNN stage "
        "(e.g. [0.85,0.95,0.95])",
    ),
    ("detector.min_face_size=5", "detector.min_face_size=5 is too small: at least 12 px"),
    ("detector.batch_size=0", "detector.batch_size=0 is too small: at least 1"),
    ("detector.device=gpu", "detector.device=gpu is not one of cpu, cuda, cuda:<index>"),
    (
        "detector.device=cuda",
        "detector.device=cuda needs a CUDA GPU and none is visible: use detector.device=cpu",
    ),
    (
        "+detector.scale=2",
        "detector.scale is not a setting: choose from detector.thresholds, "
        "detector.min_face_size, detector.batch_size, detector.device",
    ),
]


@pytest.fixture
def no_gpu(monkeypatch):
    """This machine without a GPU, whatever it has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.usefixtures("no_gpu")
@pytest.mark.parametrize(("override", "message"), FACE_SETTINGS)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_face_setting_is_one_error_line_before_any_work(
    command, override, message, make_cfg, tmp_path, capsys
):
    function, needs = COMMANDS[command]
    cfg = make_cfg(command, [*needs(tmp_path), override])
    assert user_error(function, cfg, capsys) == message
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_default_face_settings_and_the_smallest_values_pass(command, make_cfg, tmp_path):
    _, needs = COMMANDS[command]
    check_face_settings(make_cfg(command, needs(tmp_path)))
    smallest = [
        "extract.frames=1",
        "extract.margin=0",
        "extract.track_iou=0",
        "extract.keep=all",
        "detector.thresholds=[0.01,0.5,0.99]",
        "detector.min_face_size=12",
        "detector.batch_size=1",
    ]
    check_face_settings(make_cfg(command, [*needs(tmp_path), *smallest]))


def test_the_constructors_check_with_the_same_messages(no_gpu):
    with pytest.raises(SettingError, match=r"^extract.keep=biggest is not one of largest, all$"):
        ExtractSettings(keep="biggest")
    with pytest.raises(SettingError, match=r"^extract.reuse_source_boxes=yes must be true or"):
        ExtractSettings(reuse_source_boxes="yes")
    with pytest.raises(SettingError, match=r"^detector.min_face_size=5 is too small: at least 12"):
        FaceDetector(min_face_size=5)
    with pytest.raises(SettingError, match=r"^detector.device=cuda needs a CUDA GPU"):
        FaceDetector(device="cuda")
