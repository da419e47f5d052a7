"""Plain folders: images and videos under `real/` and `fake/`, in any mix."""

from __future__ import annotations

from pathlib import Path

from fakeguard.data.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from fakeguard.data.sources.common import (
    MediaItem,
    existing_dir,
    finish,
    make_item,
    media_files,
    register,
)
from fakeguard.errors import DataError


@register("folders")
def folder_items(root: str | Path) -> list[MediaItem]:
    """Images and videos under `root/real` and `root/fake` (recursively), labelled by folder.

    Nothing groups them, so each file is its own source.
    """
    root = existing_dir(root, "folders", "real/ and fake/")
    items = []
    for name in ("real", "fake"):
        folder = root / name
        files = media_files(folder, IMAGE_SUFFIXES | VIDEO_SUFFIXES, recursive=True)
        if not files:
            raise DataError(
                f"no images or videos in {folder}: put real media under {root}/real/ "
                f"and fakes under {root}/fake/"
            )
        for path in files:
            video_id = f"{name}/{path.relative_to(folder).with_suffix('').as_posix()}"
            items.append(make_item("folders", path, video_id, video_id, name))
    return finish(items)
