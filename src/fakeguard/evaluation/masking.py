"""The gradient-masking check: a black-box attack must not beat the white-box ones.

A white-box attack follows the detector's gradients; if those are masked (shattered by a
non-differentiable step, saturated, obfuscated), it fails while the detector is not robust.
Square (`fakeguard.attacks.square`) only reads scores, so masking does not stop it: where its
AUC is lower than every white-box attack's at the same eps, the white-box AUCs overstate
robustness. AutoAttack (Croce & Hein 2020, its `flags_doc`) flags exactly this.

Tracks compare only within one group: the same L-inf eps (`square@4` with `pgd@4` and
`apgd-ce@4`) and the same codec after the attack (`square+jpeg50` with `pgd+jpeg50`; an
adaptive `pgd:jpeg50` only with another `...:jpeg50`). Which attacks are white or black box,
and at which eps, is read from the registry; trained attackers (`unet`) are neither.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import pandas as pd

from fakeguard.attacks.registry import Variant, budget, variant
from fakeguard.scoring.tracks import ALIASES, split_track

AUTOATTACK_SET = "custom AutoAttack: APGD-CE + Square"
TOLERANCE = 0.05  # AUC; the "within 0.05"

Group = tuple[float, str]  # (eps in 255ths, codec suffix: '', '+jpeg50', ':jpeg50')


def attack_group(track: str) -> tuple[Variant, Group] | None:
    """The attack of `track` and its comparison group, None for a track without a budgeted
    attack (`clean`, `jpeg50`, `unet`)."""
    attack, sep, codec = split_track(track)
    try:
        found = variant(attack)
    except ValueError:
        return None
    if found.eps is None or found.spec.trained:
        return None
    return found, (round(found.eps * 255, 6), _codec(sep + codec))


def _codec(suffix: str) -> str:
    """`+h264-like` -> `+h264_c23`: an alias and its suite track are one codec."""
    sep, name = suffix[:1], suffix[1:]
    return sep + (ALIASES[name].suite if name in ALIASES else name)


def gradient_masking(
    auc: Mapping[str, Mapping[str, float]], tolerance: float = TOLERANCE
) -> list[str]:
    """One sentence per (checkpoint, black-box track) whose AUC is lower than the lowest
    white-box AUC of its group by more than `tolerance`; `auc` is checkpoint -> track -> AUC.
    Tracks with no white-box track in their group, and AUCs that are NaN, are not compared."""
    return [
        flag for checkpoint, tracks in auc.items() for flag in _flags(checkpoint, tracks, tolerance)
    ]


def _flags(checkpoint: str, tracks: Mapping[str, float], tolerance: float) -> list[str]:
    white: dict[Group, dict[str, float]] = {}
    black: list[tuple[str, Variant, Group, float]] = []
    for name, value in tracks.items():
        found = attack_group(name)
        if found is None or not math.isfinite(value):
            continue
        attack, group = found
        if attack.spec.white_box:
            white.setdefault(group, {})[name] = float(value)
        else:
            black.append((name, attack, group, float(value)))
    flags = []
    for name, attack, group, value in black:
        rivals = white.get(group, {})
        if rivals and min(rivals.values()) - value > tolerance:
            flags.append(_sentence(checkpoint, name, attack, value, rivals, tolerance))
    return flags


def _sentence(
    checkpoint: str,
    name: str,
    attack: Variant,
    value: float,
    rivals: Mapping[str, float],
    tolerance: float,
) -> str:
    aucs = ", ".join(f"{n} {v:.3f}" for n, v in rivals.items())
    return (
        f"{checkpoint}: likely gradient masking: the black-box {attack.spec.label} attack beats "
        f"the white-box attacks at {budget(attack.eps)}: {name} AUC {value:.3f}, more than "
        f"{tolerance:g} below the lowest white-box AUC ({aucs}); their AUCs overstate "
        "robustness (AutoAttack's advice)"
    )


def has_autoattack_set(tracks: Iterable[str]) -> bool:
    """True when `tracks` hold `apgd-ce` and `square` in one group (same eps and codec), the
    report's `AUTOATTACK_SET`."""
    names = list(tracks)
    return bool(_groups(names, "apgd-ce") & _groups(names, "square"))


def _groups(tracks: list[str], base: str) -> set[Group]:
    found = [attack_group(t) for t in tracks]
    return {f[1] for f in found if f is not None and f[0].base == base}


def frame_auc(results: pd.DataFrame) -> dict[str, dict[str, float]]:
    """checkpoint -> track -> frame-level AUC, from the long results table."""
    rows = results[(results.level == "frame") & (results.metric == "auc")]
    found: dict[str, dict[str, float]] = {}
    for checkpoint, track, value in rows[["checkpoint", "track", "value"]].itertuples(
        index=False, name=None
    ):
        found.setdefault(checkpoint, {})[track] = float(value)
    return found


def report_lines(results: pd.DataFrame, tracks: Iterable[str]) -> tuple[list[str], list[str]]:
    """(warnings, notes) for the report: a warning per gradient-masking flag; a note naming
    the custom AutoAttack set when APGD-CE and Square ran together, and one saying that no
    black-box attack beat the white-box ones when a black-box track ran and none did."""
    names = list(tracks)
    flags = gradient_masking(frame_auc(results))
    notes = []
    if has_autoattack_set(names):
        notes.append(
            f"APGD-CE and Square together are the report's {AUTOATTACK_SET} (AutoAttack's DLR "
            "attacks need three or more classes)."
        )
    black = [n for n in names if (g := attack_group(n)) is not None and not g[0].spec.white_box]
    if black and not flags:
        notes.append(
            f"Gradient-masking check: no black-box track ({', '.join(black)}) beats the "
            f"white-box attacks at its budget by more than {TOLERANCE:g} AUC."
        )
    return flags, notes
