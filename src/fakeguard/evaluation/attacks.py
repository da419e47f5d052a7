"""The attacks of the evaluation tracks: built from the registry
(`fakeguard.attacks.registry`), and the U-Net attacker read from a training checkpoint.

All attacks are untargeted L-inf attacks with the 8/255 budget that training uses by default,
on the model input of the checkpoint being scored (after its resize). Each attack module of
`fakeguard.attacks` holds its class and its pinned registry entry: `pgd` (`attacks.pgd`, the
training default `PGD_8_255`), `pgd-strong` (`attacks.restarts`), `apgd-ce` (`attacks.apgd`)
and `unet` (`attacks.unet`).
"""

from __future__ import annotations

from pathlib import Path

from fakeguard.attacks.apgd import DLR_NOTE
from fakeguard.attacks.registry import Attack, attacks, get
from fakeguard.attacks.unet import UNetAttack, UNetAttacker
from fakeguard.models.checkpoint import read_attacker, read_checkpoint

__all__ = ["DLR_NOTE", "Attack", "UNetAttack", "describe", "load_attacker", "pinned_attack"]


def pinned_attack(name: str) -> Attack:
    """The white-box attack of an evaluation track (not `unet`, which needs an attacker)."""
    spec = get(name)
    if not spec.white_box:
        raise ValueError(f"attack {name!r} is a fixed attacker: it needs a trained one")
    return spec.factory()


def load_attacker(path: str | Path) -> UNetAttacker | None:
    """The U-Net attacker stored in a training checkpoint, or None when it holds none."""
    found = read_attacker(read_checkpoint(path))
    if found is None:
        return None
    spec, weights = found
    unet = UNetAttacker(**spec)
    unet.load_state_dict(weights)
    return unet.eval()


def describe() -> dict[str, str]:
    """Each attack's pinned settings in one line, for the report and results.json."""
    return {name: spec.description for name, spec in attacks().items()}
