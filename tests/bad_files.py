"""Files that are not checkpoints, for the tests of safe loading: each builder writes one kind.

`malicious` is a real attack: its pickle calls `os.system` to create `marker`, so a test proves
the file never ran by checking that the marker does not exist.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch


class RunsCommand:
    """Unpickling this calls `os.system(command)` (pickle stores `posix.system`, not the class)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def malicious(path: Path, marker: Path) -> Path:
    """A torch.save checkpoint whose pickle would run `touch marker`."""
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": RunsCommand(f"touch {marker}")}, path)
    return path


def malicious_plain_pickle(path: Path, marker: Path) -> Path:
    """The same attack as a bare pickle (protocol 5), not torch's zip format."""
    path.write_bytes(pickle.dumps({"x": RunsCommand(f"touch {marker}")}, protocol=5))
    return path


def malicious_legacy(path: Path, marker: Path) -> Path:
    """The same attack in torch's pre-1.6 (non-zip) format."""
    torch.save({"x": RunsCommand(f"touch {marker}")}, path, _use_new_zipfile_serialization=False)
    return path


def empty(path: Path, marker: Path) -> Path:
    path.write_bytes(b"")
    return path


def random_bytes(path: Path, marker: Path) -> Path:
    path.write_bytes(bytes(range(7, 256)) * 16)  # fixed: starts 07 08 09 ..., never a pickle
    return path


def text(path: Path, marker: Path) -> Path:
    path.write_text("this is a text file, not weights\n")
    return path


def truncated(path: Path, marker: Path) -> Path:
    """The first half of a real checkpoint (an interrupted download)."""
    torch.save({"w": torch.zeros(64)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def plain_zip(path: Path, marker: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not a model")
    return path


BUILDERS: dict[str, Callable[[Path, Path], Path]] = {
    "malicious": malicious,
    "malicious_plain_pickle": malicious_plain_pickle,
    "malicious_legacy": malicious_legacy,
    "empty": empty,
    "random_bytes": random_bytes,
    "text": text,
    "truncated": truncated,
    "plain_zip": plain_zip,
}
