"""Which torch device a command runs on."""

from __future__ import annotations

import torch


def pick_device(name: str) -> torch.device:
    """`auto`: the GPU when one is visible, else the CPU; any other name as torch reads it
    (checked beforehand by `fakeguard.settings.device`)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
