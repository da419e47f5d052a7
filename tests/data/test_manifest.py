"""Manifests: atomic writes, clear errors, rows -> samples; data=faces reads them."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import make_manifest

from fakeguard.data.datamodule import ManifestDataModule, select
from fakeguard.data.manifest import read_manifest
from fakeguard.errors import DataError
from fakeguard.files import write_atomically


def test_a_failed_write_leaves_neither_a_partial_file_nor_a_temporary(tmp_path):
    target = tmp_path / "manifest.parquet"

    def crash(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomically(target, crash)
    assert list(tmp_path.iterdir()) == []


def test_atomic_writes_get_the_mode_a_plain_open_gives(tmp_path):
    """Not mkstemp's 0600: a prepared dataset must be shareable as the umask allows."""
    write_atomically(tmp_path / "atomic.csv", lambda tmp: tmp.write_text("a\n"))
    (tmp_path / "plain.csv").write_text("a\n")
    modes = [stat.S_IMODE((tmp_path / n).stat().st_mode) for n in ("atomic.csv", "plain.csv")]
    assert modes[0] == modes[1]
    # And under another umask (read once, at import), in a fresh process.
    code = (
        "import os, stat, sys; from pathlib import Path; os.umask(0o027);"
        "from fakeguard.files import write_atomically as w; p = Path(sys.argv[1]);"
        "w(p, lambda tmp: tmp.write_text('a')); print(oct(stat.S_IMODE(p.stat().st_mode)))"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "shared.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == "0o640"


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
    sampler = dm.train_sampler(dm.dataset("train", train=True), seed=0)
    labels = []
    for epoch in range(20):
        sampler.set_epoch(epoch)
        labels += [dm.splits["train"][i].label for i, _ in sampler]
    assert np.mean(labels) == pytest.approx(0.5, abs=0.05)  # 2 of 3 crops are fake


def test_a_minimal_hand_written_csv_manifest_with_only_a_test_split_can_be_evaluated(tmp_path):
    crops = read_manifest(make_manifest(tmp_path))
    test = crops[crops["split"] == "test"]
    test[["path", "label", "source_id", "split"]].to_csv(tmp_path / "mine.csv", index=False)
    dm = ManifestDataModule(str(tmp_path / "mine.csv"), image_size=48, batch_size=4)
    dm.setup("test")
    assert len(dm.split("test")) == 12 and not dm.split("train")
    assert next(iter(dm.test_dataloader()))["image"].shape == (4, 3, 48, 48)
    with pytest.raises(DataError, match="train split needs both"):
        dm.setup("fit")


def test_a_manifest_label_other_than_0_or_1_is_one_clear_error(tmp_path):
    pd.DataFrame({"path": ["a.png"], "label": [2], "source_id": ["a"], "split": ["test"]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    with pytest.raises(DataError, match="label must be 0"):
        read_manifest(tmp_path / "m.csv")
