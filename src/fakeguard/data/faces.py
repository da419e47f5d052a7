"""Face detection with facenet-pytorch's MTCNN: boxes, 5 landmarks, crops and face tracks."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from fakeguard import settings
from fakeguard.data.mtcnn import detect_faces
from fakeguard.errors import SettingError

DEFAULT_THRESHOLDS = (0.85, 0.95, 0.95)  # the DFDC-winning pipeline's, stricter than MTCNN's
# P-Net looks at 12 px windows: the image pyramid starts at scale 12 / min_face_size, so a
# smaller minimum would enlarge every frame (by 12x at 1 px) to find faces MTCNN cannot resolve.
MIN_FACE_SIZE = 12


@dataclass(frozen=True)
class Face:
    """One detection in frame pixels: `box` (x1, y1, x2, y2), `landmarks` (5, 2) in MTCNN order
    (eyes, nose, mouth corners), and the detector's probability."""

    box: np.ndarray
    landmarks: np.ndarray
    prob: float

    @property
    def area(self) -> float:
        return float(max(self.box[2] - self.box[0], 0) * max(self.box[3] - self.box[1], 0))


def detector_scale(height: int, width: int) -> float:
    """How much to resize a frame before MTCNN (the DFDC winner's rule): small frames are
    enlarged so small faces clear MTCNN's minimum size, large ones shrunk for speed."""
    longer = max(height, width)
    if longer < 300:
        return 2.0
    if longer <= 1000:
        return 1.0
    if longer <= 1900:
        return 0.5
    return 0.33


def check_thresholds(name: str, value: Any) -> tuple[float, ...]:
    """MTCNN's three stage thresholds (P-, R-, O-Net), each in (0, 1)."""
    found = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
    if found is None or len(found) != 3 or not all(_in_unit_interval(t) for t in found):
        shown = value if found is None else f"[{','.join(map(str, found))}]"
        raise SettingError(
            f"{name}={shown} must be three thresholds in (0, 1), one per MTCNN stage "
            "(e.g. [0.85,0.95,0.95])"
        )
    return tuple(float(t) for t in found)


def _in_unit_interval(value: Any) -> bool:
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    return real and 0 < value < 1


def check_detector_settings(values: Mapping[str, Any], prefix: str = "detector.") -> None:
    """The `FaceDetector` settings as prepare.yaml and predict.yaml hold them, named as the
    user types them (`detector.min_face_size=5`); a `SettingError` for the first bad one."""
    settings.group(
        prefix,
        values,
        {
            "thresholds": check_thresholds,
            "min_face_size": lambda name, v: settings.whole_number(name, v, MIN_FACE_SIZE, " px"),
            "batch_size": lambda name, v: settings.whole_number(name, v, 1),
            "device": settings.device,
        },
    )


class FaceDetector:
    """MTCNN over batches of frames; returns every face of each frame, largest first.

    The networks and weights are facenet-pytorch's; the cascade runs in `fakeguard.data.mtcnn`.
    """

    def __init__(
        self,
        thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
        min_face_size: int = 20,
        batch_size: int = 32,
        device: str = "cpu",
    ) -> None:
        from facenet_pytorch import MTCNN

        check_detector_settings(
            {
                "thresholds": thresholds,
                "min_face_size": min_face_size,
                "batch_size": batch_size,
                "device": str(device),  # a torch.device too
            }
        )
        self.batch_size = batch_size
        self.min_face_size = min_face_size
        self.thresholds = tuple(thresholds)
        self.mtcnn = MTCNN(
            keep_all=True,
            thresholds=list(thresholds),
            min_face_size=min_face_size,
            device=torch.device(device),
        )

    def too_small(self, height: int, width: int) -> bool:
        """Whether a frame, once scaled, is smaller than MTCNN's smallest face (MTCNN would
        fail on it rather than find nothing)."""
        return min(height, width) * detector_scale(height, width) < self.min_face_size

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """Faces in each uint8 RGB frame; frames of equal size are detected in batches.
        A frame that is `too_small` has no faces."""
        found: list[list[Face]] = [[] for _ in frames]
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, frame in enumerate(frames):
            if not self.too_small(*frame.shape[:2]):
                by_shape.setdefault(frame.shape, []).append(i)
        for shape, indices in by_shape.items():
            scale = detector_scale(shape[0], shape[1])
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                batch = np.stack([_resize(frames[i], scale) for i in chunk])
                for i, faces in zip(chunk, self._detect_batch(batch, scale), strict=True):
                    found[i] = faces
        return found

    def _detect_batch(self, batch: np.ndarray, scale: float) -> list[list[Face]]:
        nets = (self.mtcnn.pnet, self.mtcnn.rnet, self.mtcnn.onet)
        with torch.inference_mode():
            found = detect_faces(batch, nets, self.min_face_size, self.thresholds)
        return [
            sorted(
                (
                    Face(box / scale, landmarks / scale, float(prob))
                    for box, prob, landmarks in zip(boxes, probs, points, strict=True)
                ),
                key=lambda f: f.area,
                reverse=True,
            )
            for boxes, probs, points in found
        ]


def _resize(frame: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return frame
    h, w = frame.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(frame, size, interpolation=interpolation)


def crop_box(box: np.ndarray, height: int, width: int, margin: float = 0.3) -> np.ndarray:
    """The integer crop (x1, y1, x2, y2) around `box`: `margin` of the box's width and height
    added on each side, clamped to the frame. Never empty."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    left = int(np.clip(np.floor(x1 - dx), 0, width - 1))
    top = int(np.clip(np.floor(y1 - dy), 0, height - 1))
    right = int(np.clip(np.ceil(x2 + dx), left + 1, width))
    bottom = int(np.clip(np.ceil(y2 + dy), top + 1, height))
    return np.array([left, top, right, bottom], dtype=np.int64)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def assign_face_tracks(
    faces_per_frame: Sequence[Sequence[Face]], min_iou: float = 0.3
) -> list[list[int]]:
    """A face track id for every face: greedy IoU matching of each frame's faces (largest
    first) against each face track's latest box. A face that overlaps none starts a new one."""
    last_box: dict[int, np.ndarray] = {}
    face_tracks: list[list[int]] = []
    for faces in faces_per_frame:
        free = set(last_box)
        ids = []
        for face in faces:
            best = max(free, key=lambda t: iou(face.box, last_box[t]), default=None)
            if best is None or iou(face.box, last_box[best]) < min_iou:
                best = len(last_box)
            free.discard(best)
            last_box[best] = face.box
            ids.append(best)
        face_tracks.append(ids)
    return face_tracks


def keep_main_face(
    faces_per_frame: Sequence[Sequence[Face]], face_tracks: Sequence[Sequence[int]]
) -> tuple[list[list[Face]], list[list[int]]]:
    """One face per frame: the video's main face, i.e. the face track with the largest total
    area over all frames, or the frame's largest face where that face track was not detected.

    Per-frame "largest" would jump to whoever is biggest in each frame, e.g. a face on a TV
    screen behind a news presenter that MTCNN finds in a few frames only.
    """
    area: dict[int, float] = {}
    for faces, ids in zip(faces_per_frame, face_tracks, strict=True):
        for face, face_track in zip(faces, ids, strict=True):
            area[face_track] = area.get(face_track, 0.0) + face.area
    main = max(area, key=area.get, default=None)
    kept_faces, kept_face_tracks = [], []
    for faces, ids in zip(faces_per_frame, face_tracks, strict=True):
        j = ids.index(main) if main in ids else 0
        kept_faces.append(list(faces[j : j + 1]))
        kept_face_tracks.append(list(ids[j : j + 1]))
    return kept_faces, kept_face_tracks
