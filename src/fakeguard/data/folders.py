"""The `real/` + `fake/` folder layout: find the images, skip what cannot be used."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from fakeguard import walk
from fakeguard.data.images import why_unusable
from fakeguard.data.samples import FaceSample
from fakeguard.data.splits import SPLITS
from fakeguard.errors import DataError

log = logging.getLogger(__name__)
CLASS_DIRS = {"real": 0, "fake": 1}


def split_folders(root: str | Path) -> dict[str, Path]:
    """The split folders of the `root/{train,val,test}/{real,fake}` layout that `root` has;
    empty for the plain `root/{real,fake}` layout. Mixing the two layouts is an error: which
    split the top-level images belong to would be a guess."""
    root = Path(root)
    found = {name: root / name for name in SPLITS if (root / name).is_dir()}
    if found and any((root / name).is_dir() for name in CLASS_DIRS):
        raise DataError(
            f"{root} has both split folders ({', '.join(found)}) and class folders (real/, "
            "fake/): use one layout, root/{real,fake} or root/{train,val,test}/{real,fake}"
        )
    return found


def scan_folders(root: str | Path) -> list[FaceSample]:
    """Every usable image under `root/real` and `root/fake` (recursively), sorted by path.

    The source id is the path relative to the class folder without its suffix: a plain folder
    has no other grouping to go on. Unusable files are skipped and counted in the log.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data directory not found: {root}")
    samples: list[FaceSample] = []
    skipped: Counter[str] = Counter()
    for name, label in CLASS_DIRS.items():
        folder = root / name
        listed = walk.entries(folder) if folder.is_dir() else []
        found = 0
        for path, note in listed:
            reason = note or (why_unusable(path) if path.is_file() else "not a regular file")
            if reason:
                skipped[reason] += 1
                log.debug("skipping %s: %s", path, reason)
                continue
            found += 1
            source_id = f"{name}/{path.relative_to(folder).with_suffix('').as_posix()}"
            samples.append(FaceSample(label=label, source_id=source_id, path=str(path)))
        if not found:
            raise DataError(f"no usable images in {folder} (expected {name}/ under {root})")
    if skipped:
        details = ", ".join(f"{n} {reason}" for reason, n in skipped.items())
        log.warning("skipped %d file(s) under %s: %s", sum(skipped.values()), root, details)
    return samples
