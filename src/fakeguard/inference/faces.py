"""Face crops of one media file, cut exactly as `fakeguard.prepare` cuts them."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fakeguard.data.extract import ExtractSettings, load_media, pick_faces
from fakeguard.data.faces import FaceDetector, crop_box
from fakeguard.data.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from fakeguard.data.sources import MediaItem


@dataclass
class FileFaces:
    """The crops of one file (uint8 RGB) with the frame each came from, how many frames were
    sampled (decoded), and why there are none when there are none (or, with crops, that the
    video was cut short)."""

    path: str
    crops: list[np.ndarray] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    frames_sampled: int = 0
    error: str = ""


def media_item(path: Path) -> MediaItem:
    """A stand-in MediaItem (label unknown) so prediction decodes through `load_media`."""
    kind = "video" if path.suffix.lower() in VIDEO_SUFFIXES else "image"
    return MediaItem(str(path), 0, "predict", "", "", path.stem, path.stem, kind)


def is_media(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES


def unreadable(path: Path) -> str:
    """Why `path` is no file to decode (a broken symlink, a symlink loop, a folder, a FIFO
    that would block the decoder...), or '' for a regular file."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "symlink loop"
        if path.is_symlink():
            return f"broken symlink (to {os.readlink(path)})"
        return f"cannot read: {error.strerror or error}"
    if stat.S_ISREG(mode):
        return ""
    if stat.S_ISDIR(mode):
        return "a folder"
    kinds = {stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a device"}
    kind = next((name for test, name in kinds.items() if test(mode)), "a special file")
    return f"not a regular file ({kind})"


def file_faces(path: Path, detector: FaceDetector, settings: ExtractSettings) -> FileFaces:
    """Sample frames (PyAV), find faces (MTCNN), keep them as preparation would and crop with
    its margin. Never raises for bad media: the reason goes into `error`."""
    result = FileFaces(str(path))
    result.error = unreadable(path)
    if not result.error and not is_media(path):
        result.error = f"not an image or video file ({path.suffix or 'no suffix'})"
    if result.error:
        return result
    media = load_media(media_item(path), settings.frames)
    result.frames_sampled = len(media.frames)
    if not media.frames:
        result.error = "; ".join(dict.fromkeys(f["reason"] for f in media.failures))
        return result
    indices = sorted(media.frames)
    frames = [media.frames[i] for i in indices]
    detected, _ = pick_faces(detector.detect(frames), settings)
    for index, frame, faces in zip(indices, frames, detected, strict=True):
        h, w = frame.shape[:2]
        for face in faces:
            x1, y1, x2, y2 = crop_box(face.box, h, w, settings.margin)
            result.crops.append(frame[y1:y2, x1:x2])
            result.frames.append(index)
    notes = [media.shortfall]  # a truncated video is still scored on the frames it has
    if not result.crops:
        notes.append(f"no face detected in {len(frames)} sampled frame(s)")
    result.error = "; ".join(note for note in notes if note)
    return result
