"""The `real/` + `fake/` folder layout: find the images, skip what cannot be used."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from fakeguard.data.images import why_unusable
from fakeguard.data.samples import FaceSample
from fakeguard.errors import DataError

log = logging.getLogger(__name__)
CLASS_DIRS = {"real": 0, "fake": 1}


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
        files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        found = 0
        for path in files:
            reason = why_unusable(path)
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
