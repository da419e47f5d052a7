"""Model inputs through the suite's codecs: (N, 3, H, W) float in [0, 1] <-> uint8 images.

An attacked input is saved as an 8-bit image before a platform recompresses it, so every codec
here starts from `to_uint8`. Lives in the robustness layer so that the codecs' straight-through
stand-ins (`standins`, `eot`) and scoring share one conversion.
"""

from __future__ import annotations

import numpy as np
import torch

from fakeguard.robustness.suite import degrade_crop


def to_uint8(x: torch.Tensor) -> list[np.ndarray]:
    """(N, 3, H, W) in [0, 1] -> uint8 RGB HWC arrays, rounded as an image file would be."""
    pixels = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    return list(pixels.permute(0, 2, 3, 1).cpu().numpy())


def from_uint8(images: list[np.ndarray], like: torch.Tensor) -> torch.Tensor:
    """uint8 RGB HWC arrays -> (N, 3, H, W) in [0, 1] on `like`'s device and in its dtype
    (divided in float32 first, so every dtype holds the nearest value to k / 255)."""
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255)
    return batch.to(device=like.device, dtype=like.dtype)


def recompress(x: torch.Tensor, suite_track: str) -> torch.Tensor:
    """A suite track's codec on each model input (an attacked crop), back as floats."""
    return from_uint8([degrade_crop(suite_track, image) for image in to_uint8(x)], x)
