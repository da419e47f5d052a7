"""FaceForensics++: `original_sequences/{youtube,actors}/<comp>/videos` and
`manipulated_sequences/<method>/<comp>/videos`, with the official split lists if given."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from fakeguard import settings as check
from fakeguard.data.images import VIDEO_SUFFIXES
from fakeguard.data.sources.common import (
    MediaItem,
    existing_dir,
    finish,
    make_item,
    media_files,
    read_json,
    register,
    stem_match,
)
from fakeguard.data.splits import SPLITS
from fakeguard.errors import DataError, SettingError

log = logging.getLogger(__name__)

FFPP_COMPRESSIONS = ("c23", "c40", "raw")
FFPP_METHODS = (
    "Deepfakes",
    "Face2Face",
    "FaceSwap",
    "NeuralTextures",
    "FaceShifter",
    "DeepFakeDetection",
)

# File-name patterns that carry the fake -> real link; `fullmatch` against the stem.
_FFPP_FAKE = re.compile(r"([^_]+)_[^_]+")  # <target>_<donor>: made from video <target>
_DFD_REAL = re.compile(r"([^_]+)__.+")  # <actor>__<scene>
_DFD_FAKE = re.compile(r"([^_]+)_[^_]+__(.+)__[^_]+")  # <actorA>_<actorB>__<scene>__<hash>


def check_ffpp_options(options: Mapping[str, Any], prefix: str = "source.options.") -> None:
    """FF++'s choices (`source.options.compression`, `.methods`), checked before any listing;
    `ffpp_items` checks the rest when it lists the dataset."""
    if "compression" in options:
        check.one_of(f"{prefix}compression", options["compression"], FFPP_COMPRESSIONS)
    methods = options.get("methods")
    if methods is None:
        return
    listed = isinstance(methods, Sequence) and not isinstance(methods, str)
    chosen = list(methods) if listed else [methods]
    unknown = [str(m) for m in chosen if m not in FFPP_METHODS]
    if unknown:
        shown = f"[{','.join(map(str, chosen))}]" if listed else methods
        raise SettingError(
            f"{prefix}methods={shown} names an unknown FF++ method ({', '.join(unknown)}): "
            f"choose from {', '.join(FFPP_METHODS)}"
        )


@register("ffpp", check_options=check_ffpp_options)
def ffpp_items(
    root: str | Path,
    compression: str = "c23",
    methods: Sequence[str] | None = None,
    split_dir: str | Path | None = None,
) -> list[MediaItem]:
    """FaceForensics++ videos of one compression: the originals and the chosen methods' fakes.

    `methods` None means every method folder present. Actor originals belong to
    DeepFakeDetection, so they are listed only with that method. `split_dir` holds the official
    train/val/test.json; without it every split is None.
    """
    root = existing_dir(root, "FaceForensics++", "original_sequences/ and manipulated_sequences/")
    if compression not in FFPP_COMPRESSIONS:
        raise DataError(
            f"unknown FF++ compression {compression!r}: "
            f"choose one of {', '.join(FFPP_COMPRESSIONS)}"
        )
    chosen = _methods(root, compression, methods)
    items = _reals(root, compression, actors="DeepFakeDetection" in chosen)
    if not items:
        log.warning("no FF++ original videos under %s for %s", root, compression)
    for method in chosen:
        fakes = _fakes(root, method, compression)
        if not fakes and methods is not None:  # asked for by name: its absence is a mistake
            raise DataError(
                f"no {method} videos in {_fake_dir(root, method, compression)}: "
                f"download them or drop {method} from the methods"
            )
        items += fakes
    if not items:
        raise DataError(
            f"no FF++ videos for compression {compression} under {root}: expected "
            f"original_sequences/youtube/{compression}/videos/*.mp4 (check root and compression)"
        )
    if split_dir is not None:
        splits = _official_splits(Path(split_dir).expanduser())
        items = [replace(item, split=splits.get(item.source_id)) for item in items]
    return finish(items)


def _fake_dir(root: Path, method: str, compression: str) -> Path:
    return root / "manipulated_sequences" / method / compression / "videos"


def _methods(root: Path, compression: str, methods: Sequence[str] | None) -> list[str]:
    """The methods to list: validated names, or every method folder present."""
    if methods is None:
        return [m for m in FFPP_METHODS if _fake_dir(root, m, compression).is_dir()]
    chosen = [methods] if isinstance(methods, str) else list(methods)
    unknown = [m for m in chosen if m not in FFPP_METHODS]
    if unknown:
        raise DataError(
            f"unknown FF++ method(s) {', '.join(map(str, unknown))}: "
            f"choose from {', '.join(FFPP_METHODS)}"
        )
    return chosen


def _reals(root: Path, compression: str, actors: bool) -> list[MediaItem]:
    """YouTube originals (source = video number) and, if asked, actor originals (source = actor)."""
    items = []
    for subset in ("youtube", "actors") if actors else ("youtube",):
        folder = root / "original_sequences" / subset / compression / "videos"
        for path in media_files(folder, VIDEO_SUFFIXES):
            if subset == "youtube":
                source_id = path.stem
            else:
                source_id = f"actor-{stem_match(_DFD_REAL, path, '<actor>__<scene>.mp4')[1]}"
            video_id = f"{subset}/{compression}/{path.stem}"
            items.append(make_item("ffpp", path, video_id, source_id, "real", compression))
    return items


def _fakes(root: Path, method: str, compression: str) -> list[MediaItem]:
    """One method's fakes, each grouped with (and linked to) the real video it was made from."""
    items = []
    for path in media_files(_fake_dir(root, method, compression), VIDEO_SUFFIXES):
        if method == "DeepFakeDetection":
            actor, scene = stem_match(
                _DFD_FAKE, path, "<actorA>_<actorB>__<scene>__<hash>.mp4"
            ).groups()
            source_id, original = f"actor-{actor}", f"actors/{compression}/{actor}__{scene}"
        else:
            source_id = stem_match(_FFPP_FAKE, path, "<target>_<source>.mp4")[1]
            original = f"youtube/{compression}/{source_id}"
        video_id = f"{method}/{compression}/{path.stem}"
        items.append(make_item("ffpp", path, video_id, source_id, method, compression, original))
    return items


def _official_splits(split_dir: Path) -> dict[str, str]:
    """Video id -> split from the official train/val/test.json lists of [id, id] pairs."""
    splits = {}
    for split in SPLITS:
        path = split_dir / f"{split}.json"
        pairs = read_json(path)
        if not isinstance(pairs, list) or not all(isinstance(p, list) for p in pairs):
            raise DataError(f"{path} is not a list of [id, id] pairs: use the official FF++ file")
        splits.update({str(video): split for pair in pairs for video in pair})
    return splits
