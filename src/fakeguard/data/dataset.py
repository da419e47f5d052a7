"""Face samples -> augmented float tensors in [0, 1] (DESIGN decision 1)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from fakeguard.data.images import ImageReadError, read_rgb
from fakeguard.data.samples import FaceSample

log = logging.getLogger(__name__)
NO_LANDMARKS = np.zeros((0, 2), dtype=np.float32)


class FaceDataset(Dataset):
    """Each item: `image` (3, H, W) float in [0, 1], `label` (1 = fake), `landmarks` (5, 2)
    after the transform (NaN when the sample has none), `index` into `samples` and `video_id`.

    A file that fails to decode is skipped with a warning naming it, and the next sample is
    served instead, so one damaged file never stops a training run.
    """

    def __init__(self, samples: Sequence[FaceSample], transform: A.Compose) -> None:
        self.samples = list(samples)
        self.transform = transform
        self.unreadable: set[str] = set()

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
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
        keypoints = NO_LANDMARKS if sample.landmarks is None else sample.landmarks
        out = self.transform(image=image, keypoints=keypoints)
        landmarks = np.full((5, 2), np.nan, dtype=np.float32)
        if len(out["keypoints"]) == 5:
            landmarks = np.asarray(out["keypoints"], dtype=np.float32)[:, :2]
        pixels = torch.from_numpy(np.ascontiguousarray(out["image"])).permute(2, 0, 1)
        return {
            "image": pixels.float().div_(255.0),
            "label": torch.tensor(float(sample.label)),
            "landmarks": torch.from_numpy(landmarks),
            "index": i,
            "video_id": sample.video_id,
        }


def seed_worker_transform(worker_id: int) -> None:
    """Give each DataLoader worker its own albumentations stream, derived from torch's seed.

    albumentations 2.x draws from its own generators, which torch and Lightning do not seed.
    """
    info = get_worker_info()
    if info is not None and hasattr(info.dataset, "transform"):
        info.dataset.transform.set_random_seed(torch.initial_seed() % 2**32)
