"""What the `train.py` / `evaluate.py` wrappers share: user errors as one line, not a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

from omegaconf.errors import MissingMandatoryValue

from fakeguard.errors import UserError

T = TypeVar("T")


def reports_user_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Turn a `UserError` or a missing `???` setting into one `error:` line, exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except UserError as error:
            fail(str(error))
        except MissingMandatoryValue as error:
            key = error.full_key
            fail(f"{key} must be set: add {key}=... to the command")

    return wrapper


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)
