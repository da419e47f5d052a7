"""A learned attacker: a tiny U-Net that adds smooth, compression-surviving perturbations.

The attacker maps pixels x in [0, 1] to a perturbation delta with |delta| < eps; the attacked
image is clamp(x + delta, 0, 1). It is trained with `attacker_loss`, which rewards the
detector's errors (a margin on its logit) while a total-variation term suppresses speckle and a
low-frequency term keeps the energy out of the band that detectors can easily normalise away.
It trains beside the detector (`fakeguard.training`) or from scratch against a frozen one
(`fakeguard.attacks.unet_fit.fit_unet`). `UNetAttack` is a trained one as the evaluation
attack `unet`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fakeguard.attacks.registry import AttackSpec, register

# tanh rounds to exactly +-1 in float32 for |out| > ~9; shrinking by one part in a million keeps
# |delta| < eps strictly even then, and changes nothing that matters.
_SHRINK = 1.0 - 1e-6


def _conv_block(in_ch: int, out_ch: int) -> nn.Sequential:
    """Two conv-GroupNorm-SiLU layers.

    GroupNorm, not BatchNorm: its statistics are per image, so one image's perturbation never
    depends on the rest of the batch (and train/eval behave the same). The conv bias is dropped
    because the norm that follows would cancel it.
    """
    groups = math.gcd(out_ch, 8)
    layers: list[nn.Module] = []
    for ch in (in_ch, out_ch):
        layers += [
            nn.Conv2d(ch, out_ch, 3, padding=1, bias=False),
            nn.GroupNorm(groups, out_ch),
            nn.SiLU(),
        ]
    return nn.Sequential(*layers)


def _downsample(x: Tensor) -> Tensor:
    """Halve H and W, rounding up, so odd sizes (and 1 pixel) keep working."""
    return F.avg_pool2d(x, kernel_size=2, stride=2, ceil_mode=True)


class UNetAttacker(nn.Module):
    """Tiny U-Net: pixels (N, 3, H, W) in [0, 1] -> perturbation delta with |delta| < eps.

    `depth` down levels (channels base * 2**i), a bottleneck, `depth` up levels that concatenate
    the matching skip, then a 1x1 conv to 3 channels. Upsampling goes to each skip's exact size,
    so any H, W works. `spec` holds the constructor arguments, so a checkpoint can rebuild the
    attacker without pickle: `UNetAttacker(**spec)` (a spec saved before `conditioned` existed
    rebuilds the unconditioned attacker it describes).

    `conditioned`: the labels are inputs. The attacker knows which of its images are fake, and
    the two need opposite perturbations: without the label the U-Net would first have to detect
    the fakes itself, which is the detector's whole task. The label enters as a fourth input
    plane (+1 fake, -1 real) and as a learned per-channel shift after every block (conditional
    normalisation, zero at first): a constant plane is mostly subtracted by the per-image
    GroupNorms that follow it. Against the clean demo model (`fit_unet`, 250 steps) the test
    AUC went to 0.013 with the plane alone, 0.13 with the shifts alone, 0.008 with both.
    """

    def __init__(
        self,
        eps: float = 8 / 255,
        base_channels: int = 16,
        depth: int = 3,
        conditioned: bool = False,
    ) -> None:
        super().__init__()
        if not (eps > 0 and math.isfinite(eps)):
            raise ValueError(f"eps must be a positive finite number, got {eps!r}")
        if int(base_channels) != base_channels or base_channels < 1:
            raise ValueError(f"base_channels must be an integer >= 1, got {base_channels!r}")
        if int(depth) != depth or depth < 1:
            raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
        base_channels, depth = int(base_channels), int(depth)
        self.spec: dict[str, Any] = {
            "eps": float(eps),
            "base_channels": base_channels,
            "depth": depth,
            "conditioned": bool(conditioned),
        }
        self.eps = float(eps)
        self.conditioned = bool(conditioned)
        chans = [base_channels * 2**i for i in range(depth + 1)]
        self.downs = nn.ModuleList(
            _conv_block(chans[i - 1] if i else 3 + self.conditioned, chans[i]) for i in range(depth)
        )
        self.bottleneck = _conv_block(chans[depth - 1], chans[depth])
        self.ups = nn.ModuleList(
            _conv_block(chans[i + 1] + chans[i], chans[i]) for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(chans[0], 3, 1)
        if self.conditioned:  # one shift per block, in forward's order
            widths = [*chans[:depth], chans[depth], *reversed(chans[:depth])]
            self.label_shifts = nn.ModuleList(nn.Embedding(2, width) for width in widths)
            for shift in self.label_shifts:
                nn.init.zeros_(shift.weight)
        # Small but nonzero: the attack starts near the clean image yet gradients reach every layer.
        nn.init.normal_(self.head.weight, std=1e-2)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Pixels (N, 3, H, W) in [0, 1] -> delta of the same shape and dtype, |delta| < eps.
        `y` (N,), 1 = fake: the labels, which a conditioned attacker needs."""
        shifts = iter(self._label_shifts(y))
        h = x * 2 - 1  # centre the input
        if self.conditioned:
            h = torch.cat([h, _label_plane(y, h)], dim=1)
        skips = []
        for block in self.downs:
            h = block(h) + next(shifts)
            skips.append(h)
            h = _downsample(h)
        h = self.bottleneck(h) + next(shifts)
        for block, skip in zip(self.ups, reversed(skips), strict=True):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = block(torch.cat([h, skip], dim=1)) + next(shifts)
        out = self.head(h).float()  # tanh in float32: bf16 would round many values to +-1
        return ((self.eps * _SHRINK) * torch.tanh(out)).to(x.dtype)

    def _label_shifts(self, y: Tensor | None) -> list[Tensor | float]:
        """Each block's (N, C, 1, 1) shift for the labels; zeros when not conditioned."""
        if not self.conditioned:
            return [0.0] * (2 * len(self.downs) + 1)
        if y is None:
            raise ValueError("this U-Net attacker is conditioned on the labels: pass y")
        index = (y > 0.5).long()
        return [shift(index)[..., None, None] for shift in self.label_shifts]

    def perturb(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The attacked image clamp(x + delta, 0, 1)."""
        return (x + self(x, y)).clamp(0, 1)


def _label_plane(y: Tensor, like: Tensor) -> Tensor:
    """(N, 1, H, W): +1 for a fake, -1 for a real."""
    return (y.to(like.dtype) * 2 - 1).view(-1, 1, 1, 1).expand(-1, 1, *like.shape[-2:])


def _mean_abs(t: Tensor) -> Tensor:
    """Mean |t|, or 0 for an empty tensor (an image 1 pixel high has no vertical neighbours)."""
    return t.abs().mean() if t.numel() else t.new_zeros(())


def total_variation(delta: Tensor) -> Tensor:
    """Anisotropic TV of (..., H, W): mean |vertical diff| + mean |horizontal diff|, a scalar.

    Means, not sums, so the weight does not have to change with the image size. Penalising it
    suppresses pixel-level speckle, which JPEG quantisation would erase anyway.
    """
    d = delta.float()
    return _mean_abs(d[..., 1:, :] - d[..., :-1, :]) + _mean_abs(d[..., :, 1:] - d[..., :, :-1])


def _low_frequency_mask(h: int, w: int, radius: float, device: torch.device) -> Tensor:
    """(H, W) bool mask of the fft2 bins with sqrt(fy**2 + fx**2) <= radius * 0.5 cycles/pixel."""
    fy = torch.fft.fftfreq(h, device=device).view(-1, 1)
    fx = torch.fft.fftfreq(w, device=device).view(1, -1)
    return (fy**2 + fx**2).sqrt() <= radius * 0.5


def low_frequency_share(delta: Tensor, radius: float = 0.1) -> Tensor:
    """Share in [0, 1] of the perturbation's energy near DC, averaged over the batch.

    Convention: frequencies come from `torch.fft.fftfreq` (cycles/pixel, Nyquist = 0.5) and a
    bin counts as low if sqrt(fy**2 + fx**2) <= radius * 0.5, i.e. `radius` is a fraction of the
    Nyquist frequency (0.1 -> periods of 20 pixels and longer). Energy is |fft2|**2 summed over
    the channels of each image. Why penalise it: low frequencies (colour casts, slow gradients)
    are what a detector's normalisation and augmentation wash out, while the finest detail is
    what compression quantises away, so the attack should live in the mid band.
    Always float32, even under autocast (FFT has no bf16 kernel). delta: (N, C, H, W).
    """
    if delta.ndim != 4:
        raise ValueError(f"delta must be (N, C, H, W), got shape {tuple(delta.shape)}")
    power = torch.fft.fft2(delta.float(), norm="ortho").abs().square()
    mask = _low_frequency_mask(*delta.shape[-2:], radius, delta.device)
    low = (power * mask).sum(dim=(1, 2, 3))
    total = power.sum(dim=(1, 2, 3))
    # An all-zero delta has no energy: 0 / tiny = 0 rather than 0 / 0 = NaN.
    return (low / total.clamp_min(torch.finfo(torch.float32).tiny)).mean()


# How the attacker is rewarded for fooling the detector (`attacker_loss`'s `objective`).
OBJECTIVES = ("margin", "bce")


def fooling_term(logits: Tensor, labels: Tensor, objective: str, margin: float) -> Tensor:
    """The part of the attacker's loss that rewards fooling the detector (lower: more fooled).

    `margin`: the signed logit (2y - 1) * z floored at -margin (Carlini & Wagner's loss for one
    logit). Every sample the detector still gets right pulls with the same unit gradient, however
    confident it is, and a sample fooled by `margin` stops pulling. `bce`: -BCE, the old loss.
    Its gradient sigmoid(z) - y vanishes on confidently right samples: on the clean demo model's
    train crops the median signed logit is 6.5, 88% of them have |dBCE/dz| < 0.01 and the 5%
    least sure carry half the gradient, so the U-Net learnt next to nothing (test AUC 0.999).
    """
    z, y = logits.float(), labels.float()
    if objective == "bce":
        return -F.binary_cross_entropy_with_logits(z, y)
    if objective == "margin":
        return ((2 * y - 1) * z).clamp_min(-margin).mean()
    raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")


def success_rate(logits: Tensor, labels: Tensor) -> Tensor:
    """Share of the (attacked) samples the detector gets wrong at P(fake) = 0.5."""
    return ((logits.detach().float() > 0) != (labels > 0.5)).float().mean()


def attacker_loss(
    logits: Tensor,
    labels: Tensor,
    delta: Tensor,
    tv_weight: float = 0.05,
    freq_weight: float = 0.1,
    radius: float = 0.1,
    objective: str = "margin",
    margin: float = 5.0,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Loss to minimise: fooling term + tv_weight * TV + freq_weight * low-frequency share.

    The fooling term (`fooling_term`) rewards the detector's errors on the attacked images; the
    other two keep the perturbation smooth and in the mid band. Returns the total and detached
    parts {"bce", "success", "tv", "lowfreq"} for logging (the detector's BCE on the attacked
    images and the share it gets wrong, whatever the objective).
    """
    fool = fooling_term(logits, labels, objective, margin)
    tv = total_variation(delta)
    lowfreq = low_frequency_share(delta, radius)
    total = fool + tv_weight * tv + freq_weight * lowfreq
    bce = F.binary_cross_entropy_with_logits(logits.detach().float(), labels.float())
    parts = {"bce": bce, "success": success_rate(logits, labels)}
    return total, parts | {"tv": tv.detach(), "lowfreq": lowfreq.detach()}


# Radial bands of `frequency_profile`, as upper edges in fractions of Nyquist (the convention of
# `low_frequency_share`). JPEG's 8 x 8 DCT keeps the low band and quantises the high one hardest.
BANDS = (("low", 0.25), ("mid", 0.5), ("high", math.inf))


def frequency_profile(delta: Tensor) -> dict[str, float]:
    """Share of a perturbation's energy in each radial band of `BANDS`, averaged over the batch.

    Logged each epoch (`attacker/freq_low` ...): whether the attacker lives where a codec
    would erase it (high) or where the detector's normalisation may (low). delta: (N, C, H, W).
    """
    if delta.ndim != 4:
        raise ValueError(f"delta must be (N, C, H, W), got shape {tuple(delta.shape)}")
    power = torch.fft.fft2(delta.detach().float(), norm="ortho").abs().square().sum(dim=1)
    h, w = delta.shape[-2:]
    fy = torch.fft.fftfreq(h, device=delta.device).view(-1, 1)
    fx = torch.fft.fftfreq(w, device=delta.device).view(1, -1)
    radius = (fy**2 + fx**2).sqrt() / 0.5
    total = power.sum(dim=(1, 2)).clamp_min(torch.finfo(torch.float32).tiny)
    profile, lower = {}, -1.0
    for name, upper in BANDS:
        band = (radius > lower) & (radius <= upper)
        profile[name] = ((power * band).sum(dim=(1, 2)) / total).mean().item()
        lower = upper
    return profile


class UNetAttack:
    """A trained U-Net attacker as an evaluation attack: clamp(x + unet(x, y), 0, 1) (a
    conditioned one reads the labels, as PGD does)."""

    def __init__(self, unet: UNetAttacker) -> None:
        self.unet = unet.eval()

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        self.unet.to(x.device)
        with torch.no_grad():
            return self.unet.perturb(x, y)


register(
    "unet",
    AttackSpec(
        factory=UNetAttack,
        title="Learned U-Net",
        short_title="U-Net",
        description=(
            "a trained U-Net attacker (a training checkpoint's, or fitted to each checkpoint "
            "with attacker=train), its own eps"
        ),
        white_box=False,
        trained=True,
    ),
)
