"""Face samples -> augmented float tensors in [0, 1] (docs/design.md, decision 1)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from fakeguard.data.blend import SelfBlendedFakes
from fakeguard.data.images import ImageReadError, read_rgb
from fakeguard.data.samples import FaceSample
from fakeguard.data.sampling import SeededIndex

log = logging.getLogger(__name__)
NO_LANDMARKS = np.zeros((0, 2), dtype=np.float32)


class FaceDataset(Dataset):
    """Each item: `image` (3, H, W) float in [0, 1], `label` (1 = fake), `landmarks` (5, 2)
    after the transform (NaN when the sample has none), `index` into `samples` and `video_id`.

    A file that fails to decode is skipped with a warning naming it, and the next sample is
    served instead, so one damaged file never stops a training run.

    A key may be an index or an `(index, seed)` pair from `EpochSampler`: the pair reseeds the
    augmentation for that one item, so its draw depends on nothing else.
    """

    def __init__(
        self,
        samples: Sequence[FaceSample],
        transform: A.Compose,
        self_blend: SelfBlendedFakes | None = None,
    ) -> None:
        self.samples = list(samples)
        self.transform = transform
        self.self_blend = self_blend
        self.rng = np.random.default_rng(0)
        self.unreadable: set[str] = set()

    def reseed(self, seed: int) -> None:
        """Seed every random draw of this dataset: albumentations keeps its own generators
        and self-blending uses `self.rng`; torch and Lightning seed neither."""
        self.transform.set_random_seed(seed)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: int | SeededIndex) -> dict[str, torch.Tensor | int]:
        index = key
        if isinstance(key, tuple):
            index, seed = key
            self.reseed(seed)
        for offset in range(len(self.samples)):
            i = (index + offset) % len(self.samples)
            try:
                return self._load(i)
            except ImageReadError as error:
                if self.samples[i].path not in self.unreadable:
                    self.unreadable.add(self.samples[i].path)
                    log.warning("skipping unreadable image: %s", error)
        raise ImageReadError("no sample in this dataset can be decoded")

    def _load(self, i: int) -> dict[str, torch.Tensor | int]:
        sample = self.samples[i]
        image = sample.image if sample.image is not None else read_rgb(sample.path)
        label = sample.label
        if self.self_blend is not None:
            image, label = self.self_blend(image, sample.landmarks, label, self.rng)
        keypoints = NO_LANDMARKS if sample.landmarks is None else sample.landmarks
        out = self.transform(image=image, keypoints=keypoints)
        landmarks = np.full((5, 2), np.nan, dtype=np.float32)
        if len(out["keypoints"]) == 5:
            landmarks = np.asarray(out["keypoints"], dtype=np.float32)[:, :2]
        pixels = torch.from_numpy(np.ascontiguousarray(out["image"])).permute(2, 0, 1)
        return {
            "image": pixels.float().div_(255.0),
            "label": torch.tensor(float(label)),
            "landmarks": torch.from_numpy(landmarks),
            "index": i,
            "video_id": sample.video_id,
        }
