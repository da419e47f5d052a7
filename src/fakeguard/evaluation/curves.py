"""Robustness curves: AUC and accuracy against the L-inf budget, per checkpoint and attack.

`curves.attacks=[pgd,apgd-ce] curves.eps=[1,2,4,8]` adds the tracks `pgd@1`, `pgd@2`,
`pgd@4`, `pgd` (8/255 is pgd's own budget), and the same for `apgd-ce`, to the run; the
curve starts at eps = 0 with the clean track on the same samples. The table goes to the
console, report.md, results.json and curves.csv, the plot to auc_vs_eps.png.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fakeguard import settings
from fakeguard.attacks.registry import at_eps, get
from fakeguard.errors import UserError

Curves = dict[str, dict[float, str]]  # attack -> eps in 255ths -> track


def curve_plan(cfg: Any) -> Curves:
    """The curves asked for by evaluate.yaml's `curves` group (empty: none), checked."""
    if cfg is None or not cfg.get("attacks"):
        return {}
    names = settings.as_list(cfg.attacks, "curves.attacks", "attack", "[pgd,apgd-ce]")
    values = cfg.get("eps")
    if values is None or isinstance(values, str | int | float):
        values = [values]
    plan: Curves = {}
    for name in dict.fromkeys(names):
        try:
            spec = get(name)
        except ValueError as error:
            raise UserError(f"curves.attacks: {error}") from None
        if spec.eps is None:
            raise UserError(
                f"curves.attacks: {name} takes no other budget (a white-box attack with an "
                "L-inf eps does: pgd, pgd-strong, apgd-ce); curves.eps sets the budgets"
            )
        plan[name] = {}
        for value in values:
            eps = _eps(value)
            plan[name][eps] = at_eps(name, eps)
    return plan


def _eps(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UserError(f"curves.eps: {value!r} is no number (eps in 255ths, e.g. [1,2,4,8])")
    if not 0 < value <= 255:
        raise UserError(f"curves.eps: {value!r} is out of (0, 255] (eps in 255ths)")
    return float(value)


def curve_tracks(plan: Curves) -> list[str]:
    """The track names the curves need, in plan order."""
    return [track for points in plan.values() for track in points.values()]


def eps_columns(plan: Curves) -> list[float]:
    """Every eps of the plan, with 0 (clean) first."""
    return [0.0, *sorted({eps for points in plan.values() for eps in points})]


def curve_rows(
    curves: Any, checkpoints: Sequence[str], plan: Curves
) -> tuple[list[str], list[list[str]]]:
    """Head and rows of the curve table: one row per checkpoint x attack, one column per eps,
    cells `AUC (acc)`; "—" where nothing was scored."""
    columns = eps_columns(plan)
    head = ["Checkpoint", "Attack"] + ["clean" if eps == 0 else f"{eps:g}/255" for eps in columns]
    cells = {
        (c, a, e): (auc, acc)
        for c, a, e, auc, acc in curves[["checkpoint", "attack", "eps", "auc", "acc"]].itertuples(
            index=False, name=None
        )
    }
    rows = []
    for checkpoint in checkpoints:
        for attack in plan:
            row = [checkpoint, attack]
            for eps in columns:
                auc, acc = cells.get((checkpoint, attack, eps), (math.nan, math.nan))
                row.append(_cell(auc, acc))
            rows.append(row)
    return head, rows


def _cell(auc: float, acc: float) -> str:
    if not math.isfinite(acc):
        return "—"
    return f"{auc:.3f} ({acc:.3f})" if math.isfinite(auc) else f"— ({acc:.3f})"
