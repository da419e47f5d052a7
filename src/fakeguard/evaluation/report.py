"""Human-readable tables and machine-readable files for run results."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.table import Table


def print_metrics(
    title: str, metrics: Mapping[str, float], notes: Mapping[str, str] | None = None
) -> None:
    """A two-column table of metrics, then free-form lines such as the checkpoint path."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        table.add_row(name, _format(value))
    console = Console(width=120)
    console.print(table)
    for key, value in (notes or {}).items():
        console.print(f"{key}: {value}", soft_wrap=True)


def write_json(path: str | Path, payload: Mapping) -> None:
    """JSON with NaN written as null, so every JSON reader accepts the file."""
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in payload.items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(clean, indent=2, sort_keys=True) + "\n")


def _format(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4f}"
    return str(int(value)) if isinstance(value, float) else str(value)
