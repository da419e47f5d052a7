"""Hydra helpers shared by the entry points."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig


def instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Build every `_target_` entry of a config group such as `callbacks` or `logger`."""
    if not cfg:
        return []
    return [
        instantiate(node)
        for node in cfg.values()
        if isinstance(node, DictConfig) and "_target_" in node
    ]
