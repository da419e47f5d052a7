"""Shared fixtures: compose the real Hydra configs, pointed at a temporary run directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import compose_config
from hydra.core.global_hydra import GlobalHydra


@pytest.fixture
def make_cfg(tmp_path: Path):
    """make_cfg("train", [...overrides]) -> a composed config whose runs write to tmp_path."""

    def make(name: str, overrides: list[str] | None = None, run_dir: Path | None = None):
        return compose_config(name, overrides or [], run_dir or tmp_path)

    yield make
    GlobalHydra.instance().clear()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny nets run faster on one thread, and steadily when other jobs share the CPU
    (`pytestmark = pytest.mark.usefixtures("one_thread")`)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
