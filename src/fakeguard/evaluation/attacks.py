"""The U-Net attacker of a training checkpoint, for the `unet` tracks. The other evaluation
attacks are built from their registry (`fakeguard.attacks.registry`)."""

from __future__ import annotations

from pathlib import Path

from fakeguard.attacks.unet import UNetAttacker
from fakeguard.models.checkpoint import read_attacker, read_checkpoint


def load_attacker(path: str | Path) -> UNetAttacker | None:
    """The U-Net attacker stored in a training checkpoint, or None when it holds none."""
    found = read_attacker(read_checkpoint(path))
    if found is None:
        return None
    spec, weights = found
    unet = UNetAttacker(**spec)
    unet.load_state_dict(weights)
    return unet.eval()
