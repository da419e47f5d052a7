"""EOT over platforms: an attacker who knows that a platform recompresses, but not which one.

`Platform` draws a platform per image at every call (Athalye et al. 2018, expectation over
transformation): an attack that takes a gradient step per call averages over the distribution.
Per image, in this order:

- with probability `resize_p`, a down/up resize by a scale uniform in `scale` (OpenCV area
  down, bilinear up, as `codecs.resize_down_up`);
- with probability `webp_p`, WebP at quality 75, the suite's social-media quality (fixed: the
  JPEG that follows already spans the quality range; its gradient is the identity's, which
  attacks WebP better than a JPEG's, see `standins`);
- JPEG (4:2:0) at an integer quality uniform in `quality`, always.

Each step is straight-through, as in `standins`: the real codec forward (Pillow, OpenCV), the
gradient of torch interpolation and kornia's differentiable JPEG backward. Draws come from
torch's global generator, so seeding it reproduces them.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from fakeguard.robustness import codecs
from fakeguard.robustness.standins import (
    STAND_INS,
    Chain,
    Step,
    diff_jpeg,
    resize_down_up,
    stand_in,
    webp_step,
)

# Platform's settings (configs/eot/platform.yaml holds them)
SETTINGS = ("quality", "scale", "resize_p", "webp_p")


def _pair(name: str, value: Sequence[float], low: float, high: float, integers: bool) -> tuple:
    """`value` as a checked (lo, hi) pair with low <= lo <= hi <= high."""
    kind = numbers.Integral if integers else numbers.Real
    try:
        lo, hi = tuple(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}") from None
    if any(isinstance(v, bool) or not isinstance(v, kind) for v in (lo, hi)):
        raise ValueError(
            f"{name} must hold two {'integers' if integers else 'numbers'}, got {value!r}"
        )
    if not low <= lo <= hi <= high:
        raise ValueError(f"{name} must satisfy {low} <= low <= high <= {high}, got {value!r}")
    return (int(lo), int(hi)) if integers else (float(lo), float(hi))


def _probability(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


class Platform(nn.Module):
    """A random platform per image and call; forward = the real codecs, straight-through."""

    def __init__(
        self,
        quality: Sequence[int] = (40, 95),
        scale: Sequence[float] = (0.5, 1.0),
        resize_p: float = 0.5,
        webp_p: float = 0.5,
    ) -> None:
        super().__init__()
        self.quality = _pair("quality", quality, 1, 100, integers=True)
        self.scale = _pair("scale", scale, 0, 1, integers=False)
        if self.scale[0] <= 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        self.resize_p = _probability("resize_p", resize_p)
        self.webp_p = _probability("webp_p", webp_p)

    def extra_repr(self) -> str:
        return (
            f"quality={self.quality}, scale={self.scale}, resize_p={self.resize_p}, "
            f"webp_p={self.webp_p}"
        )

    def draw(self, n: int) -> dict[str, torch.Tensor]:
        """n platforms: `scale` (0 = no resize), `webp` (bool) and JPEG `quality`, per image."""
        resize = torch.rand(n) < self.resize_p
        scale = torch.empty(n, dtype=torch.float64).uniform_(*self.scale)
        webp = torch.rand(n) < self.webp_p
        quality = torch.randint(self.quality[0], self.quality[1] + 1, (n,))
        return {"scale": torch.where(resize, scale, 0.0), "webp": webp, "quality": quality}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        drawn = self.draw(x.shape[0])
        return Chain("eot", _steps(drawn))(x)


def _steps(drawn: Mapping[str, torch.Tensor]) -> list[Step]:
    scales = [float(s) for s in drawn["scale"]]
    webp = [bool(w) for w in drawn["webp"]]
    quality = [int(q) for q in drawn["quality"]]
    return [
        (lambda images: _resize(images, scales), lambda x: _resize_approx(x, scales)),
        (lambda images: webp_step(images, webp), lambda x: x),
        (
            lambda images: [codecs.jpeg(im, q) for im, q in zip(images, quality, strict=True)],
            lambda x: diff_jpeg(x, torch.tensor(quality, dtype=x.dtype, device=x.device)),
        ),
    ]


def _size(height: int, width: int, scale: float) -> tuple[int, int]:
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def _resize(images: list[np.ndarray], scales: list[float]) -> list[np.ndarray]:
    out = []
    for image, scale in zip(images, scales, strict=True):
        if scale:
            h, w = _size(*image.shape[:2], scale)
            image = codecs.resize_down_up(image, w, h)
        out.append(image)
    return out


def _resize_approx(x: torch.Tensor, scales: list[float]) -> torch.Tensor:
    rows = [
        resize_down_up(row[None], _size(*x.shape[-2:], scale)) if scale else row[None]
        for row, scale in zip(x, scales, strict=True)
    ]
    return torch.cat(rows)


def platform(name: str, eot: Mapping | None = None) -> nn.Module:
    """What an adaptive attack goes through: `"eot"` is `Platform(**eot)` (the `eot` config
    group), a suite track's name its stand-in."""
    if name == "eot":
        eot = dict(eot or {})
        unknown = sorted(set(eot) - set(SETTINGS))
        if unknown:
            raise ValueError(f"unknown eot settings {unknown}: choose from {list(SETTINGS)}")
        return Platform(**eot)
    if name not in STAND_INS:
        raise ValueError(f"no platform {name!r}: choose from {['eot', *sorted(STAND_INS)]}")
    return stand_in(name)
