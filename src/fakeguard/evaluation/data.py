"""Which data evaluate.py scores: by default the data the checkpoints were trained on.

`data=run` (evaluate.yaml's default) reads the data config stored with the first checkpoint;
its non-null keys (`data.test_root=<folder>`, `data.root=...`) override the stored ones. Any
other `data=` group is used as given, and the report warns where it differs from training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from fakeguard.errors import UserError
from fakeguard.models.checkpoint import data_record, read_data_config

# Loader settings that change how, not what, is scored.
HOW_KEYS = {"batch_size", "num_workers", "pin_memory", "image_size"}
# Settings worth naming when the report says which data it scored.
NAMED_KEYS = ("root", "manifest", "val_root", "test_root", "num_identities", "seed")


@dataclass
class EvaluationData:
    """The data config to build, where it came from, and warnings for the report."""

    config: dict[str, Any]
    source: str
    warnings: list[str] = field(default_factory=list)

    @property
    def description(self) -> str:
        """`FolderDataModule (root=/x, test_root=/y)`, as trained or given."""
        target = str(self.config.get("_target_", "?")).rsplit(".", 1)[-1]
        named = [f"{k}={self.config[k]}" for k in NAMED_KEYS if self.config.get(k) is not None]
        return (
            f"{target} ({', '.join(named)}), {self.source}" if named else f"{target}, {self.source}"
        )


def evaluation_data(data: DictConfig, paths: Sequence[str]) -> EvaluationData:
    """The data to score `paths` on (see the module docstring)."""
    stored = [read_data_config(p) for p in paths]
    given = data_record(data)  # resolved, paths absolute: comparable with the stored one
    warnings = [
        f"{path} was trained on other data than {paths[0]} ({changes}); all are scored on "
        "the data below."
        for path, other in zip(paths[1:], stored[1:], strict=True)
        if other is not None and stored[0] is not None
        for changes in [_differences(other, stored[0])]
        if changes
    ]
    if not given.get("from_run"):
        changes = _differences(stored[0], given) if stored[0] is not None else ""
        if changes:
            warnings.append(f"The data differs from what {paths[0]} was trained on: {changes}.")
        return EvaluationData(given, "as given by data=...", warnings)
    if stored[0] is None:
        raise UserError(
            f"{paths[0]} does not record the data it was trained on (it predates that, and "
            "its run folder has no .hydra/config.yaml): choose the data, e.g. data=folders "
            "data.root=<folder with real/ and fake/> or data=demo"
        )
    overrides = {k: v for k, v in given.items() if k != "from_run" and v is not None}
    source = "as trained"
    if overrides:
        source += " with " + ", ".join(f"{k}={v}" for k, v in overrides.items())
    return EvaluationData({**stored[0], **overrides}, source, warnings)


def _differences(trained: Mapping[str, Any], used: Mapping[str, Any]) -> str:
    """`key: trained -> used` for each setting (not a loader one) that differs."""
    keys = [
        k
        for k in dict.fromkeys([*trained, *used])
        if k not in HOW_KEYS and trained.get(k) != used.get(k)
    ]
    return "; ".join(f"{k}: {trained.get(k)!r} -> {used.get(k)!r}" for k in keys)
