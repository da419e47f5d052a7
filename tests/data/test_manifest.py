"""Manifests: atomic writes, clear errors, rows -> samples; data=faces reads them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from helpers import face_image

from fakeguard.data.datamodule import ManifestDataModule, select
from fakeguard.data.manifest import (
    COLUMNS,
    manifest_frame,
    read_manifest,
    write_atomically,
    write_manifest,
)
from fakeguard.errors import DataError

METHODS = ("real", "Deepfakes", "FaceSwap")


def make_manifest(root: Path, videos_per_split: int = 2) -> Path:
    """Per split, real videos and one fake per method made from each, 2 crops per video."""
    crop = face_image(64)
    rows = []
    for split in ("train", "val", "test"):
        for v in range(videos_per_split):
            source = f"{split}{v}"
            for method in METHODS:
                video_id = f"{method}/{source}"
                for frame in (0, 5):
                    path = f"crops/{video_id}/{frame:06d}_0.png"
                    (root / path).parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(root / path), crop[..., ::-1])
                    rows.append(
                        {
                            **dict.fromkeys(COLUMNS, ""),
                            "path": path,
                            "label": int(method != "real"),
                            "method": method,
                            "compression": "c23",
                            "dataset": "ffpp",
                            "video_id": video_id,
                            "source_id": source,
                            "split": split,
                            "frame": frame,
                            "face": 0,
                            "track": 0,
                            "landmarks": [20, 25, 44, 25, 32, 35, 24, 45, 40, 45],
                        }
                    )
    write_manifest(root / "manifest.parquet", manifest_frame(rows))
    return root / "manifest.parquet"


def test_a_failed_write_leaves_neither_a_partial_file_nor_a_temporary(tmp_path):
    target = tmp_path / "manifest.parquet"

    def crash(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomically(target, crash)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_manifest_says_how_to_make_one(tmp_path):
    with pytest.raises(DataError, match="fakeguard.prepare"):
        read_manifest(tmp_path / "manifest.parquet")
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "other.parquet")
    with pytest.raises(DataError, match="not a fakeguard manifest"):
        read_manifest(tmp_path / "other.parquet")


def test_faces_datamodule_uses_the_manifest_splits_and_yields_video_ids(tmp_path):
    dm = ManifestDataModule(str(make_manifest(tmp_path)), image_size=48, batch_size=4)
    dm.setup()
    assert {name: len(s) for name, s in dm.splits.items()} == {"train": 12, "val": 12, "test": 12}
    assert all(s.source_id.startswith("val") for s in dm.splits["val"])
    batch = next(iter(dm.val_dataloader()))
    assert batch["image"].shape == (4, 3, 48, 48) and len(batch["video_id"]) == 4
    assert batch["video_id"][0] in {"real/val0", "Deepfakes/val0", "FaceSwap/val0"}
    assert torch.isfinite(batch["landmarks"]).all()


def test_method_selection_keeps_the_real_crops(tmp_path):
    manifest = read_manifest(make_manifest(tmp_path))
    kept = select(manifest, methods=["Deepfakes"])
    assert set(kept["method"]) == {"real", "Deepfakes"}
    with pytest.raises(DataError, match="Deepfake"):
        select(manifest, methods=["Deepfake"])  # a typo names what exists
    assert select(manifest, compressions=["c23"]).shape == manifest.shape


def test_balanced_sampling_draws_real_and_fake_equally_often(tmp_path):
    dm = ManifestDataModule(
        str(make_manifest(tmp_path, 6)), image_size=32, batch_size=4, balance=True
    )
    torch.manual_seed(0)
    sampler = dm.train_sampler(dm.dataset("train", train=True))
    labels = np.array([dm.splits["train"][i].label for _ in range(20) for i in sampler])
    assert labels.mean() == pytest.approx(0.5, abs=0.05)  # 2 of 3 crops are fake
