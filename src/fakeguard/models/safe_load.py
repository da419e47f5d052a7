"""The one way fakeguard reads a checkpoint or weight file from disk (docs/design.md, decision 5).

`load_torch_file` is `torch.load(..., weights_only=True)`; `load_safetensors_file` is
safetensors. Neither ever runs code from the file. When a file cannot be read, the error is an
`UnreadableCheckpointError` (a `UserError`) that says what the file is instead: empty, text,
another format, a damaged archive, or a pickle that would import code (`UnsafeCheckpointError`,
naming what it would import). Torch's own message is not passed on: it advises retrying with
`weights_only=False`, which is exactly what must never be done with such a file.
"""

from __future__ import annotations

import codecs
import io
import pickletools
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from fakeguard.errors import MissingFileError, UserError

HEAD_BYTES = 64  # how much of a file is read to tell what it is
# What `_kind` says of the files torch should have read.
PYTORCH_ZIP = "a PyTorch/zip file"
DAMAGED_ZIP = "a damaged zip archive"
PICKLE = "a Python pickle"
# Python 2 names that protocol-2 pickles use for builtins (pickle's `fix_imports`).
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}
# Opcodes that push a string, which STACK_GLOBAL then takes as module and name.
_STRING_OPS = {
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
    "UNICODE",
    "BINUNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE8",
}


class UnreadableCheckpointError(UserError, ValueError):
    """A checkpoint or weight file that cannot be loaded: not one at all, damaged, or unsafe."""


class UnsafeCheckpointError(UnreadableCheckpointError):
    """A pickle that would import code (anything beyond tensors and plain containers)."""


def load_torch_file(path: str | Path, what: str = "checkpoint") -> Any:
    """`torch.load(path, weights_only=True)` on the CPU, or one clear error about the file.

    `what` names the file in messages ("checkpoint", "weights file").
    """
    path = Path(path)
    head = _head(path, what)
    try:
        with warnings.catch_warnings():
            # A pickle protocol other than torch's own: harmless, and a second stderr line.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise
    except OSError as error:  # the disk, not the file's content
        raise UnreadableCheckpointError(f"cannot read {what} {path}: {error}") from None
    except Exception as error:  # whatever else torch fails on, the file is the problem
        raise _explain(path, what, head, error) from None


def load_safetensors_file(path: str | Path, what: str = "weights file") -> dict[str, torch.Tensor]:
    """A safetensors file's tensors on the CPU, or one clear error about the file."""
    from safetensors.torch import load_file

    path = Path(path)
    head = _head(path, what)
    try:
        return load_file(str(path))
    except Exception as error:
        kind = _kind(path, head)
        if kind == "a safetensors file":
            detail = f"damaged safetensors file: {_first_line(str(error))}"
        else:
            detail = f"not a safetensors file: {kind}"
        raise UnreadableCheckpointError(f"{path} is not a {what} ({detail})") from None


def _head(path: Path, what: str) -> bytes:
    """The first bytes of `path`; a missing, unreadable or empty file is an error here."""
    if not path.is_file():
        raise MissingFileError(f"{what} not found: {path}")
    try:
        with path.open("rb") as file:
            head = file.read(HEAD_BYTES)
    except OSError as error:
        raise UnreadableCheckpointError(f"cannot read {what} {path}: {error.strerror}") from None
    if not head:
        raise UnreadableCheckpointError(f"{path} is not a {what} (empty file)")
    return head


def _explain(path: Path, what: str, head: bytes, error: Exception) -> UnreadableCheckpointError:
    """Why torch could not load `path`, in the user's terms."""
    unsafe = unsafe_globals(path) or _blocked_global(str(error))
    if unsafe:
        more = f" and {len(unsafe) - 3} more" if len(unsafe) > 3 else ""
        return UnsafeCheckpointError(
            f"{path} is unsafe: loading it would import {', '.join(unsafe[:3])}{more}; "
            f"fakeguard never loads code from {what}s"
        )
    kind = _kind(path, head)
    if kind == PYTORCH_ZIP:
        detail = f"damaged PyTorch file: {_torch_reason(error)}"
    elif kind == DAMAGED_ZIP:
        detail = "damaged zip file: truncated or corrupt"
    elif kind == PICKLE:
        detail = f"a Python pickle but not a PyTorch file, or damaged: {_torch_reason(error)}"
    else:
        detail = f"not a PyTorch/zip file: {kind}"
    return UnreadableCheckpointError(f"{path} is not a {what} ({detail})")


def _kind(path: Path, head: bytes) -> str:
    """What a file looks like from its first bytes (and, for a zip, its member names)."""
    if head.startswith(b"PK\x03\x04"):
        if not zipfile.is_zipfile(path):
            return DAMAGED_ZIP
        with zipfile.ZipFile(path) as archive:
            if any(name.endswith("data.pkl") for name in archive.namelist()):
                return PYTORCH_ZIP
        return "a zip archive without PyTorch data"
    if head[:1] == b"\x80":  # pickle protocol 2 or later, as torch's legacy format starts
        return PICKLE
    if len(head) > 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 1:
        return "a safetensors file"
    if head[:1] == b"\x08" and (b"pytorch" in head or b"onnx" in head):
        return "an ONNX model"
    try:  # incremental: a character cut at the end of `head` is not an error
        text = codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        text = ""
    if text and all(c.isprintable() or c in "\t\r\n" for c in text):
        snippet = text.strip().splitlines()[0][:30] if text.strip() else ""
        return f"text starting {snippet!r}"
    return f"binary data starting {head[:8].hex(' ')}"


def unsafe_globals(path: str | Path) -> list[str]:
    """The globals a pickled file would import beyond what weights-only loading allows, read
    from its opcodes without executing anything (`pickletools`); [] when none or unreadable."""
    path = Path(path)
    streams: list[bytes] = []
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                streams = [
                    archive.read(name) for name in archive.namelist() if name.endswith(".pkl")
                ]
        else:
            streams = [path.read_bytes()]
    except (OSError, zipfile.BadZipFile):
        return []
    allowed = _allowed_globals()
    found: list[str] = []
    for data in streams:
        for name in _pickle_globals(data):
            if name not in allowed and not name.startswith("torch.") and name not in found:
                found.append(name)
    return found


def _pickle_globals(data: bytes, max_pickles: int = 8) -> list[str]:
    """Every `module.name` the pickle(s) at the start of `data` import (GLOBAL, INST and
    STACK_GLOBAL). Torch's legacy format is several pickles in a row, then raw bytes."""
    stream = io.BytesIO(data)
    names: list[str] = []
    for _ in range(max_pickles):
        memo: dict[Any, Any] = {}
        recent: list[Any] = []  # what recent opcodes pushed: enough to see STACK_GLOBAL's args
        try:
            for opcode, arg, _ in pickletools.genops(stream):
                op = opcode.name
                if op in ("GLOBAL", "INST"):
                    module, _, name = str(arg).partition(" ")
                    names.append(f"{_PY2_MODULES.get(module, module)}.{name}")
                    recent.append(None)
                elif op == "STACK_GLOBAL":
                    module, name = recent[-2:] if len(recent) >= 2 else [None, None]
                    if isinstance(module, str) and isinstance(name, str):
                        names.append(f"{_PY2_MODULES.get(module, module)}.{name}")
                    else:
                        names.append("an unnamed global")
                    recent.append(None)
                elif op == "MEMOIZE":
                    memo[len(memo)] = recent[-1] if recent else None
                elif op in ("PUT", "BINPUT", "LONG_BINPUT"):
                    memo[arg] = recent[-1] if recent else None
                elif op in ("GET", "BINGET", "LONG_BINGET"):
                    recent.append(memo.get(arg))
                elif op in _STRING_OPS:
                    recent.append(arg if isinstance(arg, str) else None)
                elif opcode.stack_after:
                    recent.append(None)
        except Exception:  # not (or no longer) a pickle: the rest is data
            break
        if stream.tell() >= len(data):
            break
    return names


def _allowed_globals() -> set[str]:
    """What torch's weights-only unpickler accepts (private API: an empty set if it moves)."""
    try:
        from torch import _weights_only_unpickler

        allowed = set(_weights_only_unpickler._get_allowed_globals())
    except Exception:  # pragma: no cover - depends on the torch version
        allowed = set()
    for item in torch.serialization.get_safe_globals():
        obj = item[0] if isinstance(item, tuple) else item
        allowed.add(f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}")
    return allowed | {"collections.OrderedDict", "builtins.set", "_codecs.encode"}


def _blocked_global(message: str) -> list[str]:
    """The global torch's weights-only error names ("... GLOBAL posix.system ..."), if any."""
    match = re.search(r"GLOBAL ([\w.]+)", message)
    return [match.group(1)] if match else []


def _torch_reason(error: Exception) -> str:
    """The gist of torch's error, without its advice to load with `weights_only=False`."""
    text = str(error)
    match = re.search(r"WeightsUnpickler error:\s*(.+)", text, re.DOTALL)
    if match:
        text = match.group(1)
    reason = _first_line(text)
    reason = re.sub(r"^PytorchStreamReader failed reading zip archive: ", "", reason)
    reason = reason.split(". ")[0].rstrip(".")
    if not reason or "weights_only" in reason:
        return type(error).__name__
    return reason


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
