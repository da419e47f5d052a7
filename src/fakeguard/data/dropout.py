"""Landmark-guided dropout, as in the DFDC first-place solution (selimsef).

Erasing an eye band, the nose or the mouth, or half of the face, stops the detector from
relying on one facial part where a deepfake's artefacts happen to be most visible.
"""

from __future__ import annotations

from typing import Any, Literal

import albumentations as A
import cv2
import numpy as np
from albumentations.core.transforms_interface import BaseTransformInitSchema
from pydantic import Field, model_validator
from typing_extensions import Self

Branch = Literal["landmark", "half", "generic"]
Part = Literal["eyes", "nose", "mouth"]
Half = Literal["top", "bottom", "left", "right"]
PARTS: tuple[Part, ...] = ("eyes", "nose", "mouth")
HALVES: tuple[Half, ...] = ("top", "bottom", "left", "right")

# Landmark rows in `fakeguard.data.samples.LANDMARK_NAMES` order.
LEFT_EYE, RIGHT_EYE, NOSE, MOUTH_LEFT, MOUTH_RIGHT = range(5)
# Without landmarks the face is assumed centred in the crop, with this margin on every side.
CENTRE_MARGIN = 1 / 8
# Keeps cv2's integer coordinates and thickness in range for absurd (but finite) landmarks.
MAX_COORD = 1 << 15


class LandmarkDropout(A.DualTransform):
    """Zero out one facial part, half of the face, or random holes (pixels only).

    When applied, with probability `landmark_p` a thick line is drawn over the eyes
    (left -> right eye), the nose (nose -> mouth centre) or the mouth (left -> right corner),
    chosen uniformly; else with probability `half_p` the top, bottom, left or right half of
    the face box (landmark box grown by the eye distance, or the image centre without
    landmarks) is blacked out; else CoarseDropout or GridDropout (50/50).

    The band is `band_width` x the inter-eye distance thick. The winner drew a 2 px line and
    dilated it `eye_distance // 4` times (about eye_distance / 2 in all); the default 0.5 keeps
    that, so the eye band covers the eyes and brows but not the mouth.

    Without usable landmarks (none, fewer than 5, non-finite, coincident eyes) the landmark
    branch falls back to the other two in their ratio (to `half` if both are 0).
    Keypoints, masks and bboxes pass through unchanged.
    """

    class InitSchema(BaseTransformInitSchema):
        landmark_p: float = Field(ge=0, le=1)
        half_p: float = Field(ge=0, le=1)
        band_width: float = Field(gt=0)

        @model_validator(mode="after")
        def _probabilities_sum_to_at_most_one(self) -> Self:
            if self.landmark_p + self.half_p > 1 + 1e-9:
                raise ValueError(
                    f"landmark_p + half_p must be <= 1, got {self.landmark_p} + {self.half_p}"
                )
            return self

    def __init__(
        self,
        landmark_p: float = 0.7,
        half_p: float = 0.2,
        band_width: float = 0.5,
        p: float = 0.5,
    ) -> None:
        super().__init__(p=p)
        self.landmark_p = landmark_p
        self.half_p = half_p
        self.band_width = band_width
        # Built once; they only sample holes (with our generators) and paint them with 0.
        self._dropouts: dict[str, A.BaseDropout] = {
            "coarse": A.CoarseDropout(
                num_holes_range=(1, 3),
                hole_height_range=(0.1, 0.3),
                hole_width_range=(0.1, 0.3),
                fill=0,
                p=1.0,
            ),
            "grid": A.GridDropout(ratio=0.4, holes_number_xy=(5, 5), fill=0, p=1.0),
        }

    # --- sampling: every random draw happens here, from albumentations' generators ---

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        landmarks = usable_landmarks(data.get("keypoints"))
        branch = self._pick_branch(landmarks is not None)
        if branch == "landmark":
            return {"branch": branch, "part": self.py_random.choice(PARTS), "landmarks": landmarks}
        if branch == "half":
            box = face_box(landmarks, params["shape"][:2])
            return {"branch": branch, "half": self.py_random.choice(HALVES), "box": box}
        return {"branch": branch, **self._generic_params(params, data)}

    def _pick_branch(self, has_landmarks: bool) -> Branch:
        u = self.py_random.random()
        if u < self.landmark_p:
            if has_landmarks:
                return "landmark"
            rest = 1.0 - self.landmark_p
            if rest <= 0:
                return "half"
            # Redraw u within the half + generic share, keeping their ratio.
            u = self.landmark_p + self.py_random.random() * rest
        return "half" if u < self.landmark_p + self.half_p else "generic"

    def _generic_params(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        name = "coarse" if self.py_random.random() < 0.5 else "grid"
        dropout = self._dropouts[name]
        # Share our generators so Compose.set_random_seed also fixes the holes.
        dropout.set_random_state(self.random_generator, self.py_random)
        return {"dropout": name, **dropout.get_params_dependent_on_data(params, data)}

    # --- applying: deterministic given the params ---

    def apply(
        self,
        img: np.ndarray,
        branch: Branch,
        part: Part | None = None,
        landmarks: np.ndarray | None = None,
        half: Half | None = None,
        box: tuple[int, int, int, int] | None = None,
        dropout: str | None = None,
        holes: np.ndarray | None = None,
        seed: int | None = None,
        **params: Any,
    ) -> np.ndarray:
        if branch == "generic":
            return self._dropouts[dropout or "coarse"].apply(img, holes=holes, seed=seed)
        if branch == "landmark":
            mask = part_mask(img.shape[:2], landmarks, part, self.band_width)
        else:
            mask = half_mask(img.shape[:2], box, half)
        out = img.copy()
        out[mask] = 0
        return out

    def apply_to_mask(self, mask: np.ndarray, **params: Any) -> np.ndarray:
        return mask

    def apply_to_keypoints(self, keypoints: np.ndarray, **params: Any) -> np.ndarray:
        return keypoints

    def apply_to_bboxes(self, bboxes: np.ndarray, **params: Any) -> np.ndarray:
        return bboxes

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("landmark_p", "half_p", "band_width")


def usable_landmarks(keypoints: np.ndarray | None) -> np.ndarray | None:
    """The 5 landmarks as a (5, 2) float array, or None if missing, non-finite or degenerate.

    Inside a Compose keypoints carry extra columns (angle, scale...); only x, y matter here.
    """
    if keypoints is None:
        return None
    points = np.asarray(keypoints, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] < 5 or points.shape[1] < 2:
        return None
    points = points[:5, :2]
    if not np.isfinite(points).all() or eye_distance(points) < 1:
        return None
    return points


def eye_distance(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[RIGHT_EYE] - landmarks[LEFT_EYE]))


def part_segment(landmarks: np.ndarray, part: Part) -> tuple[np.ndarray, np.ndarray]:
    """The two end points of the line that covers `part`."""
    if part == "eyes":
        return landmarks[LEFT_EYE], landmarks[RIGHT_EYE]
    if part == "mouth":
        return landmarks[MOUTH_LEFT], landmarks[MOUTH_RIGHT]
    mouth_centre = (landmarks[MOUTH_LEFT] + landmarks[MOUTH_RIGHT]) / 2
    return landmarks[NOSE], mouth_centre


def part_mask(
    shape: tuple[int, int], landmarks: np.ndarray, part: Part, band_width: float
) -> np.ndarray:
    """Boolean (H, W) mask of a band `band_width` x eye distance thick over `part`.

    A thick cv2 line with round caps is what dilating a thin line gives, in one call.
    """
    start, end = (
        np.clip(np.rint(q), -MAX_COORD, MAX_COORD).astype(int)
        for q in part_segment(landmarks, part)
    )
    thickness = int(np.clip(round(band_width * eye_distance(landmarks)), 1, MAX_COORD - 1))
    canvas = np.zeros(shape, np.uint8)
    cv2.line(canvas, tuple(start.tolist()), tuple(end.tolist()), 1, thickness=thickness)
    return canvas.astype(bool)


def face_box(landmarks: np.ndarray | None, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2), clamped to the image: the landmarks' box grown by the eye distance
    (landmarks hug the inner face; this reaches brows and chin), else the image centre."""
    height, width = shape
    if landmarks is not None:
        grow = eye_distance(landmarks)
        low, high = landmarks.min(axis=0) - grow, landmarks.max(axis=0) + grow
        x1, x2 = (int(np.clip(round(v), 0, width)) for v in (low[0], high[0]))
        y1, y2 = (int(np.clip(round(v), 0, height)) for v in (low[1], high[1]))
        if x2 - x1 >= 2 and y2 - y1 >= 2:  # else the face is off the image: use the centre
            return x1, y1, x2, y2
    dy, dx = round(height * CENTRE_MARGIN), round(width * CENTRE_MARGIN)
    return dx, dy, width - dx, height - dy


def half_mask(shape: tuple[int, int], box: tuple[int, int, int, int], half: Half) -> np.ndarray:
    """Boolean (H, W) mask of one half of `box`."""
    x1, y1, x2, y2 = box
    xm, ym = (x1 + x2) // 2, (y1 + y2) // 2
    x1, x2 = {"left": (x1, xm), "right": (xm, x2)}.get(half, (x1, x2))
    y1, y2 = {"top": (y1, ym), "bottom": (ym, y2)}.get(half, (y1, y2))
    mask = np.zeros(shape, bool)
    mask[y1:y2, x1:x2] = True
    return mask
