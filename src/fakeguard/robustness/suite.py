"""Robustness suite v1: named, pinned degradations (docs/design.md, decision 4).

The constants below are the suite. They are not options: changing one changes what every
number ever reported under "suite v1" means, so a change needs a new version.

- `clean`: identity.
- `jpeg50`: JPEG quality 50, 4:2:0.
- `social`: the BitMind gasbench image chain (up to its model-input resize): a down-then-up
  resize to half size (at least 256 px, only when both sides shrink), JPEG q55, WebP q75,
  JPEG q80.
- `h264_c23`, `h264_c40`: libx264 at CRF 23 / 40 (FaceForensics++ c23 / c40). A video source
  is re-encoded whole and the same crops are taken at the same frames and boxes ("video"
  mode); an image is encoded as a one-frame clip ("image" mode).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fakeguard.robustness import codecs

SUITE_VERSION = "v1"


def social(image: np.ndarray) -> np.ndarray:
    """The gasbench social-media chain, bit for bit for the same Pillow and OpenCV."""
    h, w = image.shape[:2]
    sh, sw = max(256, int(round(h * 0.5))), max(256, int(round(w * 0.5)))
    if sh < h and sw < w:
        image = codecs.resize_down_up(image, sw, sh)
    image = codecs.jpeg(image, 55)
    image = codecs.webp(image, 75)
    return codecs.jpeg(image, 80)


@dataclass(frozen=True)
class Track:
    """One degradation. `image` degrades a still; `crf` marks an H.264 track, which degrades a
    video source as a whole clip. `title` labels its row in evaluate.py's report."""

    name: str
    image: Callable[[np.ndarray], np.ndarray]
    crf: int | None = None
    title: str = ""


def _identity(image: np.ndarray) -> np.ndarray:
    return image


TRACKS: dict[str, Track] = {
    "clean": Track("clean", _identity, title="Clean"),
    "jpeg50": Track("jpeg50", lambda image: codecs.jpeg(image, 50), title="JPEG 50"),
    "social": Track("social", social, title="Social (gasbench chain)"),
    "h264_c23": Track(
        "h264_c23",
        lambda image: codecs.h264_image(image, 23),
        crf=23,
        title="H.264 CRF 23 (c23)",
    ),
    "h264_c40": Track(
        "h264_c40",
        lambda image: codecs.h264_image(image, 40),
        crf=40,
        title="H.264 CRF 40 (c40)",
    ),
}


def track(name: str) -> Track:
    """The track called `name`, or a ValueError listing the suite's tracks."""
    if name not in TRACKS:
        raise ValueError(
            f"no track {name!r} in suite {SUITE_VERSION}: choose from {sorted(TRACKS)}"
        )
    return TRACKS[name]


def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.ascontiguousarray(image[y1:y2, x1:x2])


def degrade_crop(name: str, image: np.ndarray) -> np.ndarray:
    """A track applied to a crop-only sample (no source frame known)."""
    return track(name).image(codecs.as_rgb_uint8(image))


def degrade_in_frame(name: str, frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """A track applied to the whole frame or image, then the face crop taken from it: platforms
    compress frames, not crops."""
    return crop(track(name).image(codecs.as_rgb_uint8(frame)), box)
