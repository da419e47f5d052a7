"""Checks of the numeric settings, run before any work starts.

Each check names the setting as the user types it on the command line (`data.image_size=7`)
and raises a `SettingError` (a `UserError`: one `error:` line, exit status 2) that says
which values work. Entry points and constructors share these helpers instead of each writing
its own `if ...: raise`.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import ListConfig, OmegaConf

from fakeguard.errors import SettingError

# The smallest image a detector takes: the backbones reduce by 32 (one cell of their feature
# grid at 32 px), and the embedded demo cannot draw a face in fewer pixels.
MIN_IMAGE_SIZE = 32


def whole_number(
    name: str, value: Any, minimum: int | None = None, unit: str = "", maximum: int | None = None
) -> int:
    """`value` as an int, at least `minimum` and at most `maximum` (in `unit`, e.g. " px")."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SettingError(f"{name}={value} must be a whole number")
    if minimum is not None and value < minimum:
        raise SettingError(f"{name}={value} is too small: at least {minimum}{unit}")
    if maximum is not None and value > maximum:
        raise SettingError(f"{name}={value} is too large: at most {maximum}{unit}")
    return int(value)


def optional_whole_number(name: str, value: Any, minimum: int | None = None) -> int | None:
    """None (the setting is off: `name=null`) or a whole number of at least `minimum`."""
    return None if value is None else whole_number(name, value, minimum)


def image_size(name: str, value: Any) -> int:
    """A square input size in pixels that every detector accepts."""
    return whole_number(name, value, MIN_IMAGE_SIZE, " px")


def number_in(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A real number in the interval from `low` to `high` (open at the ends asked for)."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SettingError(f"{name}={value} must be a number in {interval}")
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above or value != value:  # the last one: NaN
        raise SettingError(f"{name}={value} must lie in {interval}")
    return float(value)


def positive_number(name: str, value: Any) -> float:
    """A real number > 0 (e.g. a tolerance)."""
    return number_in(name, value, 0.0, float("inf"), low_open=True, high_open=True)


def one_of(name: str, value: Any, choices: tuple[Any, ...] | list[Any]) -> Any:
    """`value` if it is one of `choices`."""
    if value not in choices:
        raise SettingError(f"{name}={value} is not one of {', '.join(map(str, choices))}")
    return value


def flag(name: str, value: Any) -> bool:
    """A switch: `name=true` or `name=false` (a string like `yes` would count as true)."""
    if not isinstance(value, bool):
        raise SettingError(f"{name}={value} must be true or false")
    return value


def device(name: str, value: Any, auto: bool = False) -> str:
    """A torch device that exists here: cpu, cuda or cuda:<index> (and auto, if `auto`: the GPU
    if one is visible, else the CPU)."""
    choices = ["cpu", "cuda", "cuda:<index>", *(["auto"] if auto else [])]
    if auto and value == "auto":
        return value
    if not (isinstance(value, str) and re.fullmatch(r"cpu|cuda(:\d+)?", value)):
        raise SettingError(f"{name}={value} is not one of {', '.join(choices)}")
    if value.startswith("cuda"):
        import torch

        visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not visible:
            instead = f"{name}=cpu" + (f" or {name}=auto" if auto else "")
            raise SettingError(
                f"{name}={value} needs a CUDA GPU and none is visible: use {instead}"
            )
        index = int(value.partition(":")[2] or 0)
        if index >= visible:
            names = ", ".join(f"cuda:{i}" for i in range(visible))
            raise SettingError(f"{name}={value} is not a visible GPU: choose from {names}")
    return value


def group(
    prefix: str, values: Mapping[str, Any], checks: Mapping[str, Callable[[str, Any], Any]]
) -> None:
    """Check each setting of a group (`extract.frames`, ...) with its check in `checks`; one
    that has no check is no setting of the group (a `+extract.typo=1` on the command line)."""
    for key, value in values.items():
        if key not in checks:
            raise SettingError(
                f"{prefix}{key} is not a setting: choose from "
                + ", ".join(f"{prefix}{known}" for known in checks)
            )
        checks[key](f"{prefix}{key}", value)


def split_fractions(prefix: str, val_fraction: Any, test_fraction: Any) -> tuple[float, float]:
    """The val and test shares of a split by source id; the rest trains.

    Validation needs some data (it picks the best checkpoint); test may be empty.
    """
    if val_fraction == 0 and not isinstance(val_fraction, bool):
        raise SettingError(
            f"{prefix}val_fraction={val_fraction} leaves no validation data: it must lie in (0, 1)"
        )
    val = number_in(f"{prefix}val_fraction", val_fraction, 0.0, 1.0, low_open=True, high_open=True)
    test = number_in(f"{prefix}test_fraction", test_fraction, 0.0, 1.0, high_open=True)
    if val + test >= 1:
        raise SettingError(
            f"{prefix}val_fraction + {prefix}test_fraction = {val + test:g} must be below 1: "
            "the rest is the training split"
        )
    return val, test


def as_list(
    value: Any, name: str = "ckpt_path", what: str = "checkpoint", example: str = "[a.ckpt,b.ckpt]"
) -> list[str]:
    """One value or a list of them (as Hydra passes `name=[a,b]`) -> a non-empty list of str."""
    if isinstance(value, ListConfig):
        value = OmegaConf.to_container(value)
    items = [value] if isinstance(value, str) else list(value or [])
    if not items:
        raise SettingError(f"{name} is empty: give one {what} or a list {example}")
    return [str(item) for item in items]
