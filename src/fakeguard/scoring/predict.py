"""The one batched P(fake) loop: model inputs or face crops -> P(fake), as float64."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from fakeguard.scoring.inputs import to_tensor


@torch.inference_mode()
def p_fake(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """P(fake) of each model input (N, 3, S, S) in [0, 1]: sigmoid of the detector's logit."""
    return torch.sigmoid(model(x).float().flatten()).cpu().numpy().astype(np.float64)


def p_fake_of_crops(
    model: nn.Module, crops: Sequence[np.ndarray], image_size: int, batch_size: int = 32
) -> np.ndarray:
    """uint8 RGB face crops (any sizes) -> P(fake), through the evaluation resize to
    `image_size`, `batch_size` crops at a time, on the model's device."""
    device = next(model.parameters()).device
    probs = [np.empty(0)]
    for start in range(0, len(crops), batch_size):
        x = to_tensor(crops[start : start + batch_size], image_size).to(device)
        probs.append(p_fake(model, x))
    return np.concatenate(probs)
