"""The real/ + fake/ folder source: usable images in, bad files skipped and counted."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
import torch
from helpers import SHARED_DATA

from fakeguard.data.datamodule import FolderDataModule
from fakeguard.data.folders import scan_folders
from fakeguard.errors import DataError


def write_faces(folder, count, value):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        cv2.imwrite(str(folder / f"img_{i:03d}.png"), np.full((40, 30, 3), value, np.uint8))


@pytest.fixture
def faces(tmp_path):
    write_faces(tmp_path / "real", 30, 60)
    write_faces(tmp_path / "fake" / "method_a", 30, 190)
    return tmp_path


def test_labels_come_from_the_class_folder(faces):
    samples = scan_folders(faces)
    assert len(samples) == 60
    assert {s.label for s in samples if "/real/" in s.path} == {0}
    assert {s.label for s in samples if "/fake/" in s.path} == {1}
    assert len({s.source_id for s in samples}) == 60


def test_bad_files_are_skipped_and_counted(faces, caplog):
    (faces / "real" / "notes.txt").write_text("not an image")
    (faces / "real" / "broken.jpg").write_bytes(b"\xff\xd8 garbage")
    (faces / "fake" / "empty.png").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        samples = scan_folders(faces)
    assert len(samples) == 60
    assert "skipped 3 file(s)" in caplog.text


def test_missing_directory_is_one_clear_error(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "nowhere")):
        scan_folders(tmp_path / "nowhere")


def test_empty_class_folder_is_one_clear_error(tmp_path):
    write_faces(tmp_path / "real", 3, 60)
    (tmp_path / "fake").mkdir()
    with pytest.raises(DataError, match="no usable images in .*fake"):
        scan_folders(tmp_path)


def test_datamodule_serves_float_pixels_and_keeps_splits_apart(faces):
    dm = FolderDataModule(
        str(faces), image_size=32, batch_size=4, val_fraction=0.3, test_fraction=0.3
    )
    dm.setup()
    ids = {name: {s.source_id for s in samples} for name, samples in dm.splits.items()}
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"])
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].dtype == torch.float32 and batch["image"].shape[1:] == (3, 32, 32)
    assert batch["image"].min() >= 0.0 and batch["image"].max() <= 1.0


def test_an_image_that_fails_to_decode_is_skipped_during_training(faces, caplog):
    dm = FolderDataModule(str(faces), image_size=32, batch_size=4)
    dm.setup()
    dataset = dm.dataset("train")
    victim = dataset.samples[0].path
    with open(victim, "r+b") as handle:  # keep a valid PNG header, destroy the pixel data
        handle.seek(40)
        handle.write(b"\x00" * 64)
        handle.truncate(120)
    with caplog.at_level(logging.WARNING):
        item = dataset[0]
    assert item["index"] == 1 and "skipping unreadable image" in caplog.text


@pytest.mark.skipif(not (SHARED_DATA / "real_and_fake_face_160").is_dir(), reason="no shared data")
def test_real_and_fake_face_160_loads():
    dm = FolderDataModule(str(SHARED_DATA / "real_and_fake_face_160"), image_size=64)
    dm.setup()
    assert sum(len(s) for s in dm.splits.values()) == 1081 + 960
    assert dm.dataset("val")[0]["image"].shape == (3, 64, 64)


def _split_layout(root, splits=("train", "val", "test"), count=6):
    for i, name in enumerate(splits):
        write_faces(root / name / "real", count, 40 + i)
        write_faces(root / name / "fake", count, 200 + i)
    return root


def test_split_folders_are_used_as_given(tmp_path):
    dm = FolderDataModule(str(_split_layout(tmp_path)), image_size=32, batch_size=4)
    dm.setup("fit")
    for name, samples in dm.splits.items():
        assert len(samples) == 12
        assert all(f"/{name}/" in s.path for s in samples)


def test_a_missing_split_folder_is_carved_from_train(tmp_path):
    root = _split_layout(tmp_path, ("train", "test"), count=30)
    dm = FolderDataModule(str(root), image_size=32, val_fraction=0.3, test_fraction=0.3)
    dm.setup("fit")
    assert all("/test/" in s.path for s in dm.split("test")) and len(dm.split("test")) == 60
    assert dm.split("val") and all("/train/" in s.path for s in dm.split("val"))
    assert len(dm.split("train")) + len(dm.split("val")) == 60


def test_mixing_the_two_layouts_is_one_clear_error(tmp_path):
    root = _split_layout(tmp_path, ("train",))
    write_faces(root / "real", 2, 50)
    with pytest.raises(DataError, match="use one layout"):
        FolderDataModule(str(root)).split("train")


def test_a_test_folder_is_the_whole_test_split_and_the_root_keeps_the_rest(faces, tmp_path):
    held_out = tmp_path / "held_out"
    write_faces(held_out / "real", 5, 70)
    write_faces(held_out / "fake", 4, 180)
    dm = FolderDataModule(str(faces), image_size=32, test_root=str(held_out))
    assert len(dm.split("test")) == 9
    assert all(str(held_out) in s.path for s in dm.split("test"))
    assert len(dm.split("train")) + len(dm.split("val")) == 60  # nothing of root lost


def test_evaluating_a_test_folder_needs_no_training_data(tmp_path):
    held_out = tmp_path / "held_out"
    write_faces(held_out / "real", 3, 70)
    write_faces(held_out / "fake", 3, 180)
    dm = FolderDataModule(str(tmp_path / "gone"), image_size=32, test_root=str(held_out))
    dm.setup("test")
    assert len(dm.split("test")) == 6
    with pytest.raises(DataError, match="data directory not found"):
        dm.setup("fit")


def test_a_split_folder_layout_with_only_test_can_be_evaluated(tmp_path):
    root = _split_layout(tmp_path, ("test",))
    dm = FolderDataModule(str(root), image_size=32)
    dm.setup("test")
    assert len(dm.split("test")) == 12 and not dm.split("train")
    with pytest.raises(DataError, match="train split needs both"):
        dm.setup("fit")


def test_a_small_validation_split_warns_and_says_what_to_do(faces, caplog):
    dm = FolderDataModule(str(faces), image_size=32, val_fraction=0.3)
    with caplog.at_level(logging.WARNING):
        dm.setup("fit")
    assert "too few" in caplog.text and "data.val_root" in caplog.text
