"""MTCNN face detection, crops with margin, and IoU tracks."""

import numpy as np
import pytest
from skimage import data

from fakeguard.data.faces import (
    Face,
    FaceDetector,
    assign_face_tracks,
    crop_box,
    detector_scale,
    keep_main_face,
)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def test_mtcnn_finds_the_astronauts_face_with_plausible_landmarks(detector):
    (faces,) = detector.detect([data.astronaut()])
    assert len(faces) == 1
    face = faces[0]
    x1, y1, x2, y2 = face.box
    assert face.prob > 0.99 and 60 < x2 - x1 < 120 and 80 < y2 - y1 < 140
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face.landmarks)
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_boxes_come_back_in_the_original_frames_pixels_whatever_the_detector_scale(detector):
    big = data.astronaut()
    small = big[::4, ::4].copy()  # 128 px: enlarged 2x before MTCNN
    (big_face,), (small_face,) = detector.detect([big, small])
    np.testing.assert_allclose(small_face.box * 4, big_face.box, atol=12)
    np.testing.assert_allclose(small_face.landmarks * 4, big_face.landmarks, atol=12)


@pytest.mark.parametrize(
    ("size", "scale"),
    [((240, 320), 1.0), ((200, 280), 2.0), ((720, 1280), 0.5), ((1080, 1920), 0.33)],
)
def test_detector_scale_follows_the_frame_size_rule(size, scale):
    assert detector_scale(*size) == scale


def test_blank_and_tiny_frames_give_no_face_instead_of_an_error(detector):
    frames = [np.zeros((64, 64, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)]
    assert detector.detect(frames) == [[], []]
    assert detector.too_small(8, 8) and not detector.too_small(64, 64)


def test_thresholds_are_validated():
    with pytest.raises(ValueError, match="three thresholds"):
        FaceDetector(thresholds=[0.9, 0.9])


def test_crop_adds_the_margin_on_each_side_and_stays_inside_the_frame():
    box = np.array([100, 100, 200, 150], dtype=np.float32)
    np.testing.assert_array_equal(crop_box(box, 480, 640, margin=0.3), [70, 85, 230, 165])
    np.testing.assert_array_equal(crop_box(box, 160, 210, margin=0.3), [70, 85, 210, 160])
    edge = np.array([-5, -5, 0.2, 0.2], dtype=np.float32)
    x1, y1, x2, y2 = crop_box(edge, 10, 10)
    assert 0 <= x1 < x2 <= 10 and 0 <= y1 < y2 <= 10


def _face(x: float, y: float, size: float = 50) -> Face:
    return Face(np.array([x, y, x + size, y + size], np.float32), np.zeros((5, 2)), 0.99)


def test_face_tracks_follow_each_face_across_frames_by_overlap():
    frames = [
        [_face(0, 0), _face(200, 0)],
        [_face(205, 2), _face(4, 3)],  # the same two faces, listed in the other order
        [_face(400, 400)],  # a new face
    ]
    assert assign_face_tracks(frames) == [[0, 1], [1, 0], [2]]


def test_largest_keeps_the_videos_main_face_not_a_bigger_face_seen_once():
    presenter = [_face(700, 100, 130) for _ in range(5)]
    frames = [[f] for f in presenter]
    frames[2] = [_face(150, 90, 170), presenter[2]]  # a bigger face on a screen, one frame
    frames[4] = [_face(150, 90, 170)]  # the presenter missed: fall back to the largest
    faces, face_tracks = keep_main_face(frames, assign_face_tracks(frames))
    assert [f[0].box[0] for f in faces] == [700, 700, 700, 700, 150]
    assert [t[0] for t in face_tracks] == [0, 0, 0, 0, 1]
