"""Writing files so that nothing half-written is ever left under a final name, with the modes a
plain `open` gives; PNG crops and JSON results go through here."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np


def _read_umask() -> int:
    """The process umask, read without changing it: from /proc (Linux >= 4.7), else by the
    set-and-restore `os.umask` dance, done once at import, before any thread could create a file
    in between."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# What `open(path, "w")` would give a new file; mkstemp creates 0600, which would keep a
# prepared dataset from being shared with the rest of a group.
FILE_MODE = 0o666 & ~_read_umask()


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it into place, so
    a killed process never leaves a half-written file under the final name. The file gets the
    mode a plain `open(path, "w")` gives (0666 less the umask), not mkstemp's 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, FILE_MODE)
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_png(path: Path, rgb: np.ndarray) -> None:
    """Lossless, so the robustness suite stays the only compression fakeguard adds."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"PNG encoding failed for {path}")
    write_atomically(path, lambda tmp: tmp.write_bytes(data.tobytes()))


def write_json(path: str | Path, payload: Mapping) -> None:
    """JSON with NaN and inf written as null (at any depth), so every JSON reader accepts it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(_finite(payload), indent=2, sort_keys=True) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
