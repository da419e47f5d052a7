"""The MTCNN cascade over facenet-pytorch's P/R/O-Nets, with OpenCV doing the resizing.

facenet-pytorch's `detect_face` resizes the image pyramid and every candidate box with
separate float `interpolate(mode="area")` calls; on CPU that is about a third of its time.
This driver runs the same cascade (same networks and weights, thresholds, NMS, box
regression and squaring, via facenet's own helpers) but resizes uint8 arrays with OpenCV's
INTER_AREA, each pyramid level from the previous one. Boxes, landmarks and probabilities agree
with facenet's to a few pixels (tests/data/test_mtcnn.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from facenet_pytorch.models.utils.detect_face import (
    batched_nms_numpy,
    bbreg,
    generateBoundingBox,
    pad,
    rerec,
)
from torchvision.ops import batched_nms

PYRAMID_FACTOR = 0.709


def _to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 NHWC -> the networks' normalised float NCHW."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().sub_(127.5).mul_(0.0078125)


def _pyramid_scales(height: int, width: int, min_face_size: int) -> list[float]:
    scale = 12.0 / min_face_size
    side = min(height, width) * scale
    scales = []
    while side >= 12:
        scales.append(scale)
        scale *= PYRAMID_FACTOR
        side *= PYRAMID_FACTOR
    return scales


def _proposals(frames: np.ndarray, pnet, min_face_size: int, threshold: float):
    """Stage 1: P-Net over the image pyramid -> square candidate boxes and their frames."""
    _, h, w, _ = frames.shape
    boxes, inds = [], []
    resized = frames
    for scale in _pyramid_scales(h, w, min_face_size):
        # each level from the one before: the pyramid then costs about 1.5 full-size
        # resizes instead of one per level
        size = (int(w * scale + 1), int(h * scale + 1))
        resized = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in resized])
        reg, probs = pnet(_to_input(resized))
        found, found_inds = generateBoundingBox(reg, probs[:, 1], scale, threshold)
        pick = batched_nms(found[:, :4], found[:, 4], found_inds, 0.5)
        boxes.append(found[pick])
        inds.append(found_inds[pick])
    boxes, inds = torch.cat(boxes), torch.cat(inds)
    pick = batched_nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
    boxes, inds = boxes[pick], inds[pick]
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    refined = torch.stack(
        [
            boxes[:, 0] + boxes[:, 5] * width,
            boxes[:, 1] + boxes[:, 6] * height,
            boxes[:, 2] + boxes[:, 7] * width,
            boxes[:, 3] + boxes[:, 8] * height,
            boxes[:, 4],
        ],
        dim=1,
    )
    return rerec(refined), inds


def _crops(frames: np.ndarray, boxes: torch.Tensor, inds: torch.Tensor, size: int) -> torch.Tensor:
    """Each candidate's patch (clamped to its frame as facenet does), resized to size x size."""
    _, h, w, _ = frames.shape
    y, ey, x, ex = pad(boxes, w, h)
    patches = [
        cv2.resize(
            frames[i, y[k] - 1 : max(ey[k], y[k]), x[k] - 1 : max(ex[k], x[k])],
            (size, size),
            interpolation=cv2.INTER_AREA,
        )
        for k, i in enumerate(inds.tolist())
    ]
    return _to_input(np.stack(patches))


def detect_faces(
    frames: np.ndarray,
    nets: tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module],
    min_face_size: int,
    thresholds: Sequence[float],
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Faces in each of a batch of equal-size uint8 RGB frames (N, H, W, 3): per frame,
    boxes (n, 4) x1 y1 x2 y2, probabilities (n,) and landmarks (n, 5, 2), in its pixels."""
    pnet, rnet, onet = nets
    boxes, inds = _proposals(frames, pnet, min_face_size, thresholds[0])
    points = torch.zeros(0, 5, 2)
    if len(boxes):  # stage 2: R-Net rejects and refines
        reg, probs = rnet(_crops(frames, boxes, inds, 24))
        keep = probs[:, 1] > thresholds[1]
        boxes = torch.cat([boxes[keep, :4], probs[keep, 1:2]], dim=1)
        inds, reg = inds[keep], reg[keep]
        pick = batched_nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
        boxes = rerec(bbreg(boxes[pick], reg[pick]))
        inds = inds[pick]
    if len(boxes):  # stage 3: O-Net scores, refines and places the 5 landmarks
        reg, marks, probs = onet(_crops(frames, boxes, inds, 48))
        keep = probs[:, 1] > thresholds[2]
        boxes = torch.cat([boxes[keep, :4], probs[keep, 1:2]], dim=1)
        inds, reg, marks = inds[keep], reg[keep], marks[keep]
        size_x = (boxes[:, 2] - boxes[:, 0] + 1).unsqueeze(1)
        size_y = (boxes[:, 3] - boxes[:, 1] + 1).unsqueeze(1)
        points = torch.stack(
            [
                size_x * marks[:, :5] + boxes[:, 0:1] - 1,
                size_y * marks[:, 5:] + boxes[:, 1:2] - 1,
            ],
            dim=2,
        )
        boxes = bbreg(boxes, reg)
        pick = batched_nms_numpy(boxes[:, :4], boxes[:, 4], inds, 0.7, "Min")
        boxes, inds, points = boxes[pick], inds[pick], points[pick]
    boxes, points, inds = boxes.numpy(), points.numpy(), inds.numpy()
    return [
        (boxes[inds == i, :4], boxes[inds == i, 4], points[inds == i]) for i in range(len(frames))
    ]
