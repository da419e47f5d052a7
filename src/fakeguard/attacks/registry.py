"""The evaluation attacks by track name, as AutoAttack and ART hold theirs.

Each attack module of this package registers its pinned configurations when it is imported
(`register(name, AttackSpec(...))`), and `attacks()` imports every module of the package
first. Adding an evaluation attack is therefore one new file here (its class and its
`register` call) plus, optionally, its name in a `configs/tracks/*.yaml` set: the track
parser, the report's row titles and its notes read this registry.

An attack is pinned like the suite (a name always means the same settings, so figures stay
comparable). Every attack maps (detector, pixels x in [0, 1] of shape (N, 3, H, W), labels
y (N,)) to attacked pixels of the same shape, on the model input (after the resize).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class AttackSpec:
    """One evaluation attack.

    `factory` builds it: `factory()` for a white-box attack (it attacks, with its gradients,
    each checkpoint being scored), `factory(attacker)` for a fixed attacker taken from a
    training checkpoint (a transfer attack on the others). `title` labels its report row,
    `short_title` its `<attack> + <codec>` rows; `description` is its pinned settings in one
    line (a report note when a track uses it, and results.json); `report_note`, one more
    note the report adds when a track uses it.
    """

    factory: Callable[..., Attack]
    title: str
    description: str
    white_box: bool
    report_note: str | None = None
    short_title: str | None = None

    @property
    def label(self) -> str:
        """The title in `<attack> + <codec>` rows."""
        return self.short_title or self.title


ATTACKS: dict[str, AttackSpec] = {}
_discovered = False


def register(name: str, spec: AttackSpec) -> AttackSpec:
    """Add an attack under `name` (a track name); a name is registered once."""
    if name in ATTACKS:
        raise ValueError(f"attack {name!r} is registered twice")
    if "+" in name:
        raise ValueError(f"attack name {name!r}: '+' separates an attack from a codec")
    ATTACKS[name] = spec
    return spec


def attacks() -> Mapping[str, AttackSpec]:
    """Every registered attack by name, in name order (registration order depends on which
    module was imported first), after importing every module of `fakeguard.attacks`."""
    global _discovered
    if not _discovered:
        package = importlib.import_module(__package__)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{__package__}.{module.name}")
        _discovered = True
    return dict(sorted(ATTACKS.items()))


def get(name: str) -> AttackSpec:
    """The attack called `name`, or a ValueError listing the registered ones."""
    found = attacks()
    if name not in found:
        raise ValueError(f"no attack {name!r}: choose from {sorted(found)}")
    return found[name]


def budget(eps: float) -> str:
    """An L-inf budget as the report writes it: `L-inf 8/255`."""
    return f"L-inf {eps * 255:.0f}/255"


def pinned_attack(name: str) -> Attack:
    """The white-box attack of an evaluation track (not `unet`, which needs an attacker)."""
    spec = get(name)
    if not spec.white_box:
        raise ValueError(f"attack {name!r} is a fixed attacker: it needs a trained one")
    return spec.factory()


def describe() -> dict[str, str]:
    """Each attack's pinned settings in one line, for the report and results.json."""
    return {name: spec.description for name, spec in attacks().items()}
