"""Dataset layouts (FaceForensics++, Celeb-DF v2, DFDC, real/fake folders) -> media items.

A parser only lists media; it never decodes them. Everything that can go wrong with a file
(missing, corrupt, no face) is found and recorded later by `fakeguard.data.prepare`.
"""

from __future__ import annotations

import csv
import inspect
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from fakeguard.data.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from fakeguard.data.splits import SPLITS
from fakeguard.errors import DataError

log = logging.getLogger(__name__)

MediaKind = Literal["video", "image"]


@dataclass(frozen=True)
class MediaItem:
    """One video or image to extract faces from.

    - `path`: absolute path of the media file (it may not exist: a file named in a metadata
      file but missing on disk becomes a recorded failure, not a crash).
    - `label`: 1 = fake, 0 = real.
    - `dataset`: "ffpp", "celebdf", "dfdc" or "folders".
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


SOURCES = ("ffpp", "celebdf", "dfdc", "folders")
FFPP_COMPRESSIONS = ("c23", "c40", "raw")
FFPP_METHODS = (
    "Deepfakes",
    "Face2Face",
    "FaceSwap",
    "NeuralTextures",
    "FaceShifter",
    "DeepFakeDetection",
)
CELEBDF_FOLDERS = ("Celeb-real", "YouTube-real", "Celeb-synthesis")
CELEBDF_TEST_LIST = "List_of_testing_videos.txt"

# File-name patterns that carry the fake -> real link; `fullmatch` against the stem.
_FFPP_FAKE = re.compile(r"([^_]+)_[^_]+")  # <target>_<donor>: made from video <target>
_DFD_REAL = re.compile(r"([^_]+)__.+")  # <actor>__<scene>
_DFD_FAKE = re.compile(r"([^_]+)_[^_]+__(.+)__[^_]+")  # <actorA>_<actorB>__<scene>__<hash>
_CELEB_REAL = re.compile(r"(id\d+)_(\d+)")  # id<X>_<NNNN>
_CELEB_FAKE = re.compile(r"(id\d+)_id\d+_(\d+)")  # id<A>_id<B>_<NNNN>: made from id<A>_<NNNN>


def list_items(source: str, root: str | Path, **options: Any) -> list[MediaItem]:
    """Media items of the dataset `source` at `root`; `options` go to that source's parser."""
    parser = _PARSERS.get(source)
    if parser is None:
        raise DataError(f"unknown data source {source!r}: choose one of {', '.join(SOURCES)}")
    accepted = list(inspect.signature(parser).parameters)[1:]
    unknown = sorted(set(options) - set(accepted))
    if unknown:  # a typo in a config must fail loudly, not fall back to a default
        raise DataError(
            f"unknown option(s) {', '.join(unknown)} for data source {source!r}: "
            f"it accepts {', '.join(accepted) or 'no options'}"
        )
    return parser(root, **options)


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
    root = _existing_dir(root, "FaceForensics++", "original_sequences/ and manipulated_sequences/")
    if compression not in FFPP_COMPRESSIONS:
        raise DataError(
            f"unknown FF++ compression {compression!r}: "
            f"choose one of {', '.join(FFPP_COMPRESSIONS)}"
        )
    chosen = _ffpp_methods(root, compression, methods)
    items = _ffpp_reals(root, compression, actors="DeepFakeDetection" in chosen)
    if not items:
        log.warning("no FF++ original videos under %s for %s", root, compression)
    for method in chosen:
        fakes = _ffpp_fakes(root, method, compression)
        if not fakes and methods is not None:  # asked for by name: its absence is a mistake
            raise DataError(
                f"no {method} videos in {_ffpp_fake_dir(root, method, compression)}: "
                f"download them or drop {method} from the methods"
            )
        items += fakes
    if not items:
        raise DataError(
            f"no FF++ videos for compression {compression} under {root}: expected "
            f"original_sequences/youtube/{compression}/videos/*.mp4 (check root and compression)"
        )
    if split_dir is not None:
        splits = _ffpp_official_splits(Path(split_dir).expanduser())
        items = [replace(item, split=splits.get(item.source_id)) for item in items]
    return _finish(items)


def celebdf_items(root: str | Path) -> list[MediaItem]:
    """Celeb-DF v2 videos; those named in List_of_testing_videos.txt get split "test"."""
    root = _existing_dir(root, "Celeb-DF", ", ".join(CELEBDF_FOLDERS))
    on_disk = {
        f"{folder}/{path.name}"
        for folder in CELEBDF_FOLDERS
        for path in _media_files(root / folder, VIDEO_SUFFIXES)
    }
    if not on_disk:
        raise DataError(
            f"no Celeb-DF videos under {root}: expected {', '.join(CELEBDF_FOLDERS)} folders "
            "of .mp4 files (point the root at the extracted Celeb-DF-v2 folder)"
        )
    test = _celebdf_test_list(root / CELEBDF_TEST_LIST)
    # Listed test videos missing on disk still become items: prepare records them as failures.
    items = [_celebdf_item(root, rel, "test" if rel in test else None) for rel in on_disk | test]
    return _finish(items)


def dfdc_items(root: str | Path) -> list[MediaItem]:
    """DFDC videos: training parts from metadata.json, test sets from labels.csv.

    A part or test set is `root` itself or a folder one level down holding that file. Entries
    missing on disk are kept: prepare records them as failures.
    """
    root = _existing_dir(root, "DFDC", "dfdc_train_part_*/ folders")
    parts, tests = _dirs_with(root, "metadata.json"), _dirs_with(root, "labels.csv")
    if not parts and not tests:
        raise DataError(
            f"no DFDC metadata.json or labels.csv in {root} or the folders one level down: "
            "point the root at the folder holding dfdc_train_part_*/ (or a single part)"
        )
    entries = [(part, name, *info) for part in parts for name, info in _dfdc_metadata(part).items()]
    # Fakes name their original by file name; it may sit in another part. The metadata's own
    # "split" is "train" everywhere, so it is not used: prepare assigns splits by source.
    ids = {name: _dfdc_id(part, name) for part, name, _, _ in entries}
    items = [
        _item(
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
        _item("dfdc", folder / name, _dfdc_id(folder, name), Path(name).stem, method, split="test")
        for folder in tests
        for name, method in _dfdc_labels(folder / "labels.csv")
    ]
    return _finish(items)


def folder_items(root: str | Path) -> list[MediaItem]:
    """Images and videos under `root/real` and `root/fake` (recursively), labelled by folder.

    Nothing groups them, so each file is its own source.
    """
    root = _existing_dir(root, "folders", "real/ and fake/")
    items = []
    for name in ("real", "fake"):
        folder = root / name
        files = _media_files(folder, IMAGE_SUFFIXES | VIDEO_SUFFIXES, recursive=True)
        if not files:
            raise DataError(
                f"no images or videos in {folder}: put real media under {root}/real/ "
                f"and fakes under {root}/fake/"
            )
        for path in files:
            video_id = f"{name}/{path.relative_to(folder).with_suffix('').as_posix()}"
            items.append(_item("folders", path, video_id, video_id, name))
    return _finish(items)


_PARSERS: dict[str, Callable[..., list[MediaItem]]] = {
    "ffpp": ffpp_items,
    "celebdf": celebdf_items,
    "dfdc": dfdc_items,
    "folders": folder_items,
}


# --- shared helpers -----------------------------------------------------------------------


def _existing_dir(root: str | Path, dataset: str, holds: str) -> Path:
    """`root` made absolute, so every item path built from it is absolute too."""
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        raise DataError(
            f"{dataset} data root not found: {path} (set it to the folder holding {holds})"
        )
    return path


def _media_files(folder: Path, suffixes: frozenset[str], recursive: bool = False) -> list[Path]:
    """Files in `folder` with one of `suffixes` (any case), sorted; [] if it does not exist."""
    candidates = folder.rglob("*") if recursive else folder.glob("*")
    # Hidden files (macOS "._x.mp4" copies) share the suffix but hold no media.
    return sorted(
        path
        for path in candidates
        if path.suffix.lower() in suffixes and not path.name.startswith(".") and path.is_file()
    )


def _item(
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


def _finish(items: list[MediaItem]) -> list[MediaItem]:
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


def _match(pattern: re.Pattern[str], path: Path, expected: str) -> re.Match[str]:
    """The match of `path`'s stem; a name that does not fit cannot be linked to its source."""
    match = pattern.fullmatch(path.stem)
    if match is None:
        raise DataError(f"unexpected file name {path}: expected {expected}; rename or remove it")
    return match


def _read_json(path: Path) -> Any:
    """Parsed JSON of `path`, or a DataError naming the file."""
    if not path.is_file():
        raise DataError(f"{path} not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not valid JSON ({err}): re-download or fix it") from err


# --- FaceForensics++ ----------------------------------------------------------------------


def _ffpp_fake_dir(root: Path, method: str, compression: str) -> Path:
    return root / "manipulated_sequences" / method / compression / "videos"


def _ffpp_methods(root: Path, compression: str, methods: Sequence[str] | None) -> list[str]:
    """The methods to list: validated names, or every method folder present."""
    if methods is None:
        return [m for m in FFPP_METHODS if _ffpp_fake_dir(root, m, compression).is_dir()]
    chosen = [methods] if isinstance(methods, str) else list(methods)
    unknown = [m for m in chosen if m not in FFPP_METHODS]
    if unknown:
        raise DataError(
            f"unknown FF++ method(s) {', '.join(map(str, unknown))}: "
            f"choose from {', '.join(FFPP_METHODS)}"
        )
    return chosen


def _ffpp_reals(root: Path, compression: str, actors: bool) -> list[MediaItem]:
    """YouTube originals (source = video number) and, if asked, actor originals (source = actor)."""
    items = []
    for subset in ("youtube", "actors") if actors else ("youtube",):
        folder = root / "original_sequences" / subset / compression / "videos"
        for path in _media_files(folder, VIDEO_SUFFIXES):
            if subset == "youtube":
                source_id = path.stem
            else:
                source_id = f"actor-{_match(_DFD_REAL, path, '<actor>__<scene>.mp4')[1]}"
            video_id = f"{subset}/{compression}/{path.stem}"
            items.append(_item("ffpp", path, video_id, source_id, "real", compression))
    return items


def _ffpp_fakes(root: Path, method: str, compression: str) -> list[MediaItem]:
    """One method's fakes, each grouped with (and linked to) the real video it was made from."""
    items = []
    for path in _media_files(_ffpp_fake_dir(root, method, compression), VIDEO_SUFFIXES):
        if method == "DeepFakeDetection":
            actor, scene = _match(
                _DFD_FAKE, path, "<actorA>_<actorB>__<scene>__<hash>.mp4"
            ).groups()
            source_id, original = f"actor-{actor}", f"actors/{compression}/{actor}__{scene}"
        else:
            source_id = _match(_FFPP_FAKE, path, "<target>_<source>.mp4")[1]
            original = f"youtube/{compression}/{source_id}"
        video_id = f"{method}/{compression}/{path.stem}"
        items.append(_item("ffpp", path, video_id, source_id, method, compression, original))
    return items


def _ffpp_official_splits(split_dir: Path) -> dict[str, str]:
    """Video id -> split from the official train/val/test.json lists of [id, id] pairs."""
    splits = {}
    for split in SPLITS:
        path = split_dir / f"{split}.json"
        pairs = _read_json(path)
        if not isinstance(pairs, list) or not all(isinstance(p, list) for p in pairs):
            raise DataError(f"{path} is not a list of [id, id] pairs: use the official FF++ file")
        splits.update({str(video): split for pair in pairs for video in pair})
    return splits


# --- Celeb-DF -----------------------------------------------------------------------------


def _celebdf_test_list(path: Path) -> set[str]:
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


def _celebdf_item(root: Path, rel: str, split: str | None) -> MediaItem:
    """The item for "<folder>/<name>": a swap idA_idB_N belongs with identity A's video idA_N."""
    folder = rel.split("/")[0]
    path = root / rel
    video_id = f"{folder}/{path.stem}"
    original = None
    if folder == "YouTube-real":  # no identity given: each video is its own source
        source_id, method = f"youtube-{path.stem}", "real"
    elif folder == "Celeb-real":
        source_id, method = _match(_CELEB_REAL, path, "id<X>_<NNNN>.mp4")[1], "real"
    else:
        identity, number = _match(_CELEB_FAKE, path, "id<A>_id<B>_<NNNN>.mp4").groups()
        source_id, method = identity, folder
        original = f"Celeb-real/{identity}_{number}"
    return _item("celebdf", path, video_id, source_id, method, original=original, split=split)


# --- DFDC ---------------------------------------------------------------------------------


def _dirs_with(root: Path, filename: str) -> list[Path]:
    """`root` and its sub-folders that hold `filename`, sorted."""
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    return [folder for folder in candidates if (folder / filename).is_file()]


def _dfdc_id(folder: Path, name: str) -> str:
    return f"{folder.name}/{Path(name).stem}"


def _dfdc_metadata(part: Path) -> dict[str, tuple[bool, str | None]]:
    """File name -> (is fake, original file name) from a part's metadata.json."""
    path = part / "metadata.json"
    metadata = _read_json(path)
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


def _dfdc_labels(path: Path) -> list[tuple[str, str]]:
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
