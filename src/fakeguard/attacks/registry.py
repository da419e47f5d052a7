"""The evaluation attacks by track name, as AutoAttack and ART hold theirs.

Each attack module of this package registers its pinned configurations when it is imported
(`register(name, AttackSpec(...))`), and `attacks()` imports every module of the package
first. Adding an evaluation attack is therefore one new file here (its class and its
`register` call) plus, optionally, its name in a `configs/tracks/*.yaml` set: the track
parser, the report's row titles and its notes read this registry.

An attack is pinned like the suite (a name always means the same settings, so figures stay
comparable). Every attack maps (detector, pixels x in [0, 1] of shape (N, 3, H, W), labels
y (N,)) to attacked pixels of the same shape, on the model input (after the resize).

A white-box attack registered with its L-inf budget (`AttackSpec.eps`) also runs at other
budgets: `<name>@<eps>`, eps in 255ths (`pgd@4` is `pgd` at 4/255, `pgd@0.5` at 0.5/255),
with every step size scaled by the same ratio. `<name>@<its own eps>` is `<name>` itself
(`canonical` maps one to the other, so a track is never scored twice). Its work budget
(iterations, restarts: `AttackSpec.settings`) can be changed per run (`attack_budgets` in
evaluate.yaml); the descriptions then say what ran.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
Budgets = Mapping[str, Mapping[str, Any]]  # attack name -> setting -> value


@dataclass(frozen=True)
class AttackSpec:
    """One evaluation attack.

    `factory` builds it: `factory(eps=..., **settings)` for an attack with a pinned budget
    `eps` (pixel units), `factory(**settings)` for one without, `factory(attacker)` for a
    `trained` attacker taken from a training checkpoint or fitted by evaluate.py (`unet`).
    `white_box`: it follows the detector's gradients (a black-box attack only queries its
    outputs). `through`: the platform it is optimised through, a suite track or `eot`: the
    scorer attacks `Through(detector, that platform's stand-in)` (`pgd-eot`). `title`
    labels its report row, `short_title` its `<attack> + <codec>` rows; `description` is its
    pinned settings in one line (a report note when a track uses it, and results.json), or,
    with `describe`, `describe(eps=..., **settings)` says it for other budgets; `report_note`,
    one more note the report adds when a track uses it. `settings` are its work budget
    (whole numbers >= 1, e.g. iterations and restarts) with their pinned values.
    """

    factory: Callable[..., Attack]
    title: str
    description: str
    white_box: bool
    trained: bool = False
    through: str | None = None
    report_note: str | None = None
    short_title: str | None = None
    eps: float | None = None
    settings: Mapping[str, int] = field(default_factory=dict)
    describe: Callable[..., str] | None = None

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
    for sep, role in (
        ("+", "an attack from a codec"),
        (":", "an attack from the codec it goes through"),
        (">", "an attack from the codec it goes through"),
        ("@", "an attack from its budget"),
    ):
        if sep in name:
            raise ValueError(f"attack name {name!r}: '{sep}' separates {role}")
    if spec.eps is not None and (spec.trained or not (math.isfinite(spec.eps) and spec.eps > 0)):
        raise ValueError(f"attack {name!r}: eps is a built attack's budget, > 0")
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
    """The attack called `name` (no `@`), or a ValueError listing the registered ones."""
    found = attacks()
    if name not in found:
        raise ValueError(f"no attack {name!r}: choose from {sorted(found)}")
    return found[name]


def in_255ths(eps: float) -> str:
    """A budget in 255ths as names and reports write it: 8/255 -> `8`, 0.5/255 -> `0.5`."""
    return f"{eps * 255:.6g}"


def budget(eps: float) -> str:
    """An L-inf budget as the report writes it: `L-inf 8/255`."""
    return f"L-inf {in_255ths(eps)}/255"


@dataclass(frozen=True)
class Variant:
    """A registered attack at a budget: `pgd` (its pinned one) or `pgd@4`."""

    name: str  # canonical: `pgd@8` is `pgd`
    base: str
    spec: AttackSpec
    eps: float | None  # pixel units; None for an attack without a budget of its own

    @property
    def pinned(self) -> bool:
        return self.name == self.base

    @property
    def title(self) -> str:
        return self.spec.title if self.pinned else f"{self.spec.title}, {self._at}"

    @property
    def label(self) -> str:
        return self.spec.label if self.pinned else f"{self.spec.label} {self._at}"

    @property
    def _at(self) -> str:
        return f"{in_255ths(self.eps)}/255"

    def settings(self, budgets: Budgets | None = None) -> dict[str, int]:
        """Its work budget: the pinned settings with `budgets[base]` over them."""
        return {**self.spec.settings, **check_budgets(budgets).get(self.base, {})}

    def description(self, budgets: Budgets | None = None) -> str:
        """What runs, in one line."""
        if self.spec.describe is None:
            return self.spec.description
        return self.spec.describe(eps=self.eps, **self.settings(budgets))

    def build(self, budgets: Budgets | None = None) -> Attack:
        """The attack (not a trained attacker: that one comes from a checkpoint or a fit)."""
        if self.spec.trained:
            raise ValueError(f"attack {self.base!r} is a trained attacker: it needs a trained one")
        if self.eps is None:
            return self.spec.factory(**self.settings(budgets))
        return self.spec.factory(eps=self.eps, **self.settings(budgets))


def variant(name: str) -> Variant:
    """`name` (`pgd`, `pgd@4`, `apgd-ce@0.5`) as a registered attack at a budget, or a
    ValueError saying what is wrong."""
    base, at, eps_text = name.partition("@")
    spec = get(base)
    if not at:
        return Variant(base, base, spec, spec.eps)
    if spec.eps is None:
        kind = "a trained attacker with its own eps" if spec.trained else "pinned"
        raise ValueError(f"attack {base!r} is {kind}: it takes no @<eps> ({name!r})")
    try:
        value = float(eps_text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 255):
        raise ValueError(
            f"{name!r}: the budget after @ is an L-inf eps in 255ths, a number in (0, 255] "
            f"(e.g. {base}@4 for 4/255)"
        )
    eps = value / 255
    if math.isclose(value, spec.eps * 255, rel_tol=1e-9, abs_tol=1e-9):
        return Variant(base, base, spec, spec.eps)
    return Variant(f"{base}@{in_255ths(eps)}", base, spec, eps)


def canonical(name: str) -> str:
    """The one name of an attack at a budget: `pgd@8` -> `pgd`, `pgd@4.0` -> `pgd@4`."""
    return variant(name).name


def at_eps(base: str, eps_255ths: float) -> str:
    """The canonical name of attack `base` at `eps_255ths`/255: (`pgd`, 4) -> `pgd@4`."""
    return canonical(f"{base}@{float(eps_255ths):.6g}")


def check_budgets(budgets: Budgets | None) -> dict[str, dict[str, int]]:
    """`attack_budgets` as {attack: {setting: whole number >= 1}}, or a ValueError naming the
    attack or setting that does not exist or the value that is not allowed."""
    checked: dict[str, dict[str, int]] = {}
    for base, values in (budgets or {}).items():
        spec = get(str(base))
        known = dict(spec.settings)
        checked[str(base)] = {}
        for key, value in (values or {}).items():
            if key not in known:
                raise ValueError(
                    f"attack_budgets.{base}.{key}: {base} has "
                    + (f"settings {sorted(known)}" if known else "no adjustable settings")
                )
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"attack_budgets.{base}.{key} must be a whole number >= 1")
            checked[str(base)][str(key)] = int(value)
    return checked


def pinned_attack(name: str, budgets: Budgets | None = None) -> Attack:
    """The attack of an evaluation track (`pgd`, `pgd@4`, `square`; not `unet`, which needs a
    trained attacker), with `budgets` over its pinned work budget."""
    return variant(name).build(budgets)


def describe(budgets: Budgets | None = None, names: list[str] | None = None) -> dict[str, str]:
    """Each attack's settings in one line (every registered one at its pinned budget, or
    `names`), with `budgets` applied: for the report and results.json."""
    chosen = list(attacks()) if names is None else names
    return {variant(n).name: variant(n).description(budgets) for n in chosen}
