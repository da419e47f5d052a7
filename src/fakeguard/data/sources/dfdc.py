"""DFDC: training parts (`dfdc_train_part_*/metadata.json`) and test sets (a folder with
`labels.csv`)."""

from __future__ import annotations

import csv
from pathlib import Path

from fakeguard.data.sources.common import (
    MediaItem,
    existing_dir,
    finish,
    make_item,
    read_json,
    register,
)
from fakeguard.errors import DataError


@register("dfdc")
def dfdc_items(root: str | Path) -> list[MediaItem]:
    """DFDC videos: training parts from metadata.json, test sets from labels.csv.

    A part or test set is `root` itself or a folder one level down holding that file. Entries
    missing on disk are kept: prepare records them as failures.
    """
    root = existing_dir(root, "DFDC", "dfdc_train_part_*/ folders")
    parts, tests = _dirs_with(root, "metadata.json"), _dirs_with(root, "labels.csv")
    if not parts and not tests:
        raise DataError(
            f"no DFDC metadata.json or labels.csv in {root} or the folders one level down: "
            "point the root at the folder holding dfdc_train_part_*/ (or a single part)"
        )
    entries = [(part, name, *info) for part in parts for name, info in _metadata(part).items()]
    # Fakes name their original by file name; it may sit in another part. The metadata's own
    # "split" is "train" everywhere, so it is not used: prepare assigns splits by source.
    ids = {name: _video_id(part, name) for part, name, _, _ in entries}
    items = [
        make_item(
            "dfdc",
            part / name,
            ids[name],
            source_id=Path(original or name).stem,  # a fake with no original stands alone
            method="dfdc-fake" if fake else "real",
            original=ids.get(original) if original else None,
        )
        for part, name, fake, original in entries
    ]
    items += [
        make_item(
            "dfdc", folder / name, _video_id(folder, name), Path(name).stem, method, split="test"
        )
        for folder in tests
        for name, method in _labels(folder / "labels.csv")
    ]
    return finish(items)


def _dirs_with(root: Path, filename: str) -> list[Path]:
    """`root` and its sub-folders that hold `filename`, sorted."""
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    return [folder for folder in candidates if (folder / filename).is_file()]


def _video_id(folder: Path, name: str) -> str:
    return f"{folder.name}/{Path(name).stem}"


def _metadata(part: Path) -> dict[str, tuple[bool, str | None]]:
    """File name -> (is fake, original file name) from a part's metadata.json."""
    path = part / "metadata.json"
    metadata = read_json(path)
    if not isinstance(metadata, dict):
        raise DataError(f"{path} is not a mapping of file name -> entry: re-download it")
    entries = {}
    for name, entry in metadata.items():
        label = entry.get("label") if isinstance(entry, dict) else None
        original = entry.get("original") if isinstance(entry, dict) else None
        if label not in ("REAL", "FAKE") or not isinstance(original, (str, type(None))):
            raise DataError(
                f"{path}: entry {name!r} has label {label!r} and original {original!r}; "
                'expected label "REAL" or "FAKE" and original a file name or null'
            )
        entries[name] = (label == "FAKE", original)
    return entries


def _labels(path: Path) -> list[tuple[str, str]]:
    """(file name, method) rows of a test set's labels.csv (label 1 = fake, 0 = real)."""
    try:
        with path.open(newline="", encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
    except (csv.Error, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not a readable CSV ({err}): re-download it") from err
    result = []
    for number, row in enumerate(rows, 2):  # line 1 is the header
        name, label = (row.get("filename") or "").strip(), (row.get("label") or "").strip()
        if not name or label not in ("0", "1"):
            raise DataError(
                f"line {number} of {path} is {row!r}: expected columns filename,label "
                "with label 1 (fake) or 0 (real)"
            )
        result.append((name, "dfdc-fake" if label == "1" else "real"))
    return result
