"""The unit every data source produces: one face image with its label and grouping."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# MTCNN's landmark order; every landmark array in fakeguard uses it.
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class FaceSample:
    """One face crop, held in memory (demo data) or on disk (everything else).

    `label` follows docs/design.md, decision 2: 1 = fake, 0 = real. `source_id` names the group that
    must never be split across train/val/test (a real identity and the fakes made from it).
    `landmarks` is a (5, 2) float array of x, y pixel positions in `LANDMARK_NAMES` order.
    `video_id` names the video a crop came from, so evaluation can aggregate per video;
    `media` (a video or image file), `kind`, `frame` and `crop_box` (x1, y1, x2, y2 in frame
    pixels) say where the crop was cut, so the robustness suite can degrade the whole frame.
    """

    label: int
    source_id: str
    path: str | None = None
    image: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    method: str = ""
    video_id: str = ""
    media: str = ""
    kind: str = ""
    frame: int = -1
    crop_box: tuple[int, int, int, int] | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.image is None):
            raise ValueError("a FaceSample needs exactly one of `path` or `image`")
        if self.label not in (0, 1):
            raise ValueError(f"label must be 0 (real) or 1 (fake), got {self.label!r}")
