"""Media items -> face crops on disk, one record per item (the unit of resumption).

An item's crops are written first and its record (manifest rows + failures) last, both
atomically: an item with a record is done; one without is redone from scratch. So a run killed
at any moment and started again ends with exactly the rows of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fakeguard import settings as check
from fakeguard.data.faces import (
    Face,
    FaceDetector,
    assign_face_tracks,
    check_detector_settings,
    crop_box,
    keep_main_face,
)
from fakeguard.data.frames import MediaReadError, sample_frames, sample_indices
from fakeguard.data.images import ImageReadError, read_rgb
from fakeguard.data.sources import MediaItem
from fakeguard.files import save_png, write_atomically

log = logging.getLogger(__name__)
KEEP = ("largest", "all")


@dataclass(frozen=True)
class ExtractSettings:
    """What decides the crops; stored with the output so a resumed run cannot mix settings."""

    frames: int = 32
    margin: float = 0.3
    keep: str = "largest"
    track_iou: float = 0.3  # the IoU with a face track's last box that continues it
    reuse_source_boxes: bool = False

    def __post_init__(self) -> None:
        check_extract_settings(dataclasses.asdict(self))


def check_extract_settings(values: Mapping[str, Any], prefix: str = "extract.") -> None:
    """`ExtractSettings` as prepare.yaml and predict.yaml hold them, named as the user types
    them (`extract.frames=0`); a `SettingError` for the first bad one."""
    check.group(
        prefix,
        values,
        {
            "frames": lambda name, v: check.whole_number(name, v, 1),
            "margin": lambda name, v: check.number_in(name, v, 0.0, math.inf, high_open=True),
            "keep": lambda name, v: check.one_of(name, v, KEEP),
            "track_iou": lambda name, v: check.number_in(name, v, 0.0, 1.0),
            "reuse_source_boxes": check.flag,
        },
    )


def check_face_settings(cfg: Any) -> None:
    """The face-extraction settings `prepare` and `predict` share (`extract.*`, `detector.*`),
    checked before any media is listed or any model loaded."""
    check_extract_settings(cfg.extract)
    check_detector_settings(cfg.detector)


@dataclass
class Media:
    """Decoded frames of one item (index -> uint8 RGB), or the reason there are none, and how
    many frames were sampled (`wanted`; more than decoded when the video is cut short)."""

    frame_count: int = 0
    frames: dict[int, np.ndarray] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    wanted: int = 0

    @property
    def shortfall(self) -> str:
        """'truncated: 2 of 8 sampled frames decode' when some sampled frames did not decode
        (a cut or damaged file: decoding stops there), else ''. Preparation records it for
        each lost frame in failures.csv, prediction in the file's `error` column."""
        if not self.frames or len(self.frames) >= self.wanted:
            return ""
        return f"truncated: {len(self.frames)} of {self.wanted} sampled frames decode"


def record_path(out: Path, item: MediaItem, video_id: str | None = None) -> Path:
    """Where the record of `item` (or of another video of its dataset) lives."""
    return out / "records" / item.dataset / f"{video_id or item.video_id}.json"


def read_record(out: Path, item: MediaItem, video_id: str | None = None) -> dict | None:
    path = record_path(out, item, video_id)
    return json.loads(path.read_text()) if path.is_file() else None


def failure(item: MediaItem, reason: str, frame: int = -1) -> dict:
    return {
        "dataset": item.dataset,
        "video_id": item.video_id,
        "media": item.path,
        "frame": frame,
        "reason": reason,
    }


def load_media(item: MediaItem, frames: int) -> Media:
    """Decode the sampled frames of a video, or an image as frame 0. Never raises for bad
    media: a missing, corrupt or truncated file comes back as failures."""
    path = Path(item.path)
    if not path.is_file():
        return Media(failures=[failure(item, "missing file")])
    try:
        if item.kind == "image":
            return Media(1, {0: read_rgb(path)}, wanted=1)
        count, decoded = sample_frames(path, frames)
    except (MediaReadError, ImageReadError) as error:
        return Media(failures=[failure(item, f"cannot decode: {error}")])
    except OSError as error:  # e.g. an image we may not read
        return Media(failures=[failure(item, f"cannot read: {error.strerror or error}")])
    if not decoded:
        return Media(count, failures=[failure(item, "no decodable frames")])
    wanted = sample_indices(count, frames) if count else sorted(decoded)
    media = Media(count, decoded, wanted=len(wanted))
    media.failures = [failure(item, media.shortfall, i) for i in wanted if i not in decoded]
    return media


def extract_item(
    item: MediaItem,
    media: Media,
    detector: FaceDetector,
    settings: ExtractSettings,
    out: Path,
    reused: dict[int, list[Face]] | None = None,
) -> dict:
    """Detect (or reuse) faces, save the crops, and return the item's record."""
    indices = sorted(media.frames)
    frames = [media.frames[i] for i in indices]
    detected = detector.detect(frames) if reused is None else [reused.get(i, []) for i in indices]
    detected, face_tracks = pick_faces(detected, settings)
    rows, failures = [], list(media.failures)
    for index, frame, faces, ids in zip(indices, frames, detected, face_tracks, strict=True):
        if not faces:
            failures.append(failure(item, _no_face_reason(detector, frame), index))
        for face_index, (face, face_track) in enumerate(zip(faces, ids, strict=True)):
            rows.append(
                _crop_row(item, media, frame, index, face_index, face, face_track, settings, out)
            )
            if reused is not None:
                rows[-1]["boxes_from"] = item.original
    if not rows and media.frames:
        failures.append(failure(item, "no face in any sampled frame"))
    return {"rows": rows, "failures": failures}


def pick_faces(
    detected: Sequence[Sequence[Face]], settings: ExtractSettings
) -> tuple[list[list[Face]], list[list[int]]]:
    """Each frame's faces with their face track ids; with keep=largest, only the main face
    track's. Shared with `fakeguard.predict`, so inference crops the faces preparation would."""
    face_tracks = assign_face_tracks(detected, settings.track_iou)
    if settings.keep == "largest":
        return keep_main_face(detected, face_tracks)
    return [list(faces) for faces in detected], face_tracks


def _no_face_reason(detector: FaceDetector, frame: np.ndarray) -> str:
    h, w = frame.shape[:2]
    if detector.too_small(h, w):
        return f"frame too small for face detection ({w}x{h})"
    return "no face detected"


def _crop_row(
    item: MediaItem,
    media: Media,
    frame: np.ndarray,
    index: int,
    face_index: int,
    face: Face,
    face_track: int,
    settings: ExtractSettings,
    out: Path,
) -> dict:
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = crop_box(face.box, h, w, settings.margin)
    relative = Path("crops") / item.dataset / item.video_id / f"{index:06d}_{face_index}.png"
    save_png(out / relative, frame[y1:y2, x1:x2])
    return {
        "path": relative.as_posix(),
        "label": item.label,
        "dataset": item.dataset,
        "method": item.method,
        "compression": item.compression,
        "video_id": item.video_id,
        "source_id": item.source_id,
        "split": item.split,
        "kind": item.kind,
        "media": item.path,
        "frame": index,
        "face": face_index,
        "face_track": face_track,
        "frame_count": media.frame_count,
        "frame_height": h,
        "frame_width": w,
        "box": [round(float(v), 2) for v in face.box],
        "crop_box": [int(x1), int(y1), int(x2), int(y2)],
        "landmarks": [round(float(v), 2) for v in (face.landmarks - [x1, y1]).ravel()],
        "prob": round(face.prob, 6),
        "boxes_from": "",
    }


def faces_of_record(record: dict) -> tuple[int, dict[int, list[Face]]]:
    """An item's record -> (frame count, faces per frame in frame pixels), for reuse."""
    faces: dict[int, list[Face]] = {}
    count = 0
    for row in record["rows"]:
        count = row["frame_count"]
        offset = np.asarray(row["crop_box"][:2], dtype=np.float32)
        landmarks = np.asarray(row["landmarks"], dtype=np.float32).reshape(5, 2) + offset
        face = Face(np.asarray(row["box"], dtype=np.float32), landmarks, row["prob"])
        faces.setdefault(row["frame"], []).append(face)
    return count, faces


def process_item(
    item: MediaItem, media: Media, detector: FaceDetector, settings: ExtractSettings, out: Path
) -> None:
    """Extract one item and write its record last (the item is then done)."""
    reused = _reusable_faces(item, media, settings, out)
    try:
        record = extract_item(item, media, detector, settings, out, reused)
    except Exception as error:  # one bad item must never stop a 100,000-video run
        log.exception("face extraction failed for %s", item.path)
        record = {"rows": [], "failures": [failure(item, f"{type(error).__name__}: {error}")]}
    write_atomically(record_path(out, item), lambda tmp: tmp.write_text(json.dumps(record)))


def _reusable_faces(
    item: MediaItem, media: Media, settings: ExtractSettings, out: Path
) -> dict[int, list[Face]] | None:
    """The original video's faces, when reuse is on and it was sampled at the same frames."""
    if not (settings.reuse_source_boxes and item.original and media.frames):
        return None
    original = read_record(out, item, video_id=item.original)
    if original is None or not original["rows"]:
        return None
    count, faces = faces_of_record(original)
    return faces if count == media.frame_count else None


def with_prefetch(
    items: Sequence[MediaItem], load: Callable[[MediaItem], Media]
) -> Iterator[tuple[MediaItem, Media]]:
    """Yield (item, media), decoding the next item in a thread while the caller detects faces
    in this one: PyAV releases the GIL, so decoding and MTCNN overlap."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load, items[0]) if items else None
        for i, item in enumerate(items):
            media = pending.result()
            pending = pool.submit(load, items[i + 1]) if i + 1 < len(items) else None
            yield item, media
