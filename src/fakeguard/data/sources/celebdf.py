"""Celeb-DF v2: `Celeb-real`, `YouTube-real`, `Celeb-synthesis`; the videos named in
`List_of_testing_videos.txt` are the test set."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from fakeguard.data.images import VIDEO_SUFFIXES
from fakeguard.data.sources.common import (
    MediaItem,
    existing_dir,
    finish,
    make_item,
    media_files,
    register,
    stem_match,
)
from fakeguard.errors import DataError

log = logging.getLogger(__name__)

CELEBDF_FOLDERS = ("Celeb-real", "YouTube-real", "Celeb-synthesis")
CELEBDF_TEST_LIST = "List_of_testing_videos.txt"

# File-name patterns that carry the fake -> real link; `fullmatch` against the stem.
_CELEB_REAL = re.compile(r"(id\d+)_(\d+)")  # id<X>_<NNNN>
_CELEB_FAKE = re.compile(r"(id\d+)_id\d+_(\d+)")  # id<A>_id<B>_<NNNN>: made from id<A>_<NNNN>


@register("celebdf")
def celebdf_items(root: str | Path) -> list[MediaItem]:
    """Celeb-DF v2 videos; those named in List_of_testing_videos.txt get split "test"."""
    root = existing_dir(root, "Celeb-DF", ", ".join(CELEBDF_FOLDERS))
    on_disk = {
        f"{folder}/{path.name}"
        for folder in CELEBDF_FOLDERS
        for path in media_files(root / folder, VIDEO_SUFFIXES)
    }
    if not on_disk:
        raise DataError(
            f"no Celeb-DF videos under {root}: expected {', '.join(CELEBDF_FOLDERS)} folders "
            "of .mp4 files (point the root at the extracted Celeb-DF-v2 folder)"
        )
    test = _test_list(root / CELEBDF_TEST_LIST)
    # Listed test videos missing on disk still become items: prepare records them as failures.
    items = [_item(root, rel, "test" if rel in test else None) for rel in on_disk | test]
    return finish(items)


def _test_list(path: Path) -> set[str]:
    """Relative paths ("Celeb-real/id0_0000.mp4") named in the official test list."""
    if not path.is_file():
        log.warning("%s not found: no Celeb-DF video gets the official test split", path)
        return set()
    listed = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        # The leading number (1 = real, 0 = synthesis) is ignored: labels come from the folder.
        fields = line.split(maxsplit=1)
        rel = fields[-1].strip().replace("\\", "/")
        if len(fields) != 2 or rel.split("/")[0] not in CELEBDF_FOLDERS:
            raise DataError(
                f"line {number} of {path} is {line.strip()!r}: expected "
                f"'<0|1> <folder>/<name>.mp4' with folder one of {', '.join(CELEBDF_FOLDERS)}"
            )
        listed.add(rel)
    return listed


def _item(root: Path, rel: str, split: str | None) -> MediaItem:
    """The item for "<folder>/<name>": a swap idA_idB_N belongs with identity A's video idA_N."""
    folder = rel.split("/")[0]
    path = root / rel
    video_id = f"{folder}/{path.stem}"
    original = None
    if folder == "YouTube-real":  # no identity given: each video is its own source
        source_id, method = f"youtube-{path.stem}", "real"
    elif folder == "Celeb-real":
        source_id, method = stem_match(_CELEB_REAL, path, "id<X>_<NNNN>.mp4")[1], "real"
    else:
        identity, number = stem_match(_CELEB_FAKE, path, "id<A>_id<B>_<NNNN>.mp4").groups()
        source_id, method = identity, folder
        original = f"Celeb-real/{identity}_{number}"
    return make_item("celebdf", path, video_id, source_id, method, original=original, split=split)
