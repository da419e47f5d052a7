"""The augment=... sets: every transform really acts, landmarks follow the geometry, the
self-blended fakes and the random streams behave as a training run relies on."""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import pytest
import torch
from helpers import face_image
from hydra.utils import instantiate
from torch.utils.data import DataLoader

from fakeguard.data.blend import SelfBlend, SelfBlendedFakes
from fakeguard.data.dataset import FaceDataset
from fakeguard.data.faces import FaceDetector
from fakeguard.data.samples import FaceSample
from fakeguard.data.sampling import EpochSampler
from fakeguard.data.transforms import compose, resize_and_pad

SIZE = 128


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    """A real 100 x 120 face crop (smaller than the model input) and its MTCNN landmarks."""
    image = cv2.resize(face_image(160), (100, 120), interpolation=cv2.INTER_AREA)
    (detected,) = FaceDetector().detect([image])
    return image, detected[0].landmarks


def pipeline(make_cfg, name: str) -> A.Compose:
    cfg = make_cfg("train", [f"augment={name}", f"data.image_size={SIZE}"])
    return instantiate(cfg.augment.pipeline)


def leaves(transforms) -> list[A.BasicTransform]:
    """Every transform, with those inside OneOf listed one by one."""
    found = []
    for t in transforms:
        found += leaves(t.transforms) if isinstance(t, A.BaseCompose) else [t]
    return found


@pytest.mark.parametrize("name", ["light", "dfdc", "dfdc_sbi"])
def test_each_transform_of_a_set_changes_a_face_when_forced_on(make_cfg, face, name):
    image, landmarks = face
    for transform in leaves(pipeline(make_cfg, name).transforms):
        transform.p = 1.0
        single = compose([transform])
        changed = False
        for seed in range(5):  # a weak draw (FancyPCA's alpha 0.1) can round to no change
            single.set_random_seed(seed)
            out = single(image=image, keypoints=landmarks)["image"]
            changed |= out.shape != image.shape or not np.array_equal(out, image)
        assert changed, f"{type(transform).__name__} never changed the image"


def test_the_dfdc_set_has_the_winners_transforms(make_cfg):
    names = [type(t).__name__ for t in leaves(pipeline(make_cfg, "dfdc").transforms)]
    for expected in ["LandmarkDropout", "ImageCompression", "GaussNoise", "GaussianBlur",
                     "HorizontalFlip", "IsotropicResize", "PadIfNeeded", "RandomBrightnessContrast",
                     "FancyPCA", "HueSaturationValue", "ToGray", "Affine"]:  # fmt: skip
        assert expected in names
    assert names.count("IsotropicResize") == 3 + 1  # the OneOf variants + the final resize


def _dot_image(point: np.ndarray, size: int = SIZE) -> np.ndarray:
    image = np.zeros((size, size, 3), np.uint8)
    cv2.circle(image, tuple(int(round(v)) for v in point), 3, (255, 255, 255), -1)
    return image


@pytest.mark.parametrize(
    "transform",
    [
        A.HorizontalFlip(p=1),
        A.Affine(translate_percent=0.1, scale=(0.8, 1.2), rotate=(-10, 10), border_mode=0, p=1),
    ],
    ids=["flip", "affine"],
)
def test_landmarks_follow_the_geometric_transforms(transform):
    point = np.array([[40.0, 50.0]], dtype=np.float32)
    pipe = compose([transform])
    for seed in range(5):
        pipe.set_random_seed(seed)
        out = pipe(image=_dot_image(point[0]), keypoints=point)
        ys, xs = np.nonzero(out["image"][..., 0] > 127)
        np.testing.assert_allclose(out["keypoints"][0][:2], [xs.mean(), ys.mean()], atol=1.5)


def test_a_self_blended_crop_is_a_fake_that_differs_only_inside_its_mask(face):
    image, landmarks = face
    fakes = SelfBlendedFakes(p=1.0, blend=SelfBlend(blend_ratios=(1.0,)))
    out, label = fakes(image, landmarks, 0, np.random.default_rng(3))
    replay = np.random.default_rng(3)
    replay.random()  # the coin flip
    _, mask = fakes.blend.apply(
        image, landmarks, **fakes.blend.get_params(replay, image, landmarks)
    )
    changed = np.any(out != image, axis=2)
    assert label == 1 and changed.any()
    assert not changed[mask == 0].any()


def test_fakes_and_crops_without_landmarks_are_never_self_blended(face):
    image, landmarks = face
    fakes = SelfBlendedFakes(p=1.0)
    rng = np.random.default_rng(0)
    assert fakes(image, landmarks, 1, rng)[1] == 1
    out, label = fakes(image, None, 0, rng)
    assert label == 0 and out is image


def _repeated(face, self_blend=None, n: int = 8) -> FaceDataset:
    image, landmarks = face
    sample = FaceSample(label=0, source_id="a", image=image, landmarks=landmarks)
    noisy = compose([A.GaussNoise(std_range=(0.05, 0.1), p=1), *resize_and_pad(64)])
    return FaceDataset([sample] * n, noisy, self_blend)


def _batches(dataset: FaceDataset, seed: int, workers: int, epoch: int = 0) -> list[torch.Tensor]:
    sampler = EpochSampler(len(dataset), seed)
    sampler.set_epoch(epoch)
    loader = DataLoader(dataset, batch_size=1, sampler=sampler, num_workers=workers)
    return [batch["image"] for batch in loader]


def test_each_items_augmentation_follows_the_seed_and_epoch_not_the_workers(face):
    dataset = _repeated(face, SelfBlendedFakes(p=0.5))
    first, again = _batches(dataset, 1, workers=0), _batches(dataset, 1, workers=2)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    # every item is the same crop: each draw is its own
    assert not torch.equal(first[0], first[1])
    next_epoch = _batches(dataset, 1, workers=0, epoch=1)
    assert not all(torch.equal(a, b) for a, b in zip(first, next_epoch, strict=True))
    other_seed = _batches(dataset, 2, workers=2)
    assert not all(torch.equal(a, b) for a, b in zip(first, other_seed, strict=True))
