"""Imports run one way: a module never imports from a layer above its own, nor from another
package of its own layer (training and evaluation, say, share code only through a lower one).

Every module under src/fakeguard is parsed (not imported), so the test also covers imports
inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fakeguard"
# Bottom to top. A top-level module (fakeguard/x.py) is a package of its own; a package's
# `__main__` is an entry point, on the top layer.
LAYERS = [
    {"errors"},
    {"settings", "instantiate", "files", "walk", "devices", "console", "loggers", "cli"},
    {"attacks", "models", "data"},
    {"robustness"},
    {"scoring"},
    {"training", "evaluation", "inference", "export"},
    {"predict", "prepare", "calibrate", "benchmark_dir", "__main__"},
]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def package_of(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return "__main__" if parts[-1] == "__main__" else parts[0]


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(fakeguard package, line) for every import of fakeguard in the module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "fakeguard" and len(parts) > 1:
                found.add((parts[1], node.lineno))
    return found


MODULES = sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py")


def test_every_package_has_a_layer():
    unknown = {package_of(p) for p in MODULES} - set(RANK)
    assert not unknown, f"give these a layer in LAYERS: {sorted(unknown)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(path):
    own = package_of(path)
    wrong = [
        f"line {line}: fakeguard.{package} (layer {RANK.get(package)})"
        for package, line in sorted(imported_packages(path))
        if package != own and RANK.get(package, -1) >= RANK[own]
    ]
    assert not wrong, f"{path.relative_to(SRC)} (layer {RANK[own]}) imports upward: {wrong}"
