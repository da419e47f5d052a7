"""predict: raw media -> faces as preparation cuts them -> detector(s) -> one row per file."""

from __future__ import annotations

import os

import av
import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from helpers import (
    CONFIGS,
    FLOAT32_NOISE,
    SHARED_DATA,
    face_image,
    user_error,
    write_checkpoint,
    write_face_video,
)
from omegaconf import OmegaConf

from fakeguard.data.extract import ExtractSettings, extract_item, load_media
from fakeguard.data.faces import FaceDetector
from fakeguard.data.images import read_rgb
from fakeguard.errors import DataError, SettingError, UserError
from fakeguard.inference.ensemble import Ensemble
from fakeguard.inference.faces import file_faces, media_item
from fakeguard.inference.run import check_settings, input_entries, predict
from fakeguard.models.detectors import Detector

FFPP = SHARED_DATA / "ffpp_sample"


def detector(seed: int, size: int = 64) -> Detector:
    torch.manual_seed(seed)
    return Detector(weights="none", img_size=size).eval()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A face video, a face photo, a corrupt video, a faceless image and a text file."""
    root = tmp_path_factory.mktemp("media")
    write_face_video(root / "clip.mp4", frames=6)
    photo = np.full((240, 320, 3), 90, np.uint8)
    photo[40:200, 80:240] = face_image(160)
    cv2.imwrite(str(root / "photo.jpg"), photo[..., ::-1])
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    cv2.imwrite(str(root / "wall.png"), np.full((200, 200, 3), 128, np.uint8))
    (root / "notes.txt").write_text("not media")
    return root


def test_one_row_per_media_file_with_errors_instead_of_crashes(make_cfg, media, tmp_path):
    ckpt = write_checkpoint(tmp_path / "a.ckpt", detector(0))
    out = tmp_path / "predictions.csv"
    overrides = [f"ckpt_path={ckpt}", f"input={media}", f"out={out}", "extract.frames=6"]
    predict(make_cfg("predict", overrides))
    table = pd.read_csv(out, keep_default_na=False).set_index("path")
    assert sorted(table.index) == sorted(
        str(media / n) for n in ("broken.mp4", "clip.mp4", "notes.txt", "photo.jpg", "wall.png")
    )
    clip, photo = table.loc[str(media / "clip.mp4")], table.loc[str(media / "photo.jpg")]
    assert (clip["faces"], clip["frames"], clip["frames_sampled"], clip["error"]) == (6, 6, 6, "")
    assert (photo["faces"], photo["frames"], photo["error"]) == (1, 1, "")
    for row in (clip, photo):
        assert 0 <= float(row["prob_fake"]) <= 1
        assert int(row["label"]) == int(float(row["prob_fake"]) >= 0.5)
    assert "cannot decode" in table.loc[str(media / "broken.mp4"), "error"]
    assert table.loc[str(media / "wall.png"), "error"].startswith("no face detected")
    assert table.loc[str(media / "wall.png"), "prob_fake"] == ""
    assert table.loc[str(media / "notes.txt"), "error"] == "not an image or video file (.txt)"


def test_crops_are_the_ones_preparation_writes(media, tmp_path):
    settings, faces = ExtractSettings(frames=6), FaceDetector()
    item = media_item(media / "clip.mp4")
    record = extract_item(item, load_media(item, settings.frames), faces, settings, tmp_path)
    prepared = [read_rgb(tmp_path / row["path"]) for row in record["rows"]]
    found = file_faces(media / "clip.mp4", faces, settings)
    assert found.frames == [row["frame"] for row in record["rows"]]
    assert len(found.crops) == len(prepared) == 6
    for ours, theirs in zip(found.crops, prepared, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_an_ensemble_averages_its_members_at_their_own_input_sizes(media):
    crops = file_faces(media / "clip.mp4", FaceDetector(), ExtractSettings(frames=3)).crops
    a, b = detector(1, 64), detector(2, 96)
    alone = [Ensemble([d]).predict(crops) for d in (a, b)]
    assert not np.allclose(alone[0], alone[1])
    # Not bit for bit: batches of 2 crops, not 3 (1.3e-7 relative seen on another CPU).
    averaged = Ensemble([a, b], batch_size=2).predict(crops)
    np.testing.assert_allclose(averaged, np.mean(alone, 0), **FLOAT32_NOISE)


def test_mean_aggregation_is_the_mean_of_the_crops(make_cfg, media, tmp_path):
    net = detector(3)
    ckpt = write_checkpoint(tmp_path / "a.ckpt", net)
    clip = media / "clip.mp4"
    cfg = make_cfg(
        "predict", [f"ckpt_path={ckpt}", f"input={clip}", f"out={tmp_path}/p.csv", "aggregate=mean"]
    )
    table = predict(cfg)
    crops = file_faces(clip, FaceDetector(), ExtractSettings(**cfg.extract)).crops
    assert table.loc[0, "prob_fake"] == pytest.approx(Ensemble([net]).predict(crops).mean())


def test_predict_extracts_faces_with_the_settings_prepare_uses():
    prepare, predict_cfg = (OmegaConf.load(CONFIGS / f"{n}.yaml") for n in ("prepare", "predict"))
    assert predict_cfg.detector == prepare.detector
    assert predict_cfg.extract == {
        k: v for k, v in prepare.extract.items() if k in predict_cfg.extract
    }
    assert set(prepare.extract) - set(predict_cfg.extract) == {
        "reuse_source_boxes"
    }  # needs a dataset


def test_every_entry_of_a_folder_gets_a_row_with_the_reason(make_cfg, tmp_path):
    folder = tmp_path / "input"
    (folder / "sub" / "deeper").mkdir(parents=True)
    photo = np.full((240, 320, 3), 90, np.uint8)
    photo[40:200, 80:240] = face_image(160)
    cv2.imwrite(str(folder / "sub" / "deeper" / "photo.jpg"), photo[..., ::-1])
    (folder / "notes.txt").write_text("not media")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "README").write_text("")
    (folder / "gone.mp4").symlink_to(tmp_path / "deleted.mp4")
    (folder / "self.jpg").symlink_to("self.jpg")
    (folder / "sub" / "up").symlink_to("..")  # a folder loop: walked once, not forever
    (folder / "again").symlink_to("sub")  # the same folder under a second name
    (folder / "photo_link.jpg").symlink_to(folder / "sub" / "deeper" / "photo.jpg")
    os.mkfifo(folder / "pipe.mp4")  # would block a decoder forever
    ckpt = write_checkpoint(tmp_path / "a.ckpt", detector(0))
    out = tmp_path / "p.csv"
    predict(make_cfg("predict", [f"ckpt_path={ckpt}", f"input={folder}", f"out={out}"]))
    table = pd.read_csv(out, keep_default_na=False)
    errors = dict(zip(table["path"].str.removeprefix(f"{folder}/"), table["error"], strict=True))
    assert errors == {
        ".DS_Store": "not an image or video file (no suffix)",
        "README": "not an image or video file (no suffix)",
        "again": f"link to a folder walked already ({folder / 'sub'})",
        "gone.mp4": f"broken symlink (to {tmp_path / 'deleted.mp4'})",
        "notes.txt": "not an image or video file (.txt)",
        "photo_link.jpg": "",
        "pipe.mp4": "not a regular file (a FIFO)",
        "self.jpg": "symlink loop",
        "sub/deeper/photo.jpg": "",
        "sub/up": f"symlink loop (back to {folder}, walked once)",
    }
    assert (table["faces"] > 0).sum() == 2


def test_a_folder_without_media_and_a_folder_as_out_are_clear_errors(make_cfg, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("")
    with pytest.raises(DataError, match=r"no images or videos under .*docs \(1 other entries\)"):
        input_entries(tmp_path / "docs")
    cfg = make_cfg("predict", ["ckpt_path=a.ckpt", f"input={tmp_path}", f"out={tmp_path}"])
    with pytest.raises(UserError, match="is a folder; name the CSV"):
        predict(cfg)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["threshold=1.5"], "threshold=1.5 must lie in [0, 1]"),
        (["threshold=-0.1"], "threshold=-0.1 must lie in [0, 1]"),
        (["threshold=high"], "threshold=high must be a number in [0, 1]"),
        (["aggregate=median"], "aggregate=median is not one of mean, confident"),
        (["batch_size=0"], "batch_size=0 is too small: at least 1"),
        (["batch_size=8.5"], "batch_size=8.5 must be a whole number"),
        (["device=gpu"], "device=gpu is not one of cpu, cuda, cuda:<index>, auto"),
        (
            ["device=cuda"],
            "device=cuda needs a CUDA GPU and none is visible: use device=cpu or device=auto",
        ),
        (["ckpt_path=[]"], "ckpt_path is empty: give one checkpoint or a list [a.ckpt,b.ckpt]"),
    ],
)
def test_a_bad_setting_is_one_error_line_before_any_input_or_checkpoint_is_read(
    overrides, message, make_cfg, tmp_path, capsys, monkeypatch
):
    """The input and the checkpoint do not exist: reading either would be another error."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "p.csv"
    needs = ["ckpt_path=never_read.ckpt", f"input={tmp_path}/no_input", f"out={out}"]
    cfg = make_cfg("predict", [*needs, *overrides])
    assert user_error(predict, cfg, capsys) == message
    assert not out.exists()


def test_a_gpu_that_is_not_there_is_named(make_cfg, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    for device in ("auto", "cpu", "cuda", "cuda:1"):
        check_settings(make_cfg("predict", ["ckpt_path=a.ckpt", "input=x", f"device={device}"]))
    cfg = make_cfg("predict", ["ckpt_path=a.ckpt", "input=x", "device=cuda:2"])
    with pytest.raises(
        SettingError, match=r"^device=cuda:2 is not a visible GPU: choose from cuda:0, cuda:1$"
    ):
        check_settings(cfg)


def cut_face_video(path, frames: int, keep: float):
    """An H.264 face clip with its index in front (faststart), cut to `keep` of its bytes:
    the header still promises every frame, the data ends early."""
    full = write_face_video(path.with_name("full.mp4"), frames=frames)
    with (
        av.open(str(full)) as source,
        av.open(str(path), "w", options={"movflags": "faststart"}) as cut,
    ):
        stream = cut.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                cut.mux(packet)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def test_a_truncated_video_is_scored_with_a_note_prepare_records_too(make_cfg, tmp_path):
    cut = cut_face_video(tmp_path / "cut.mp4", frames=24, keep=0.85)
    settings, faces = ExtractSettings(frames=8), FaceDetector()
    found = file_faces(cut, faces, settings)
    assert 0 < found.frames_sampled < 8 and len(found.crops) == found.frames_sampled
    assert found.error == f"truncated: {found.frames_sampled} of 8 sampled frames decode"
    ckpt = write_checkpoint(tmp_path / "a.ckpt", detector(0))
    overrides = [f"ckpt_path={ckpt}", f"input={cut}", f"out={tmp_path}/p.csv", "extract.frames=8"]
    row = predict(make_cfg("predict", overrides)).iloc[0]
    assert row["error"] == found.error and 0 <= row["prob_fake"] <= 1  # noted, and scored
    # Preparation records the same words, for each frame it could not decode.
    item = media_item(cut)
    record = extract_item(item, load_media(item, settings.frames), faces, settings, tmp_path)
    assert {f["reason"] for f in record["failures"]} == {found.error}
    assert len(record["failures"]) == 8 - found.frames_sampled
    assert [row["frame"] for row in record["rows"]] == found.frames


@pytest.mark.slow
@pytest.mark.skipif(not FFPP.is_dir(), reason="../shared/data/ffpp_sample is absent")
def test_predict_on_real_ffpp_clips(make_cfg, tmp_path):
    ckpt = write_checkpoint(tmp_path / "a.ckpt", detector(0))
    videos = tmp_path / "videos"  # links, never copies of the clips
    videos.mkdir()
    for clip in (
        FFPP / "original_sequences/youtube/c23/videos/519.mp4",
        next((FFPP / "manipulated_sequences").rglob("*.mp4")),
    ):
        (videos / clip.name).symlink_to(clip)
    table = predict(
        make_cfg("predict", [f"ckpt_path={ckpt}", f"input={videos}", f"out={tmp_path}/p.csv"])
    )
    assert list(table["error"]) == ["", ""] and list(table["faces"]) == [32, 32]
