"""requirements.txt holds every dependency pyproject.toml names, at a version it allows.

`make lock-check` (run by CI) re-resolves the whole set through pip-compile; this test is its
offline half: it catches a dependency added or re-ranged in pyproject.toml without `make lock`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)")


def pins(path: Path) -> dict[str, str]:
    found = (PIN.match(line) for line in path.read_text().splitlines())
    return {canonicalize_name(m[1]): m[2] for m in found if m}


def direct_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {}).values()
    return [Requirement(r) for r in [*project["dependencies"], *(r for e in extras for r in e)]]


def test_the_lock_pins_every_direct_dependency_within_its_range():
    locked = pins(ROOT / "requirements.txt")
    wrong = [
        f"{r} (locked: {locked.get(canonicalize_name(r.name), 'missing')})"
        for r in direct_requirements()
        if canonicalize_name(r.name) not in locked
        or not r.specifier.contains(locked[canonicalize_name(r.name)], prereleases=True)
    ]
    assert not wrong, f"run `make lock`: {wrong}"


def test_the_lock_obeys_the_torch_constraints():
    locked = pins(ROOT / "requirements.txt")
    for name, version in pins(ROOT / "constraints.txt").items():
        assert locked[name] == version, f"{name}: constraints say {version}, lock {locked[name]}"
