"""The embedded demo data: reproducible, balanced, grouped, with landmarks that fit the face."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from fakeguard.data.blend import SelfBlend
from fakeguard.data.demo import make_demo_samples, render_face


def test_same_seed_gives_identical_samples():
    first = make_demo_samples(3, 64, seed=5)
    again = make_demo_samples(3, 64, seed=5)
    for a, b in zip(first, again, strict=True):
        assert (a.label, a.source_id, a.method) == (b.label, b.source_id, b.method)
        assert np.array_equal(a.image, b.image) and np.array_equal(a.landmarks, b.landmarks)


def test_different_seeds_give_different_faces():
    a = make_demo_samples(1, 64, seed=0)[0].image
    b = make_demo_samples(1, 64, seed=1)[0].image
    assert not np.array_equal(a, b)


def test_identity_does_not_depend_on_how_many_are_requested():
    few = make_demo_samples(2, 64, seed=3)
    many = make_demo_samples(5, 64, seed=3)
    for a, b in zip(few, many[: len(few)], strict=True):
        assert a.source_id == b.source_id and np.array_equal(a.image, b.image)


def test_each_identity_has_one_real_and_one_self_blended_fake():
    samples = make_demo_samples(6, 64, seed=0)
    assert len(samples) == 12
    assert Counter(s.label for s in samples) == {0: 6, 1: 6}
    by_id: dict[str, list[int]] = {}
    for s in samples:
        by_id.setdefault(s.source_id, []).append(s.label)
    assert sorted(by_id) == [f"demo_{i:05d}" for i in range(6)]
    assert all(sorted(labels) == [0, 1] for labels in by_id.values())
    assert {s.method for s in samples if s.label == 1} == {"self_blend"}


@pytest.mark.parametrize("size", [48, 64, 128])
def test_images_are_uint8_rgb_at_the_requested_size(size):
    for s in make_demo_samples(2, size, seed=0):
        assert s.image.shape == (size, size, 3) and s.image.dtype == np.uint8
        assert s.landmarks.shape == (5, 2) and s.landmarks.dtype == np.float32
        assert s.path is None


def test_landmarks_lie_inside_the_image_in_mtcnn_order():
    size = 96
    rng = np.random.default_rng(0)
    for _ in range(50):
        image, lm = render_face(rng, size)
        assert image.shape == (size, size, 3)
        assert np.all((lm >= 0) & (lm <= size - 1))
        left_eye, right_eye, nose, mouth_left, mouth_right = lm
        assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
        eyes_y, mouth_y = (left_eye[1] + right_eye[1]) / 2, (mouth_left[1] + mouth_right[1]) / 2
        assert eyes_y < nose[1] < mouth_y


def test_landmarks_mark_drawn_features_not_background():
    """The eyes are drawn where the landmarks say: dark pupil/iris near each eye landmark."""
    rng = np.random.default_rng(1)
    for _ in range(10):
        image, lm = render_face(rng, 128)
        grey = image.mean(axis=2)
        for x, y in lm[:2]:
            x, y = int(round(x)), int(round(y))
            patch = grey[y - 4 : y + 5, x - 6 : x + 7]
            assert patch.min() < grey.mean(), "no dark iris or pupil at an eye landmark"


def test_real_and_fake_of_one_identity_differ_mostly_on_the_face():
    samples = make_demo_samples(4, 128, seed=2)
    for real, fake in zip(samples[::2], samples[1::2], strict=True):
        diff = np.abs(real.image.astype(int) - fake.image.astype(int)).sum(axis=2)
        lm = real.landmarks
        centre, eye_dist = lm.mean(axis=0), np.linalg.norm(lm[1] - lm[0])
        ys, xs = np.mgrid[0:128, 0:128]
        dist = np.hypot(xs - centre[0], ys - centre[1]) / eye_dist
        far, near = dist > 2.6, dist < 0.5  # the mask's largest reach is ~2.3 eye distances
        assert far.mean() > 0.05
        # Far away only JPEG re-quantisation of shared 8x8 blocks may differ.
        assert diff[far].mean() < 1.0
        assert diff[near].mean() > 5.0


def test_fakes_use_the_given_blend():
    gentle = SelfBlend(color_shift=0.0, scale_range=(1.0, 1.0), translate=0.0, sharpness_prob=0.0)
    samples = make_demo_samples(2, 64, seed=0, blend=gentle)
    for real, fake in zip(samples[::2], samples[1::2], strict=True):
        assert np.abs(real.image.astype(int) - fake.image.astype(int)).max() <= 3


def test_render_face_rejects_tiny_sizes():
    with pytest.raises(ValueError):
        render_face(np.random.default_rng(0), 16)
