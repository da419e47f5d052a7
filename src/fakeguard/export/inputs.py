"""Input adapters for exported graphs: uint8 pixels are cast and scaled inside the model."""

from __future__ import annotations

import torch
from torch import nn

INPUTS = ("float", "uint8")


class PixelInput(nn.Module):
    """`detector` behind an input of `kind`: "float" takes [0, 1] pixels as the detector does;
    "uint8" takes 0-255 pixels and divides by 255 in the graph (what decoders give)."""

    def __init__(self, detector: nn.Module, kind: str = "float") -> None:
        super().__init__()
        if kind not in INPUTS:
            raise ValueError(f"input must be one of {INPUTS}, got {kind!r}")
        self.detector = detector
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "uint8":
            x = x.float() / 255.0
        return self.detector(x)


def random_pixels(kind: str, batch: int, size: int, seed: int = 0) -> torch.Tensor:
    """Random (batch, 3, size, size) inputs of `kind`, seeded."""
    generator = torch.Generator().manual_seed(seed)
    if kind == "uint8":
        return torch.randint(0, 256, (batch, 3, size, size), generator=generator, dtype=torch.uint8)
    return torch.rand(batch, 3, size, size, generator=generator)
