"""Every entry under a folder, links to folders included, each folder walked once.

`Path.rglob` (before Python 3.13) does not follow a link to a folder, so a dataset whose
class folders hold links to where the media really live would lose those files without a
word. `entries` follows them, after the real folders, and gives each entry that is not a
file to read a note instead (a link loop, a folder already walked, one that cannot be listed).
"""

from __future__ import annotations

import os
from pathlib import Path


def entries(top: str | Path) -> list[tuple[Path, str]]:
    """(path, note) for every entry under the folder `top`, sorted: files, broken links and
    special files with note "" (the reader says what is wrong with them), and a note for each
    folder link into its own ancestry, link to a folder walked already, or unlistable folder."""
    rows: list[tuple[Path, str]] = []
    walked: dict[tuple[int, int], Path] = {}
    links = [Path(top)]
    while links:
        link = links.pop(0)
        info = link.stat()
        key = (info.st_dev, info.st_ino)
        if key in walked:
            if link.parent.resolve().is_relative_to(link.resolve()):
                rows.append((link, f"symlink loop (back to {walked[key]}, walked once)"))
            else:
                rows.append((link, f"link to a folder walked already ({walked[key]})"))
            continue
        walked[key] = link
        rows += _walk(link, walked, links)
    return sorted(rows)


def files(top: str | Path) -> list[Path]:
    """The entries under `top` that are files (links to files included), sorted."""
    return [path for path, note in entries(top) if not note and path.is_file()]


def _walk(
    top: Path, walked: dict[tuple[int, int], Path], links: list[Path]
) -> list[tuple[Path, str]]:
    """The entries under `top`, without following links to folders (they go on `links`)."""
    rows, folders = [], [top]
    while folders:
        folder = folders.pop()
        try:
            found = list(os.scandir(folder))
        except OSError as error:
            rows.append((folder, f"cannot list folder: {error.strerror or error}"))
            continue
        for entry in found:
            path = Path(entry.path)
            try:
                real_folder = entry.is_dir(follow_symlinks=False)
                linked_folder = not real_folder and entry.is_symlink() and entry.is_dir()
            except OSError:  # a symlink loop or the like: a row, the reader says why
                real_folder = linked_folder = False
            if linked_folder:
                links.append(path)
            elif real_folder:
                info = entry.stat(follow_symlinks=False)
                walked.setdefault((info.st_dev, info.st_ino), path)
                folders.append(path)
            else:
                rows.append((path, ""))
    return rows
