"""Face crops -> model inputs: reading, the evaluation resize, and codecs after an attack."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from fakeguard.data.images import read_rgb
from fakeguard.data.samples import FaceSample
from fakeguard.data.transforms import eval_pipeline
from fakeguard.robustness.codecs import as_rgb_uint8
from fakeguard.robustness.degrade import DegradedSamples

log = logging.getLogger(__name__)


def missing_crops(samples: Sequence[FaceSample]) -> list[int]:
    """Indices of samples whose crop file does not exist."""
    return [i for i, s in enumerate(samples) if s.path is not None and not Path(s.path).is_file()]


def read_crop(sample: FaceSample) -> np.ndarray | None:
    """The crop as prepared (uint8 RGB), or None with a warning when it cannot be decoded."""
    try:
        return as_rgb_uint8(sample.image) if sample.image is not None else read_rgb(sample.path)
    except (ValueError, OSError) as error:  # ImageReadError is a ValueError
        log.warning("evaluation skips a sample: %s", error)
        return None


def source_images(
    suite_track: str, samples: Sequence[FaceSample], degraded: DegradedSamples
) -> list[np.ndarray | None]:
    """Each sample's crop under a suite track (None: it cannot be read or degraded). Clean
    crops are read as prepared; other tracks go through the suite's cache."""
    if suite_track == "clean":
        return [read_crop(s) for s in samples]
    return degraded.images(suite_track, samples)


def to_tensor(images: Sequence[np.ndarray], image_size: int) -> torch.Tensor:
    """uint8 RGB crops -> (N, 3, S, S) float in [0, 1]: the evaluation resize and pad that the
    validation and test loaders use."""
    pipeline = eval_pipeline(image_size)
    batch = np.stack([pipeline(image=image)["image"] for image in images])
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255)


def digests(x: torch.Tensor) -> list[str]:
    """A short SHA-1 of each input's float32 bytes: equal inputs, equal digests."""
    data = x.detach().float().cpu().contiguous().numpy()
    return [hashlib.sha1(item.tobytes()).hexdigest()[:16] for item in data]
