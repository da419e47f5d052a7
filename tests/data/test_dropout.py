"""LandmarkDropout: which pixels each branch erases, fallbacks, seeding and serialisation."""

from __future__ import annotations

from collections import Counter

import albumentations as A
import numpy as np
import pytest
from helpers import face_image

from fakeguard.data.dropout import LandmarkDropout, face_box
from fakeguard.data.transforms import compose

SIZE = 160


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut face and its MTCNN landmarks (left eye, right eye, nose, mouth corners)."""
    from fakeguard.data.faces import FaceDetector

    image = face_image(SIZE)
    landmarks = FaceDetector().detect([image])[0][0].landmarks.astype(np.float32)
    return image, landmarks


def along(start: np.ndarray, end: np.ndarray, n: int = 11) -> np.ndarray:
    """Integer pixel (x, y) points on the segment start -> end."""
    return np.rint(np.linspace(start, end, n)).astype(int)


def around(point: np.ndarray, radius: int = 2) -> tuple[slice, slice]:
    x, y = np.rint(point).astype(int)
    return slice(y - radius, y + radius + 1), slice(x - radius, x + radius + 1)


def erase(image: np.ndarray, **params: object) -> np.ndarray:
    return LandmarkDropout(p=1.0).apply(image, **params)


def part_line(landmarks: np.ndarray, part: str) -> tuple[np.ndarray, np.ndarray]:
    if part == "eyes":
        return landmarks[0], landmarks[1]
    if part == "mouth":
        return landmarks[3], landmarks[4]
    return landmarks[2], (landmarks[3] + landmarks[4]) / 2


# Landmarks whose surroundings each part must leave intact.
SPARED = {"eyes": (3, 4), "nose": (0, 1), "mouth": (0, 1)}


@pytest.mark.parametrize("part", ["eyes", "nose", "mouth"])
def test_part_erases_its_line_and_spares_the_other_features(face, part):
    image, landmarks = face
    before = image.copy()
    out = erase(image, branch="landmark", part=part, landmarks=landmarks)

    for x, y in along(*part_line(landmarks, part)):
        assert (out[y, x] == 0).all(), f"{part}: ({x}, {y}) on the line was not erased"
    for index in SPARED[part]:
        window = around(landmarks[index])
        np.testing.assert_array_equal(out[window], image[window])
    assert out.shape == image.shape and out.dtype == image.dtype
    np.testing.assert_array_equal(image, before)  # the input is not modified in place


def test_band_thickness_scales_with_inter_eye_distance():
    """A face twice as large loses a band twice as thick (band_width x eye distance)."""
    image = np.full((256, 256, 3), 200, np.uint8)
    unit = np.array([[-1, 0], [1, 0], [0, 0.8], [-0.7, 1.5], [0.7, 1.5]])

    def thickness(scale: float) -> int:
        landmarks = 128 + unit * scale
        out = erase(image, branch="landmark", part="eyes", landmarks=landmarks)
        return int((out[:, 128] == 0).all(axis=1).sum())  # the band's height at the face centre

    small, large = thickness(20), thickness(40)  # eye distances 40 and 80 px
    assert small == pytest.approx(0.5 * 40, abs=2)
    assert large == pytest.approx(0.5 * 80, abs=2)
    assert large > small


@pytest.mark.parametrize("half", ["top", "bottom", "left", "right"])
def test_half_blacks_out_exactly_one_half_of_the_face_box(face, half):
    _, landmarks = face
    image = np.full((SIZE, SIZE, 3), 255, np.uint8)
    box = face_box(landmarks, (SIZE, SIZE))
    x1, y1, x2, y2 = box
    xm, ym = (x1 + x2) // 2, (y1 + y2) // 2
    expected = np.zeros((SIZE, SIZE), bool)
    region = {
        "top": (slice(y1, ym), slice(x1, x2)),
        "bottom": (slice(ym, y2), slice(x1, x2)),
        "left": (slice(y1, y2), slice(x1, xm)),
        "right": (slice(y1, y2), slice(xm, x2)),
    }[half]
    expected[region] = True

    out = erase(image, branch="half", half=half, box=box)

    np.testing.assert_array_equal((out == 0).all(axis=2), expected)
    np.testing.assert_array_equal(out[~expected], image[~expected])


def test_face_box_covers_the_landmarks_with_a_margin_and_stays_in_the_image(face):
    _, landmarks = face
    x1, y1, x2, y2 = face_box(landmarks, (SIZE, SIZE))
    eye_distance = np.linalg.norm(landmarks[1] - landmarks[0])
    assert x1 <= landmarks[:, 0].min() - eye_distance + 1
    assert y2 >= min(landmarks[:, 1].max() + eye_distance - 1, SIZE)
    assert 0 <= x1 < x2 <= SIZE and 0 <= y1 < y2 <= SIZE
    # Landmarks near a corner: the box is clamped, not wrapped or empty.
    assert face_box(landmarks - 60, (SIZE, SIZE))[:2] == (0, 0)
    assert face_box(None, (SIZE, SIZE)) == (20, 20, 140, 140)


@pytest.mark.parametrize(
    "keypoints",
    [np.zeros((0, 2), np.float32), np.full((5, 2), np.nan, np.float32)],
    ids=["none", "nan"],
)
def test_without_landmarks_the_landmark_branch_falls_back_and_still_erases(face, keypoints):
    image, _ = face
    pipeline = compose([LandmarkDropout(landmark_p=1.0, half_p=0.0, p=1.0)])

    out = pipeline(image=image, keypoints=keypoints)

    assert pipeline.transforms[0].params["branch"] == "half"
    assert (out["image"] != image).any()
    np.testing.assert_array_equal(out["keypoints"], keypoints)


def test_without_landmarks_the_default_mix_never_picks_the_landmark_branch(face):
    image, _ = face
    pipeline = compose([LandmarkDropout(p=1.0)])
    pipeline.set_random_seed(0)
    branches = Counter()
    for _ in range(50):
        out = pipeline(image=image, keypoints=np.zeros((0, 2), np.float32))
        branches[pipeline.transforms[0].params["branch"]] += 1
        assert (out["image"] != image).any()
    assert set(branches) == {"half", "generic"}


@pytest.mark.parametrize(
    ("landmark_p", "half_p", "branch"),
    [(1.0, 0.0, "landmark"), (0.0, 1.0, "half"), (0.0, 0.0, "generic")],
)
def test_each_branch_changes_a_face_through_a_strict_compose(face, landmark_p, half_p, branch):
    image, landmarks = face
    mask = np.ones(image.shape[:2], np.uint8)
    pipeline = compose([LandmarkDropout(landmark_p=landmark_p, half_p=half_p, p=1.0)])

    for seed in range(4):  # several parts / halves / dropout kinds
        pipeline.set_random_seed(seed)
        out = pipeline(image=image, keypoints=landmarks, mask=mask)

        assert pipeline.transforms[0].params["branch"] == branch
        assert (out["image"] != image).any()
        np.testing.assert_allclose(out["keypoints"], landmarks)  # pixel-only change
        np.testing.assert_array_equal(out["mask"], mask)


def test_branches_follow_the_configured_probabilities(face):
    image, landmarks = face
    dropout = LandmarkDropout(landmark_p=0.7, half_p=0.2, p=1.0)
    dropout.set_random_seed(0)
    params = {"shape": image.shape}
    data = {"image": image, "keypoints": landmarks}
    draws = [dropout.get_params_dependent_on_data(params, data) for _ in range(2000)]

    branches = Counter(d["branch"] for d in draws)
    assert branches["landmark"] / 2000 == pytest.approx(0.7, abs=0.04)
    assert branches["half"] / 2000 == pytest.approx(0.2, abs=0.03)
    assert branches["generic"] / 2000 == pytest.approx(0.1, abs=0.03)
    assert {d["part"] for d in draws if d["branch"] == "landmark"} == {"eyes", "nose", "mouth"}
    assert {d["dropout"] for d in draws if d["branch"] == "generic"} == {"coarse", "grid"}


def test_p0_leaves_the_image_unchanged(face):
    image, landmarks = face
    out = compose([LandmarkDropout(p=0.0)])(image=image, keypoints=landmarks)
    np.testing.assert_array_equal(out["image"], image)


def test_same_seed_gives_the_same_output(face):
    image, landmarks = face

    def run(seed: int) -> list[np.ndarray]:
        pipeline = compose([LandmarkDropout(p=0.8)])
        pipeline.set_random_seed(seed)
        return [pipeline(image=image, keypoints=landmarks)["image"] for _ in range(8)]

    first, again, other = run(7), run(7), run(8)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any((a != b).any() for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize(
    "kwargs",
    [{"landmark_p": 1.2}, {"half_p": -0.1}, {"landmark_p": 0.9, "half_p": 0.2}, {"p": 2.0}],
)
def test_invalid_probabilities_are_rejected(kwargs):
    with pytest.raises(ValueError):
        LandmarkDropout(**kwargs)


def test_save_and_load_round_trip_a_strict_compose(face, tmp_path):
    image, landmarks = face
    pipeline = compose([LandmarkDropout(landmark_p=0.5, half_p=0.3, band_width=0.6, p=0.9)])
    path = tmp_path / "pipeline.json"

    A.save(pipeline, str(path))
    loaded = A.load(str(path))

    # albumentations does not serialise `strict`; every other argument must survive.
    assert A.to_dict(loaded) == A.to_dict(pipeline)
    pipeline.set_random_seed(3)
    loaded.set_random_seed(3)
    for _ in range(4):
        np.testing.assert_array_equal(
            loaded(image=image, keypoints=landmarks)["image"],
            pipeline(image=image, keypoints=landmarks)["image"],
        )
