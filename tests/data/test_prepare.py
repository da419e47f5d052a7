"""`prepare`: media of any layout -> crops, manifest.parquet and failures.csv; resumable,
sharded, and never stopped by one bad file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, SHARED_DATA, face_image, user_error, write_face_video

from fakeguard.data import extract
from fakeguard.data.lock import LockedError, OutputLock
from fakeguard.data.manifest import read_manifest
from fakeguard.data.prepare import check_settings, lock_path, parse_shard, prepare
from fakeguard.data.sources import SOURCES
from fakeguard.errors import UserError


@pytest.fixture(scope="module")
def media_root(tmp_path_factory) -> Path:
    """real/ and fake/ with videos and images of every awkward kind."""
    root = tmp_path_factory.mktemp("media")
    real, fake = root / "real", root / "fake"
    real.mkdir(), fake.mkdir()
    face = face_image(160)
    write_face_video(real / "clip.mp4")
    write_face_video(fake / "clip2.mp4", size=(240, 320))
    cv2.imwrite(str(real / "grey.png"), cv2.cvtColor(face, cv2.COLOR_RGB2GRAY))
    cv2.imwrite(str(real / "deep.png"), face[..., ::-1].astype(np.uint16) * 257)
    cv2.imwrite(str(real / "blank.png"), np.full((200, 200, 3), 90, np.uint8))
    rgba = cv2.cvtColor(face, cv2.COLOR_RGB2BGRA)
    cv2.imwrite(str(fake / "alpha.png"), rgba)
    cv2.imwrite(str(fake / "tiny.png"), cv2.resize(face, (8, 8)))
    cv2.imwrite(str(fake / "face.jpg"), face[..., ::-1])
    (fake / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    return root


def run_prepare(make_cfg, root: Path, out: Path, *overrides: str) -> dict:
    cfg = make_cfg(
        "prepare",
        [
            "source=folders",
            f"root={root}",
            f"out={out}",
            "extract.frames=4",
            "progress=false",
            *overrides,
        ],
    )
    return prepare(cfg)


@pytest.fixture(scope="module")
def prepared(media_root, tmp_path_factory) -> Path:
    from helpers import compose_config

    out = tmp_path_factory.mktemp("faces")
    overrides = [
        "source=folders",
        f"root={media_root}",
        f"out={out}",
        "extract.frames=4",
        "progress=false",
    ]
    prepare(compose_config("prepare", overrides, out.parent / "run"))
    return out


def test_every_usable_item_gives_crops_and_a_manifest_row(prepared):
    manifest = pd.read_parquet(prepared / "manifest.parquet")
    counts = manifest.groupby("video_id").size().to_dict()
    assert counts == {
        "fake/alpha": 1,
        "fake/clip2": 4,
        "fake/face": 1,
        "real/clip": 4,
        "real/deep": 1,
        "real/grey": 1,
    }
    assert set(manifest["split"]) <= {"train", "val", "test"}
    assert manifest.groupby("source_id")["split"].nunique().max() == 1
    clip = manifest[manifest["video_id"] == "real/clip"]
    assert clip["frame"].tolist() == [0, 4, 7, 11]  # 4 of 12 frames, evenly spread
    assert (clip["frame_count"] == 12).all() and (clip["frame_width"] == 320).all()


def test_crops_are_lossless_pngs_of_the_face_with_landmarks_inside(prepared):
    manifest = pd.read_parquet(prepared / "manifest.parquet")
    for row in manifest.itertuples():
        crop = cv2.imread(str(prepared / row.path), cv2.IMREAD_UNCHANGED)
        assert row.path.endswith(".png") and crop.ndim == 3 and crop.dtype == np.uint8
        x1, y1, x2, y2 = row.crop_box
        assert crop.shape[:2] == (y2 - y1, x2 - x1)
        landmarks = np.asarray(row.landmarks).reshape(5, 2)
        assert (landmarks >= 0).all() and (landmarks < crop.shape[1::-1]).all()
        assert 0.85 < row.prob <= 1


def test_the_crop_holds_exactly_the_frames_pixels(prepared, media_root):
    manifest = pd.read_parquet(prepared / "manifest.parquet")
    row = manifest[manifest["video_id"] == "fake/face"].iloc[0]
    x1, y1, x2, y2 = row.crop_box
    original = cv2.imread(str(media_root / "fake" / "face.jpg"))
    np.testing.assert_array_equal(cv2.imread(str(prepared / row.path)), original[y1:y2, x1:x2])


def test_bad_items_are_recorded_with_a_reason_and_nothing_else_is_lost(prepared):
    failures = pd.read_csv(prepared / "failures.csv").set_index("video_id")["reason"]
    assert failures["fake/broken"].startswith("cannot decode")
    assert any("too small" in reason for reason in failures[["fake/tiny"]])
    assert set(failures["real/blank"]) == {"no face detected", "no face in any sampled frame"}


def test_an_interrupted_run_resumes_to_the_same_manifest(
    prepared, media_root, tmp_path, make_cfg, monkeypatch
):
    out = tmp_path / "faces"
    original = extract.extract_item
    calls = []

    def killed_on_the_third_item(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if the process were killed mid-run
        return original(*args, **kwargs)

    monkeypatch.setattr(extract, "extract_item", killed_on_the_third_item)
    with pytest.raises(KeyboardInterrupt):
        run_prepare(make_cfg, media_root, out)
    assert not (out / "manifest.parquet").exists()
    monkeypatch.setattr(extract, "extract_item", original)
    run_prepare(make_cfg, media_root, out)
    expected = pd.read_parquet(prepared / "manifest.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(out / "manifest.parquet"), expected)
    assert not list(out.rglob("*.tmp")) and not list(out.glob(".prepare-*.lock"))


def test_two_shards_and_their_merge_give_the_same_manifest_as_one_run(
    prepared, media_root, tmp_path, make_cfg
):
    out = tmp_path / "faces"
    first = run_prepare(make_cfg, media_root, out, "shard=0/2")
    assert first["manifest"] is None and not (out / "manifest.parquet").exists()
    second = run_prepare(make_cfg, media_root, out, "shard=1/2")
    assert second["manifest"] == str(out / "manifest.parquet")
    assert first["items"] + second["items"] == 9
    for name, read in (("manifest.parquet", pd.read_parquet), ("failures.csv", pd.read_csv)):
        pd.testing.assert_frame_equal(read(out / name), read(prepared / name))


def test_faces_prepared_when_the_face_track_column_was_called_track_still_serve(
    prepared, media_root, tmp_path, make_cfg
):
    """Records (a preparation resumed) and manifests that name the column `track`."""
    expected = pd.read_parquet(prepared / "manifest.parquet")
    out = tmp_path / "faces"
    shutil.copytree(prepared, out)
    (out / "manifest.parquet").unlink()
    shutil.rmtree(out / "parts")
    for path in (out / "records").rglob("*.json"):
        record = json.loads(path.read_text())
        for row in record["rows"]:
            row["track"] = row.pop("face_track")
        path.write_text(json.dumps(record))
    run_prepare(make_cfg, media_root, out)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "manifest.parquet"), expected)
    expected.rename(columns={"face_track": "track"}).to_parquet(tmp_path / "old.parquet")
    pd.testing.assert_frame_equal(read_manifest(tmp_path / "old.parquet"), expected)


def test_resuming_with_other_settings_is_refused(prepared, media_root, make_cfg):
    with pytest.raises(UserError, match="other settings"):
        run_prepare(make_cfg, media_root, prepared, "extract.margin=0.5")


@pytest.mark.parametrize("text", ["1/1", "0", "a/b", "-1/2"])
def test_a_bad_shard_is_a_clear_error(text):
    with pytest.raises(UserError, match="shard must be i/n"):
        parse_shard(text)


FFPP_METHODS = "Deepfakes, Face2Face, FaceSwap, NeuralTextures, FaceShifter, DeepFakeDetection"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["workers=-1"], "workers=-1 is too small: at least 0"),
        (["workers=two"], "workers=two must be a whole number"),
        (["progress=maybe"], "progress=maybe must be true or false"),
        (["source.name=youtube"], "source.name=youtube is not one of celebdf, dfdc, ffpp, folders"),
        (
            ["source.split.val_fraction=0"],
            "source.split.val_fraction=0 leaves no validation data: it must lie in (0, 1)",
        ),
        (["source.split.test_fraction=-0.1"], "source.split.test_fraction=-0.1 must lie in [0, 1)"),
        (
            ["source.split.val_fraction=0.6", "source.split.test_fraction=0.5"],
            "source.split.val_fraction + source.split.test_fraction = 1.1 must be below 1: the "
            "rest is the training split",
        ),
        (
            ["source=ffpp", "source.options.compression=c30"],
            "source.options.compression=c30 is not one of c23, c40, raw",
        ),
        (
            ["source=ffpp", "source.options.methods=[Deepfakes,DeepFake]"],
            "source.options.methods=[Deepfakes,DeepFake] names an unknown FF++ method "
            f"(DeepFake): choose from {FFPP_METHODS}",
        ),
        (
            ["source=ffpp", "source.options.methods=Faceswap"],
            "source.options.methods=Faceswap names an unknown FF++ method (Faceswap): "
            f"choose from {FFPP_METHODS}",
        ),
        (
            ["extract.reuse_source_boxes=yes"],
            "extract.reuse_source_boxes=yes must be true or false",
        ),
        (["shard=2/2"], "shard must be i/n with 0 <= i < n (e.g. 0/4), got '2/2'"),
    ],
)
def test_a_bad_setting_is_one_error_line_before_anything_is_listed_or_written(
    overrides, message, make_cfg, tmp_path, capsys
):
    """The root does not exist: listing it would be another error."""
    out = tmp_path / "faces"
    cfg = make_cfg(
        "prepare", ["source=folders", f"root={tmp_path}/no_root", f"out={out}", *overrides]
    )
    assert user_error(prepare, cfg, capsys) == message
    assert not out.exists()


@pytest.mark.parametrize("source", SOURCES)
def test_every_sources_default_settings_pass(source, make_cfg):
    check_settings(make_cfg("prepare", [f"source={source}", "root=r", "out=o"]))


def test_all_faces_mode_keeps_every_face_with_a_face_track(tmp_path, make_cfg):
    root = tmp_path / "media"
    (root / "real").mkdir(parents=True), (root / "fake").mkdir()
    face = face_image(128)
    cv2.imwrite(
        str(root / "real" / "two.png"), np.hstack([face, np.full_like(face, 90), face])[..., ::-1]
    )
    cv2.imwrite(str(root / "fake" / "one.png"), face[..., ::-1])
    run_prepare(make_cfg, root, tmp_path / "faces", "extract.keep=all")
    manifest = pd.read_parquet(tmp_path / "faces" / "manifest.parquet")
    two = manifest[manifest["video_id"] == "real/two"]
    assert two["face"].tolist() == [0, 1] and two["face_track"].tolist() == [0, 1]


def test_the_command_line_prepares_and_reports_typos(media_root, tmp_path):
    def run(*overrides):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "fakeguard.prepare",
                "source=folders",
                f"root={media_root}",
                f"paths.log_dir={tmp_path}",
                "progress=false",
                "extract.frames=2",
                *overrides,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    done = run(f"out={tmp_path / 'faces'}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "faces" / "manifest.parquet").is_file()
    typo = run(f"out={tmp_path / 'other'}", "source.options.compresion=c40")
    assert typo.returncode != 0 and "compresion" in typo.stderr and "Traceback" not in typo.stderr


@pytest.mark.skipif(not (SHARED_DATA / "ffpp_sample").is_dir(), reason="no ../shared/data")
def test_the_ffpp_sample_gives_linked_fakes_and_no_source_in_two_splits(tmp_path, make_cfg):
    cfg = make_cfg(
        "prepare",
        [
            "source=ffpp",
            f"root={SHARED_DATA / 'ffpp_sample'}",
            f"out={tmp_path}",
            "extract.frames=2",
            "progress=false",
        ],
    )
    prepare(cfg)
    manifest = pd.read_parquet(tmp_path / "manifest.parquet")
    videos = manifest.groupby("video_id").first()
    assert len(videos) == 7 and (manifest.groupby("video_id").size() == 2).all()
    assert (
        videos.loc["Deepfakes/c23/519_515", "source_id"]
        == videos.loc["youtube/c23/519", "source_id"]
    )
    assert videos.loc["Face2Face/c23/750_743", "source_id"] == "750"
    assert manifest.groupby("source_id")["split"].nunique().max() == 1
    assert set(videos["method"]) == {"real", "Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"}


def dfdc_part(root: Path) -> Path:
    """A DFDC training part: a real video, a fake made from it, and an entry missing on disk."""
    part = root / "dfdc_train_part_0"
    part.mkdir(parents=True)
    write_face_video(part / "real.mp4", frames=4)
    write_face_video(part / "fake.mp4", frames=4, size=(320, 240))
    metadata = {
        "real.mp4": {"label": "REAL", "split": "train", "original": None},
        "fake.mp4": {"label": "FAKE", "split": "train", "original": "real.mp4"},
        "gone.mp4": {"label": "FAKE", "split": "train", "original": "real.mp4"},
    }
    (part / "metadata.json").write_text(json.dumps(metadata))
    return root


def prepare_dfdc(tmp_path: Path, make_cfg, *overrides: str) -> pd.DataFrame:
    root = dfdc_part(tmp_path / "dfdc")
    out = tmp_path / "faces"
    prepare(
        make_cfg(
            "prepare", ["source=dfdc", f"root={root}", f"out={out}", "progress=false", *overrides]
        )
    )
    return pd.read_parquet(out / "manifest.parquet")


def test_a_dfdc_file_named_in_metadata_but_missing_is_a_recorded_failure(tmp_path, make_cfg):
    manifest = prepare_dfdc(tmp_path, make_cfg)
    assert set(manifest["source_id"]) == {"real"} and len(manifest) == 8
    assert (manifest["boxes_from"] == "").all()
    failures = pd.read_csv(tmp_path / "faces" / "failures.csv")
    assert failures[["video_id", "reason"]].values.tolist() == [
        ["dfdc_train_part_0/gone", "missing file"]
    ]


def test_a_fake_can_reuse_the_face_boxes_of_its_original(tmp_path, make_cfg):
    manifest = prepare_dfdc(tmp_path, make_cfg, "extract.reuse_source_boxes=true")
    real = manifest[manifest["label"] == 0].set_index("frame")
    fake = manifest[manifest["label"] == 1].set_index("frame")
    assert (fake["boxes_from"] == "dfdc_train_part_0/real").all()
    assert fake["box"].map(list).equals(real["box"].map(list))


def test_worker_processes_give_the_same_manifest(prepared, media_root, tmp_path, make_cfg):
    run_prepare(make_cfg, media_root, tmp_path / "faces", "workers=2")
    for name, read in (("manifest.parquet", pd.read_parquet), ("failures.csv", pd.read_csv)):
        pd.testing.assert_frame_equal(read(tmp_path / "faces" / name), read(prepared / name))


@pytest.fixture
def one_face(tmp_path) -> Path:
    """The smallest dataset: one real and one fake face photo."""
    root = tmp_path / "one_face"
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
        cv2.imwrite(str(root / label / "face.jpg"), face_image(96)[..., ::-1])
    return root


def test_an_out_that_is_a_file_is_refused_before_any_work(one_face, tmp_path, make_cfg):
    taken = tmp_path / "faces.parquet"
    taken.write_text("mine")
    with pytest.raises(UserError, match=f"^out={taken} is a file, not a folder; give a folder"):
        run_prepare(make_cfg, one_face / "nowhere", taken)  # the bad root is not even listed
    with pytest.raises(UserError, match=f"^out={taken / 'faces'} lies under {taken}, which is a"):
        run_prepare(make_cfg, one_face, taken / "faces")
    assert taken.read_text() == "mine"


def test_one_shard_cannot_run_twice_at_once_but_two_shards_can(one_face, tmp_path, make_cfg):
    out = tmp_path / "faces"
    with OutputLock(lock_path(out, 0, 1), "prepare", out):
        with pytest.raises(LockedError, match=f"another prepare is writing to {out} "):
            run_prepare(make_cfg, one_face, out)
        assert not (out / "prepare.json").exists()  # refused before writing anything
    with OutputLock(lock_path(out, 0, 2), "prepare", out):  # shard 0/2 runs elsewhere
        assert run_prepare(make_cfg, one_face, out, "shard=1/2")["shard"] == "1/2"
    assert not list(out.glob(".prepare-*.lock"))


def test_the_command_line_refuses_a_file_or_a_busy_out_in_one_line(one_face, tmp_path):
    def run(out: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "fakeguard.prepare",
                "source=folders",
                f"root={one_face}",
                f"out={out}",
                f"paths.log_dir={tmp_path}",
                "progress=false",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def one_error_line(result: subprocess.CompletedProcess) -> str:
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        return line

    taken = tmp_path / "taken"
    taken.write_text("")
    assert one_error_line(run(taken)) == (
        f"error: out={taken} is a file, not a folder; give a folder for the crops and the "
        "manifest (it is created if missing)"
    )
    out = tmp_path / "faces"
    lock = lock_path(out, 0, 1)
    with OutputLock(lock, "prepare", out):  # as if another prepare were running
        since = json.loads(lock.read_text())["since"]
        line = one_error_line(run(out))
    assert line == (
        f"error: another prepare is writing to {out} (pid {os.getpid()}, since {since}); "
        f"wait for it or remove {lock} if that process is gone"
    )
