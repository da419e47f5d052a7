"""What every dataset source shares: the `MediaItem` it lists, the registry its lister joins
(`register`), and the helpers that turn files into sorted, linked items."""

from __future__ import annotations

import inspect
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from fakeguard import walk
from fakeguard.data.images import IMAGE_SUFFIXES
from fakeguard.errors import DataError

MediaKind = Literal["video", "image"]


@dataclass(frozen=True)
class MediaItem:
    """One video or image to extract faces from.

    - `path`: absolute path of the media file (it may not exist: a file named in a metadata
      file but missing on disk becomes a recorded failure, not a crash).
    - `label`: 1 = fake, 0 = real.
    - `dataset`: the name of the source that listed it ("ffpp", "celebdf", ...).
    - `method`: the manipulation ("Deepfakes", "Face2Face", ...); "real" for real media.
    - `compression`: "c23", "c40", "raw" for FF++; "" when the dataset does not say.
    - `video_id`: unique within the dataset, stable, filesystem-safe path-like key
      (e.g. "Deepfakes/c23/519_515"); also names the crop folder.
    - `source_id`: the group that must never be split (a real video/identity and every fake
      made from it).
    - `original`: the `video_id` of the real video this fake was made from, when that video is
      listed by the same parser (lets prepare reuse its face boxes); else None.
    - `split`: "train"/"val"/"test" when the dataset defines it (official lists); None lets
      prepare assign a deterministic split by source id.
    - `kind`: "video" or "image".
    """

    path: str
    label: int
    dataset: str
    method: str
    compression: str
    video_id: str
    source_id: str
    kind: MediaKind
    original: str | None = None
    split: str | None = None


Lister = Callable[..., list[MediaItem]]
OptionsCheck = Callable[[Mapping[str, Any], str], None]


@dataclass(frozen=True)
class Source:
    """A registered dataset layout.

    - `list_items(root, **options)` lists its media; the keyword arguments are the options
      `configs/source/<name>.yaml` may set (any other option is refused).
    - `check_options(options, prefix)`, when given, checks option values before anything is
      listed (`prepare`'s settings check), raising a `SettingError` named with `prefix`.
    """

    name: str
    list_items: Lister
    check_options: OptionsCheck | None = None


REGISTRY: dict[str, Source] = {}


def register(name: str, check_options: OptionsCheck | None = None) -> Callable[[Lister], Lister]:
    """Decorator that makes a lister the data source `name` (`source=<name>`)."""

    def add(lister: Lister) -> Lister:
        if name in REGISTRY:
            raise ValueError(f"data source {name!r} is registered twice")
        REGISTRY[name] = Source(name, lister, check_options)
        return lister

    return add


def source_names() -> tuple[str, ...]:
    return tuple(sorted(REGISTRY))


def list_items(source: str, root: str | Path, **options: Any) -> list[MediaItem]:
    """Media items of the dataset `source` at `root`; `options` go to that source's parser."""
    found = REGISTRY.get(source)
    if found is None:
        raise DataError(
            f"unknown data source {source!r}: choose one of {', '.join(source_names())}"
        )
    accepted = list(inspect.signature(found.list_items).parameters)[1:]
    unknown = sorted(set(options) - set(accepted))
    if unknown:  # a typo in a config must fail loudly, not fall back to a default
        raise DataError(
            f"unknown option(s) {', '.join(unknown)} for data source {source!r}: "
            f"it accepts {', '.join(accepted) or 'no options'}"
        )
    return found.list_items(root, **options)


def check_options(source: str, options: Mapping[str, Any], prefix: str = "source.options.") -> None:
    """The source's own check of its option values, if it has one (`source` is known)."""
    check = REGISTRY[source].check_options
    if check is not None:
        check(options, prefix)


def existing_dir(root: str | Path, dataset: str, holds: str) -> Path:
    """`root` made absolute, so every item path built from it is absolute too."""
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        raise DataError(
            f"{dataset} data root not found: {path} (set it to the folder holding {holds})"
        )
    return path


def media_files(folder: Path, suffixes: frozenset[str], recursive: bool = False) -> list[Path]:
    """Files in `folder` with one of `suffixes` (any case), sorted; [] if it does not exist."""
    if not folder.is_dir():
        return []
    candidates = walk.files(folder) if recursive else folder.glob("*")
    # Hidden files (macOS "._x.mp4" copies) share the suffix but hold no media.
    return sorted(
        path
        for path in candidates
        if path.suffix.lower() in suffixes and not path.name.startswith(".") and path.is_file()
    )


def make_item(
    dataset: str,
    path: Path,
    video_id: str,
    source_id: str,
    method: str,
    compression: str = "",
    original: str | None = None,
    split: str | None = None,
) -> MediaItem:
    """A MediaItem whose label and kind follow from the method and suffix, so none can disagree."""
    return MediaItem(
        path=str(path),
        label=int(method != "real"),
        dataset=dataset,
        method=method,
        compression=compression,
        video_id=video_id,
        source_id=source_id,
        kind="image" if path.suffix.lower() in IMAGE_SUFFIXES else "video",
        original=original,
        split=split,
    )


def finish(items: list[MediaItem]) -> list[MediaItem]:
    """Sorted by video_id; duplicate ids refused; originals kept only if they are listed."""
    counts = Counter(item.video_id for item in items)
    duplicates = sorted(video_id for video_id, n in counts.items() if n > 1)
    if duplicates:  # the id names the crop folder: two media must never share one
        raise DataError(
            f"{len(duplicates)} video id(s) are used by more than one file, e.g. {duplicates[0]}: "
            "rename the files that differ only by suffix"
        )
    linked = [item if item.original in counts else replace(item, original=None) for item in items]
    return sorted(linked, key=lambda item: item.video_id)


def stem_match(pattern: re.Pattern[str], path: Path, expected: str) -> re.Match[str]:
    """The match of `path`'s stem; a name that does not fit cannot be linked to its source."""
    found = pattern.fullmatch(path.stem)
    if found is None:
        raise DataError(f"unexpected file name {path}: expected {expected}; rename or remove it")
    return found


def read_json(path: Path) -> Any:
    """Parsed JSON of `path`, or a DataError naming the file."""
    if not path.is_file():
        raise DataError(f"{path} not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not valid JSON ({err}): re-download or fix it") from err
