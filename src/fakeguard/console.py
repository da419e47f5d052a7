"""Tables on the console: a run's metrics, an evaluation's results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


def print_table(title: str, head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table of preformatted cells, first column left-aligned, the rest right-aligned."""
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(head):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)


def _format(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4f}"
    return str(int(value)) if isinstance(value, float) else str(value)
