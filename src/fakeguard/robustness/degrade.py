"""Face samples under a suite track, computed once and cached on disk.

Where a sample's source frame is known (a manifest row with its media file, frame and crop
box), the track degrades the whole frame and the crop is taken afterwards: "frame" mode. For
crop-only data (the demo, plain folders, or a moved media file) it degrades the crop: "crop"
mode. H.264 tracks re-encode a source video whole ("video") and encode an image as a
one-frame clip ("image"). Every result records which mode was used.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from fakeguard.data.frames import read_frames
from fakeguard.data.images import read_rgb
from fakeguard.data.samples import FaceSample
from fakeguard.files import save_png
from fakeguard.robustness.suite import SUITE_VERSION, crop, degrade_crop, degrade_in_frame, track
from fakeguard.robustness.video import h264_video

log = logging.getLogger(__name__)


def mode_of(sample: FaceSample, name: str) -> str:
    """How `name` applies to `sample`: frame or crop, and for H.264 video or image."""
    in_frame = sample.crop_box is not None and bool(sample.media) and Path(sample.media).is_file()
    if not in_frame:
        return "crop" if track(name).crf is None else "crop/image"
    if track(name).crf is None:
        return "frame"
    return "frame/video" if sample.kind == "video" else "frame/image"


def cache_key(sample: FaceSample, name: str) -> str:
    """Suite version, track, sample identity and crop parameters: anything that changes the
    degraded crop changes the key."""
    if sample.path is not None:
        identity = sample.path
    else:
        identity = hashlib.sha1(np.ascontiguousarray(sample.image).tobytes()).hexdigest()
    parts = [SUITE_VERSION, name, identity, sample.media, str(sample.frame), str(sample.crop_box)]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


class DegradedSamples:
    """`images(track, samples)`: each sample's crop under the track, uint8 RGB.

    With a `cache_dir`, results are PNG files named by `cache_key` and written atomically, so
    parallel workers and later epochs or runs reuse them; `hits` and `misses` count lookups.
    """

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.hits = 0
        self.misses = 0

    def images(self, name: str, samples: Sequence[FaceSample]) -> list[np.ndarray | None]:
        """None for a sample the track cannot take (e.g. a 1-pixel crop for H.264), logged;
        a missing codec is never skipped: it raises CodecUnavailableError."""
        track(name)  # an unknown name fails before any work
        found: dict[int, np.ndarray] = {}
        missing = []
        for i, sample in enumerate(samples):
            cached = self._read(name, sample)
            if cached is None:
                missing.append(i)
            else:
                found[i] = cached
        self.hits += len(found)
        self.misses += len(missing)
        for i, image in self._compute(name, [samples[i] for i in missing], missing).items():
            found[i] = image
            if image is not None:
                self._write(name, samples[i], image)
        return [found[i] for i in range(len(samples))]

    def modes(self, name: str, samples: Sequence[FaceSample]) -> dict[str, int]:
        return dict(Counter(mode_of(s, name) for s in samples))

    def _path(self, name: str, sample: FaceSample) -> Path | None:
        if self.cache_dir is None or name == "clean":  # the crop itself: nothing to keep
            return None
        return self.cache_dir / SUITE_VERSION / name / f"{cache_key(sample, name)}.png"

    def _read(self, name: str, sample: FaceSample) -> np.ndarray | None:
        path = self._path(name, sample)
        if path is None or not path.is_file():
            return None
        return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    def _write(self, name: str, sample: FaceSample, image: np.ndarray) -> None:
        path = self._path(name, sample)
        if path is not None:
            save_png(path, image)

    def _compute(
        self, name: str, samples: Sequence[FaceSample], ids: Sequence[int]
    ) -> dict[int, np.ndarray]:
        """Degrade samples; those from one video share one decode (and one re-encode)."""
        out: dict[int, np.ndarray] = {}
        videos: dict[str, list[tuple[int, FaceSample]]] = {}
        for i, sample in zip(ids, samples, strict=True):
            if sample.kind == "video" and mode_of(sample, name).startswith("frame"):
                videos.setdefault(sample.media, []).append((i, sample))
            else:
                out[i] = _guarded(_degrade_still, name, sample)
        for media, members in videos.items():
            degraded = _guarded(_degrade_video, name, media, members) or {}
            out.update({i: degraded.get(i) for i, _ in members})
        return out


def _guarded(fn, *args):
    """fn(*args), or None with a warning when the input cannot be degraded (bad size, bad
    file): one odd sample must never stop a training run's callback."""
    try:
        return fn(*args)
    except (ValueError, OSError) as error:  # MediaReadError, ImageReadError are ValueErrors
        log.warning("robustness suite skips a sample: %s", error)
        return None


def _degrade_still(name: str, sample: FaceSample) -> np.ndarray:
    if mode_of(sample, name).startswith("crop"):
        image = sample.image if sample.image is not None else read_rgb(sample.path)
        return degrade_crop(name, image)
    return degrade_in_frame(name, read_rgb(sample.media), sample.crop_box)


def _degrade_video(
    name: str, media: str, members: Sequence[tuple[int, FaceSample]]
) -> dict[int, np.ndarray]:
    indices = sorted({s.frame for _, s in members})
    crf = track(name).crf
    if crf is not None:
        frames = h264_video(media, crf, indices)
        return {i: crop(frames[s.frame], s.crop_box) for i, s in members if s.frame in frames}
    frames = read_frames(media, indices)
    return {
        i: degrade_in_frame(name, frames[s.frame], s.crop_box)
        for i, s in members
        if s.frame in frames
    }
