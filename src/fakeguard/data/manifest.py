"""The face manifest: one row per crop, written atomically, read back as FaceSamples."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fakeguard.data.samples import FaceSample
from fakeguard.errors import DataError
from fakeguard.files import write_atomically

# Every manifest has these columns, in this order. Boxes are in frame pixels (x1, y1, x2, y2);
# `landmarks` holds the 5 MTCNN points as 10 numbers (x, y, ...) in crop pixels, so
# frame coordinates are landmarks + crop_box[:2]. `path` is relative to the manifest.
# `face_track` numbers the faces of one video that IoU matching links across frames (not a
# robustness suite track).
COLUMNS = (
    "path",
    "label",
    "dataset",
    "method",
    "compression",
    "video_id",
    "source_id",
    "split",
    "kind",
    "media",
    "frame",
    "face",
    "face_track",
    "frame_count",
    "frame_height",
    "frame_width",
    "box",
    "crop_box",
    "landmarks",
    "prob",
    "boxes_from",
)
FAILURE_COLUMNS = ("dataset", "video_id", "media", "frame", "reason")
ROW_ORDER = ["video_id", "frame", "face"]
# Manifests prepared before `face_track` got its name call the column `track`, and so do the
# records and parts of a preparation started then. They are renamed on reading, here only
# (`read_manifest` and `manifest_frame`, which every record and part goes through), so prepared
# datasets stay usable and such a preparation resumes.
RENAMED = {"track": "face_track"}


def manifest_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """Rows (dicts with every column) -> a manifest DataFrame in canonical order."""
    rows = [
        row if RENAMED.keys().isdisjoint(row) else {RENAMED.get(k, k): v for k, v in row.items()}
        for row in rows
    ]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame = frame.astype(
        {"label": "int64", "frame": "int64", "face": "int64", "face_track": "int64"}
    )
    return frame.sort_values(ROW_ORDER, kind="stable").reset_index(drop=True)


def failures_frame(rows: Sequence[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(FAILURE_COLUMNS)).astype({"frame": "int64"})
    return frame.sort_values(["video_id", "frame", "reason"], kind="stable").reset_index(drop=True)


def write_manifest(path: Path, manifest: pd.DataFrame) -> None:
    write_atomically(path, lambda tmp: manifest.to_parquet(tmp, index=False))


def write_failures(path: Path, failures: pd.DataFrame) -> None:
    write_atomically(path, lambda tmp: failures.to_csv(tmp, index=False))


# What a hand-written manifest needs (README "Bring your own data"): a crop file relative to the
# manifest, 0 = real / 1 = fake, the group a split must keep together, and train/val/test.
REQUIRED_COLUMNS = ("path", "label", "source_id", "split")


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Load a manifest (.parquet as prepare writes it, or a hand-written .csv with at least
    `REQUIRED_COLUMNS`), or raise DataError saying how to make one."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"manifest not found: {path}. Make one with "
            "`python -m fakeguard.prepare source=... root=... out=...`"
        )
    if path.suffix.lower() == ".csv":
        manifest = pd.read_csv(path, dtype={"source_id": str, "split": str, "path": str})
    else:
        manifest = pd.read_parquet(path)
    manifest = manifest.rename(columns=RENAMED)
    missing = [c for c in REQUIRED_COLUMNS if c not in manifest.columns]
    if missing:
        raise DataError(
            f"{path} is not a fakeguard manifest: no column(s) {missing}; a manifest needs "
            f"{list(REQUIRED_COLUMNS)}"
        )
    bad = sorted(set(manifest["label"]) - {0, 1})
    if bad:
        raise DataError(f"{path}: label must be 0 (real) or 1 (fake), found {bad}")
    return manifest


def manifest_samples(manifest: pd.DataFrame, root: Path) -> list[FaceSample]:
    """Rows -> FaceSamples with absolute crop paths and (5, 2) crop landmarks."""
    samples = []
    for row in manifest.itertuples(index=False):
        landmarks = getattr(row, "landmarks", None)
        samples.append(
            FaceSample(
                label=int(row.label),
                source_id=str(row.source_id),
                path=str(root / row.path),
                landmarks=None
                if landmarks is None
                else np.asarray(landmarks, dtype=np.float32).reshape(5, 2),
                method=str(getattr(row, "method", "")),
                video_id=str(getattr(row, "video_id", "")),
                media=str(getattr(row, "media", "") or ""),
                kind=str(getattr(row, "kind", "") or ""),
                frame=int(getattr(row, "frame", -1)),
                crop_box=_box(getattr(row, "crop_box", None)),
            )
        )
    return samples


def _box(value) -> tuple[int, int, int, int] | None:
    if value is None or len(value) != 4:
        return None
    return tuple(int(v) for v in value)
