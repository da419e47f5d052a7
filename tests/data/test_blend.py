"""SelfBlend: a reproducible fake that changes the face region and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from fakeguard.data.blend import SelfBlend


def textured_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Mid-range random texture: no saturated pixels, so any colour shift shows."""
    return np.random.default_rng(seed).integers(40, 216, (h, w, 3), dtype=np.uint8)


def face_landmarks(h: int, w: int) -> np.ndarray:
    """Landmarks of a frontal face filling the middle of an h x w crop, MTCNN order."""
    rel = [(0.38, 0.42), (0.62, 0.42), (0.5, 0.55), (0.41, 0.66), (0.59, 0.66)]
    return np.array([(x * w, y * h) for x, y in rel], np.float32)


def test_same_seed_gives_the_same_fake():
    image, landmarks = textured_image(96, 96), face_landmarks(96, 96)
    blend = SelfBlend()
    first = blend(image, landmarks, np.random.default_rng(7))
    again = blend(image, landmarks, np.random.default_rng(7))
    other = blend(image, landmarks, np.random.default_rng(8))
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_apply_is_deterministic_given_params_and_leaves_inputs_alone():
    image, landmarks = textured_image(80, 80), face_landmarks(80, 80)
    image_before, landmarks_before = image.copy(), landmarks.copy()
    blend = SelfBlend()
    params = blend.get_params(np.random.default_rng(0), image, landmarks)
    out_a, mask_a = blend.apply(image, landmarks, **params)
    out_b, mask_b = blend.apply(image, landmarks, **params)
    assert np.array_equal(out_a, out_b) and np.array_equal(mask_a, mask_b)
    assert np.array_equal(image, image_before) and np.array_equal(landmarks, landmarks_before)


@pytest.mark.parametrize("seed", range(8))
def test_changes_the_face_and_leaves_the_rest_exactly_unchanged(seed):
    image, landmarks = textured_image(128, 128, seed), face_landmarks(128, 128)
    out, mask = SelfBlend()(image, landmarks, np.random.default_rng(seed))
    outside = mask == 0
    assert outside.mean() > 0.2, "the mask should not cover the whole crop"
    assert np.array_equal(out[outside], image[outside])
    core = mask > 0.99
    assert core.any()
    changed = np.any(out != image, axis=2)
    assert changed[core].mean() > 0.5


def test_mask_is_soft_and_covers_the_landmarks():
    image, landmarks = textured_image(128, 128), face_landmarks(128, 128)
    _, mask = SelfBlend()(image, landmarks, np.random.default_rng(0))
    assert mask.dtype == np.float32 and mask.shape == (128, 128)
    assert mask.min() == 0.0 and mask.max() <= 1.0
    assert ((mask > 0.05) & (mask < 0.95)).any(), "edge should fade, not step"
    xs, ys = np.round(landmarks).astype(int).T
    assert np.all(mask[ys, xs] > 0.9)


def test_mask_reaches_beyond_the_landmarks_towards_forehead_and_chin():
    image, landmarks = textured_image(128, 128), face_landmarks(128, 128)
    _, mask = SelfBlend()(image, landmarks, np.random.default_rng(0))
    rows = np.flatnonzero(mask.max(axis=1) > 0.5)
    assert rows.min() < landmarks[:2, 1].min() - 10
    assert rows.max() > landmarks[3:, 1].max() + 10


@pytest.mark.parametrize(("h", "w"), [(32, 32), (33, 47), (200, 90), (61, 257)])
def test_keeps_shape_and_dtype_for_odd_and_non_square_sizes(h, w):
    image, landmarks = textured_image(h, w), face_landmarks(h, w)
    out, mask = SelfBlend()(image, landmarks, np.random.default_rng(1))
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    assert mask.shape == (h, w) and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0


@pytest.mark.parametrize(
    "landmarks",
    [
        np.zeros((5, 2)),  # all in one corner
        np.full((5, 2), 1e4),  # far outside: clipped to the opposite corner
        np.array([[-40, 5], [300, 5], [30, -9], [0, 99], [59, 39]], float),  # straddling edges
    ],
)
def test_landmarks_anywhere_are_clipped_not_fatal(landmarks):
    image = textured_image(40, 60)
    out, mask = SelfBlend()(image, landmarks, np.random.default_rng(2))
    assert out.shape == image.shape and mask.shape == (40, 60)
    assert np.isfinite(mask).all() and mask.max() > 0.5


def test_full_opacity_without_jitter_returns_the_image():
    """With every perturbation switched off the source equals the target: nothing to see."""
    image, landmarks = textured_image(64, 64), face_landmarks(64, 64)
    blend = SelfBlend(color_shift=0.0, scale_range=(1.0, 1.0), translate=0.0, sharpness_prob=0.0)
    out, _ = blend(image, landmarks, np.random.default_rng(3))
    assert np.abs(out.astype(int) - image.astype(int)).max() <= 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"color_shift": -0.1},
        {"color_shift": 1.5},
        {"scale_range": (1.1, 0.9)},
        {"scale_range": (0.0, 1.0)},
        {"translate": 0.8},
        {"sharpness_prob": 2.0},
        {"blend_ratios": ()},
        {"blend_ratios": (0.5, 0.0)},
        {"blend_ratios": (1.5,)},
        {"mask_expand_range": (2.0, 1.0)},
        {"mask_blur_range": (-0.1, 0.2)},
        {"mask_deform": 1.0},
    ],
)
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        SelfBlend(**kwargs)


@pytest.mark.parametrize(
    ("image", "landmarks"),
    [
        (np.zeros((32, 32, 3), np.float32), np.zeros((5, 2))),  # not uint8
        (np.zeros((32, 32), np.uint8), np.zeros((5, 2))),  # not RGB
        (np.zeros((32, 32, 3), np.uint8), np.zeros((68, 2))),  # not 5 landmarks
        (np.zeros((32, 32, 3), np.uint8), np.full((5, 2), np.nan)),
    ],
)
def test_invalid_inputs_raise(image, landmarks):
    with pytest.raises(ValueError):
        SelfBlend()(image, landmarks, np.random.default_rng(0))
