"""fakeguard's MTCNN cascade finds what facenet-pytorch's own `detect` finds."""

import numpy as np
import pytest
import torch
from helpers import face_image
from skimage import data

from fakeguard.data.faces import FaceDetector, iou


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def facenet_reference(detector: FaceDetector, frames: np.ndarray):
    with torch.inference_mode():
        return detector.mtcnn.detect(frames, landmarks=True)


@pytest.mark.parametrize("image", ["astronaut", "small_faces"])
def test_boxes_landmarks_and_probabilities_match_facenet(detector, image):
    if image == "astronaut":
        frames = np.stack([data.astronaut(), data.astronaut()[:, ::-1].copy()])
    else:  # three 64 px faces on a 400 x 300 frame
        frame = np.full((300, 400, 3), 100, np.uint8)
        for x in (20, 160, 300):
            frame[100:164, x : x + 64] = face_image(64)
        frames = frame[None]
    boxes, probs, points = facenet_reference(detector, frames)
    ours = detector.detect(list(frames))  # both at scale 1 for these sizes
    for faces, ref_boxes, ref_probs, ref_points in zip(ours, boxes, probs, points, strict=True):
        assert len(faces) == len(ref_boxes)
        for face in faces:
            j = max(
                range(len(ref_boxes)), key=lambda k: iou(face.box, ref_boxes[k].astype(np.float32))
            )
            # within a few pixels: IoU 0.85 on a 64 px face
            assert iou(face.box, ref_boxes[j].astype(np.float32)) > 0.85
            np.testing.assert_allclose(face.landmarks, ref_points[j].astype(np.float32), atol=3)
            assert face.prob == pytest.approx(float(ref_probs[j]), abs=0.02)
