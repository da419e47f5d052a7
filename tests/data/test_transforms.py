"""IsotropicResize and the evaluation pipeline: what reaches the model, for any input size."""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import pytest

from fakeguard.data.transforms import IsotropicResize, compose, eval_pipeline, train_pipeline


def random_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(("h", "w"), [(300, 150), (150, 300), (20, 12), (64, 64), (97, 33)])
def test_longer_side_goes_to_max_side_keeping_aspect(h, w):
    out = compose([IsotropicResize(64)])(image=random_image(h, w))["image"]
    assert max(out.shape[:2]) == 64
    assert out.shape[0] / out.shape[1] == pytest.approx(h / w, rel=0.1)


def test_downscaling_uses_area_and_upscaling_uses_cubic():
    image = random_image(200, 100)
    down = compose([IsotropicResize(64)])(image=image)["image"]
    assert np.array_equal(down, cv2.resize(image, (32, 64), interpolation=cv2.INTER_AREA))
    small = random_image(16, 8)
    up = compose([IsotropicResize(64)])(image=small)["image"]
    assert np.array_equal(up, cv2.resize(small, (32, 64), interpolation=cv2.INTER_CUBIC))


def test_interpolations_are_configurable():
    image = random_image(200, 100)
    linear = IsotropicResize(64, cv2.INTER_LINEAR, cv2.INTER_LINEAR)
    out = compose([linear])(image=image)["image"]
    assert np.array_equal(out, cv2.resize(image, (32, 64), interpolation=cv2.INTER_LINEAR))


def test_mask_and_keypoints_follow_the_image():
    image = np.zeros((200, 100, 3), np.uint8)
    mask = np.zeros((200, 100), np.uint8)
    mask[100:120, 50:70] = 1
    out = compose([IsotropicResize(50)])(
        image=image, mask=mask, keypoints=np.array([[50.0, 100.0]], np.float32)
    )
    assert out["mask"].shape == (50, 25)
    assert set(np.unique(out["mask"])) == {0, 1}  # nearest neighbour: no blended labels
    assert out["keypoints"][0, :2] == pytest.approx([12.5, 25.0])


def test_probability_is_honoured():
    resize = IsotropicResize(32, p=0.0)
    assert resize.p == 0.0
    image = random_image(100, 100)
    assert compose([resize])(image=image)["image"].shape == (100, 100, 3)


def test_eval_pipeline_gives_a_square_model_input_with_constant_border():
    out = eval_pipeline(64)(image=np.full((100, 50, 3), 200, np.uint8))["image"]
    assert out.shape == (64, 64, 3)
    assert (out[:, :16] == 0).all() and (out[:, 48:] == 0).all()
    assert (out[:, 16:48] == 200).all()


def test_keypoints_are_shifted_by_the_padding():
    keypoints = np.array([[10.0, 20.0]], np.float32)
    out = eval_pipeline(64)(image=random_image(100, 50), keypoints=keypoints)
    assert out["keypoints"][0, :2] == pytest.approx([6.4 + 16, 12.8])


def test_a_typo_in_a_transform_argument_is_an_error():
    with pytest.raises(ValueError, match="not valid"):
        compose([A.ImageCompression(quality_lower=50)])
    with pytest.raises(ValueError, match="not valid"):
        compose([IsotropicResize(64, max_size=3)])


def test_train_pipeline_applies_its_augmentations_then_resizes():
    image = random_image(80, 40)
    flipped = train_pipeline(32, [A.HorizontalFlip(p=1.0)])(image=image)["image"]
    plain = eval_pipeline(32)(image=image[:, ::-1].copy())["image"]
    assert np.array_equal(flipped, plain)
