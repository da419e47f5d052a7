"""What the `train.py` / `evaluate.py` wrappers share: user errors as one line, not a traceback."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from fakeguard.errors import UserError

T = TypeVar("T")
log = logging.getLogger("fakeguard")


def reports_user_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Turn a `UserError` into `error: <message>` on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except UserError as error:
            log.error("%s", error)
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapper
