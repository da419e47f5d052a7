"""Several checkpoints as one detector: the mean of their P(fake) on the same face crops."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fakeguard.models.checkpoint import load_detector
from fakeguard.models.detectors import Detector
from fakeguard.scoring.predict import p_fake_of_crops


class Ensemble:
    """P(fake) averaged over `detectors` (one is an ensemble of one). Each detector sees the
    crops through the evaluation resize at its own input size, as validation did."""

    def __init__(
        self,
        detectors: Sequence[Detector],
        device: str | torch.device = "cpu",
        batch_size: int = 32,
    ) -> None:
        if not detectors:
            raise ValueError("an ensemble needs at least one detector")
        self.device = torch.device(device)
        self.detectors = [d.eval().to(self.device) for d in detectors]
        self.batch_size = batch_size

    @classmethod
    def from_checkpoints(
        cls, paths: Sequence[str], device: str | torch.device = "cpu", batch_size: int = 32
    ) -> Ensemble:
        return cls([load_detector(p) for p in paths], device, batch_size)

    def predict(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """uint8 RGB face crops (any sizes) -> P(fake) per crop, float64."""
        each = [
            p_fake_of_crops(d, crops, d.spec["img_size"], self.batch_size) for d in self.detectors
        ]
        return np.mean(each, axis=0)
