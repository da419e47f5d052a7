"""The detector behind a platform: what an adaptive attacker optimises against.

A platform (a suite codec's straight-through stand-in, or an EOT distribution over codecs;
`fakeguard.robustness.standins`, `fakeguard.robustness.eot`) maps pixels in [0, 1] to what
the detector receives after upload. Any attack of this package run against `Through(detector,
platform)` is optimised through the platform's gradients (BPDA, EOT) with no change to the
attack itself: the attack only ever sees a model.
"""

from __future__ import annotations

import torch
from torch import nn


class Through(nn.Module):
    """`detector(platform(x))`. The platform has no parameters, so eval/train flags and
    frozen parameters (`fakeguard.attacks.modes`) reach only the detector's."""

    def __init__(self, detector: nn.Module, platform: nn.Module) -> None:
        super().__init__()
        self.detector = detector
        self.platform = platform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.detector(self.platform(x))


def through(detector: nn.Module, platform: nn.Module | None) -> nn.Module:
    """The detector itself when there is no platform, else `Through(detector, platform)`."""
    return detector if platform is None else Through(detector, platform)
