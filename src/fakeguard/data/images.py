"""Reading images from disk as uint8 RGB, whatever their bit depth or channel count."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})


class ImageReadError(ValueError):
    """An image file that cannot be decoded."""


def bgr_to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Any OpenCV-decoded array, in OpenCV's BGR order (grey, BGR, BGRA; 8 or 16 bit) -> uint8
    RGB HWC. Arrays already in RGB order go through `fakeguard.robustness.codecs.as_rgb_uint8`."""
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageReadError(f"unsupported pixel type {image.dtype}")
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file to uint8 RGB HWC, or raise ImageReadError naming the file."""
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ImageReadError(f"cannot decode image {path}")
    return bgr_to_rgb_uint8(image)


def why_unusable(path: Path) -> str | None:
    """A reason the file cannot serve as a training image, or None if its header reads fine.

    This reads headers only (cheap for large folders); a file whose pixel data is damaged is
    caught later, when the dataset decodes it.
    """
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return "video file: extract faces with `python -m fakeguard.prepare` first"
    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return f"not a readable image ({type(error).__name__})"
    return None
