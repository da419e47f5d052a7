"""Straight-through (BPDA) stand-ins for the suite's codecs, for attacks that see the platform.

A stand-in's forward pass is the real codec, so an attack optimised through it is scored on
exactly what the suite does: `stand_in(name)(x)` equals `tensors.recompress(x, name)` bit for
bit. Its backward pass is the gradient of a differentiable approximation (Athalye et al. 2018,
BPDA): kornia's differentiable JPEG (Reich et al. 2024; 4:2:0, padded to 16 px internally, as
Pillow's encoder does with `subsampling=2`) and torch interpolation.

A chain is applied step by step, each step straight-through on its own: every approximation is
evaluated at the real codec's input for that step, not at the previous approximation's output,
so errors of the approximations do not compound in the gradient.

Codecs without a differentiable model take the gradient that gave the stronger attack in a
measurement (the pinned constants below): H.264 that of the JPEG whose mean PSNR on face crops
matches its own (`matched_jpeg_quality`), WebP the identity's.

`social` takes its whole gradient from its coarsest step, JPEG 55, as the mean of diff-JPEGs
at qualities around it (`SOCIAL_JPEG55_QUALITIES`); WebP 75 and JPEG 80 pass the gradient
through unchanged. A diff-JPEG's gradient weights each DCT coefficient by where it sits between
two quantisation levels (kornia's rounding: 3 u^2 for u its offset from the nearest level), a
weight that is noise for any one table: multiplying two steps' weights (JPEG 55's and JPEG
80's) drowned the attack's direction, and averaging over nearby tables keeps what they share
(coefficients far below one step, which every table zeroes, get little gradient) and washes out
the rest. Measured below.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from kornia.enhance import jpeg_codec_differentiable
from torch import nn

from fakeguard.robustness import codecs
from fakeguard.robustness.suite import degrade_crop
from fakeguard.robustness.tensors import from_uint8, to_uint8

# Pillow JPEG qualities of the same mean PSNR as the codec, measured by `matched_jpeg_quality`
# on 96 face crops of ../shared/data/real_and_fake_face_160 (half real, half fake, each resized
# to a side drawn in 48..160 px, numpy seed 0): mean PSNR vs. JPEG at the matched quality.
#   CRF 23: 30.90 dB; JPEG 38: 30.91 dB (37: 30.81, 39: 30.98)
#   CRF 40: 22.80 dB; JPEG 5: 23.07 dB (4: 21.93, 6: 23.89)
#   WebP 75: 34.24 dB; JPEG 75: 34.19 dB (74: 34.11, 76: 34.34), not used (below)
H264_JPEG = {23: 38, 40: 5}
WEBP_QUALITY = 75  # suite.social's
# Which gradient makes the stronger attack, measured on a clean-trained demo checkpoint (demo_adv's
# data), its 170 test crops at 48 px: AUC after PGD 8/255 (10 steps of 2/255) through the
# stand-in, then the real codec (lower = stronger; plain PGD, then the codec, in brackets).
#   h264_c23: JPEG 38 0.664, identity 0.694 (plain 0.960) -> JPEG 38
#   h264_c40: JPEG 5 0.556, identity 0.637 (plain 0.703)  -> JPEG 5
#   social's WebP 75 step: identity 0.291, JPEG 75 0.450, JPEG 90 0.412 (plain 0.916) -> identity
# (WebP codes 4x4 blocks with intra prediction and a loop filter: JPEG's 8x8 grid misleads.)
# social, the gradient of each step (JPEG 55 / WebP 75 / JPEG 80; "-" the identity's), AUC at
# torch seeds 0 and 1 (target <= 0.2; the seeds differ by up to ~0.03):
#   diff-JPEG 55 / - / diff-JPEG 80 (the first stand-in)                  0.291  0.264
#   - / - / -                                                             0.418
#   - / - / diff-JPEG 80                                                  0.277
#   diff-JPEG 55 / - / -                                                  0.154  0.141
#   diff-JPEG 55 / - / diff-JPEG 80 without rounding weights (STE)        0.148
#   diff-JPEG 55 without rounding weights (STE) / - / -                   0.287
#   diff-JPEG 55, rounding weight 2 sin^2(pi u) / - / -                   0.130  0.120
#     the same and WebP as YCbCr 4:2:0 chroma                             0.119  0.130
#     the same and WebP as a VP8-like 4x4 DCT (step 12/15, sin^2 weight)  0.254  0.231
#     the same and diff-JPEG 80 with the sin^2 weight                     0.219  0.238
#   mean of diff-JPEG 50, 55, 60 / - / -                                  0.083  0.108
#   mean of diff-JPEG 50, 55, 60 / - / diff-JPEG 80                       0.225  0.233
#   mean of diff-JPEG 45, 50, 55, 60, 65 / - / -  (kept)                  0.073  0.090
#   mean of sin^2-weighted diff-JPEG 40..70 (7 qualities) / - / -         0.069  0.096
# jpeg50 (diff-JPEG 50): 0.015 0.017; mean of diff-JPEG 45, 50, 55: 0.003 0.016 (not changed).
SOCIAL_JPEG55_QUALITIES = (45, 50, 55, 60, 65)

Real = Callable[[list[np.ndarray]], list[np.ndarray]]
Approx = Callable[[torch.Tensor], torch.Tensor]
Step = tuple[Real, Approx]


def straight_through(real: torch.Tensor, approx: torch.Tensor) -> torch.Tensor:
    """`real` forward, `approx`'s gradient backward: `approx + (real - approx).detach()`.

    Written as `real + (approx - approx.detach())`: the bracket is exactly zero, so the value is
    `real` bit for bit (`approx + (real - approx)` rounds, by up to an ulp of `approx`)."""
    approx = approx.to(real.dtype)
    return real.detach() + (approx - approx.detach())


def quantised(x: torch.Tensor) -> torch.Tensor:
    """x saved as 8 bits (as `to_uint8` rounds it), with the identity's gradient."""
    return straight_through((x.clamp(0, 1) * 255).round() / 255, x)


def diff_jpeg(x: torch.Tensor, quality: float | torch.Tensor) -> torch.Tensor:
    """kornia's differentiable JPEG (4:2:0) at one quality, or one per image."""
    q = torch.as_tensor(quality, dtype=x.dtype, device=x.device).reshape(-1)
    return jpeg_codec_differentiable(x, q)


def mean_diff_jpeg(x: torch.Tensor, qualities: Sequence[float]) -> torch.Tensor:
    """The mean of kornia's differentiable JPEGs at `qualities`: its gradient is theirs averaged."""
    return torch.stack([diff_jpeg(x, q) for q in qualities]).mean(0)


def bpda(x: torch.Tensor, real: Real, approx: Approx) -> torch.Tensor:
    """One straight-through step on float32 `x`: `real` on the 8-bit images, the gradient of
    `approx` at them. The approximation is skipped when no gradient is wanted."""
    out = from_uint8(real(to_uint8(x)), x)
    if not (torch.is_grad_enabled() and x.requires_grad):
        return out
    return straight_through(out, approx(quantised(x)))


class Chain(nn.Module):
    """Steps applied in float32 with autocast off (the codecs' pixel arithmetic needs it), the
    result cast back to the input's dtype. No parameters; real codecs run on the CPU."""

    def __init__(self, name: str, steps: Sequence[Step]) -> None:
        super().__init__()
        self.name = name
        self.steps = list(steps)

    def extra_repr(self) -> str:
        return self.name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            y = x.float()
            for real, approx in self.steps:
                y = bpda(y, real, approx)
        return y.to(x.dtype)


def each(fn: Callable[[np.ndarray], np.ndarray]) -> Real:
    """A per-image codec as a batch step."""
    return lambda images: [fn(image) for image in images]


def social_size(height: int, width: int) -> tuple[int, int] | None:
    """The size `suite.social` resizes down to, or None when it does not resize."""
    h, w = max(256, int(round(height * 0.5))), max(256, int(round(width * 0.5)))
    return (h, w) if h < height and w < width else None


def resize_down_up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Torch's counterpart of `codecs.resize_down_up`: area down, bilinear back up."""
    small = nn.functional.interpolate(x, size=size, mode="area")
    return nn.functional.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)


def _social_resize(images: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for image in images:
        size = social_size(*image.shape[:2])
        out.append(image if size is None else codecs.resize_down_up(image, size[1], size[0]))
    return out


def _social_resize_approx(x: torch.Tensor) -> torch.Tensor:
    size = social_size(*x.shape[-2:])
    return x if size is None else resize_down_up(x, size)


def _jpeg_step(quality: int, approx: Approx) -> Step:
    return each(lambda image: codecs.jpeg(image, quality)), approx


def _track_step(name: str, approx: Approx) -> Step:
    return each(lambda image: degrade_crop(name, image)), approx


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def webp_step(images: list[np.ndarray], on: Sequence[bool] | None = None) -> list[np.ndarray]:
    """WebP 75 (the suite's) on each image, or on those marked `on`; its gradient: identity."""
    on = [True] * len(images) if on is None else on
    return [codecs.webp(im, WEBP_QUALITY) if w else im for im, w in zip(images, on, strict=True)]


def _social() -> list[Step]:
    """suite.social step by step: resize, JPEG 55, WebP 75, JPEG 80. The gradient: JPEG 55's,
    averaged over nearby qualities; WebP 75 and JPEG 80 pass it through (measured above)."""
    return [
        (_social_resize, _social_resize_approx),
        _jpeg_step(55, lambda x: mean_diff_jpeg(x, SOCIAL_JPEG55_QUALITIES)),
        (webp_step, _identity),
        _jpeg_step(80, _identity),
    ]


STAND_INS: dict[str, Callable[[], list[Step]]] = {
    "clean": lambda: [_track_step("clean", _identity)],  # the 8-bit save only
    "jpeg50": lambda: [_track_step("jpeg50", lambda x: diff_jpeg(x, 50))],
    "social": _social,
    # H.264: the real encode, the gradient of the PSNR-matched JPEG (measured above)
    "h264_c23": lambda: [_track_step("h264_c23", lambda x: diff_jpeg(x, H264_JPEG[23]))],
    "h264_c40": lambda: [_track_step("h264_c40", lambda x: diff_jpeg(x, H264_JPEG[40]))],
}


def stand_in(name: str) -> nn.Module:
    """The straight-through stand-in of suite track `name`: forward `recompress(x, name)`."""
    if name not in STAND_INS:
        raise ValueError(f"no stand-in for {name!r}: choose from {sorted(STAND_INS)}")
    return Chain(name, STAND_INS[name]())


def matched_jpeg_quality(
    codec: Callable[[np.ndarray], np.ndarray], images: Iterable[np.ndarray]
) -> int:
    """The Pillow JPEG quality (4:2:0) whose mean PSNR on `images` is closest to `codec`'s:
    the JPEG whose gradient stands in for a codec with no differentiable model.

    Bisects on the quality (JPEG's mean PSNR rises with it, up to small wiggles), then takes
    the closer of the two qualities around the crossing."""
    images = [codecs.as_rgb_uint8(image) for image in images]
    if not images:
        raise ValueError("need at least one image")

    def mean_psnr(fn: Callable[[np.ndarray], np.ndarray]) -> float:
        # An image a codec leaves unchanged has infinite PSNR: cap it so the mean stays finite.
        return float(np.mean([min(codecs.psnr(fn(image), image), 100.0) for image in images]))

    @functools.cache
    def jpeg_psnr(quality: int) -> float:
        return mean_psnr(lambda image: codecs.jpeg(image, quality))

    target = mean_psnr(codec)
    low, high = 1, 100  # find the lowest quality at or above the target
    while low < high:
        mid = (low + high) // 2
        low, high = (mid + 1, high) if jpeg_psnr(mid) < target else (low, mid)
    return min({max(low - 1, 1), low}, key=lambda q: (abs(jpeg_psnr(q) - target), q))
