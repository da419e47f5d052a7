"""What the `train.py` / `evaluate.py` wrappers share: user errors as one line, not a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

from hydra.errors import InstantiationException
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
        except InstantiationException as error:
            # Hydra wraps what a `_target_`'s constructor raises (e.g. a DataModule's check of
            # its settings); a user's mistake inside is still one line.
            cause = user_error_cause(error)
            if cause is None:
                raise
            fail(str(cause))
        except MissingMandatoryValue as error:
            key = error.full_key
            fail(f"{key} must be set: add {key}=... to the command")

    return wrapper


def user_error_cause(error: BaseException) -> UserError | None:
    """The `UserError` that `error` was raised from (directly or further down), if any."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UserError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)
