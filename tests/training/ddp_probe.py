"""A callback the DDP test adds from the command line: each rank writes what it saw."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L

from fakeguard.training.callbacks import RobustnessCallback


class DDPProbe(L.Callback):
    """Writes `<out>/rank<r>.json`: the world size, the training sampler and its length, the
    synced validation metrics, and whether this rank scored the robustness tracks itself."""

    def __init__(self, out: str) -> None:
        self.out = Path(out)
        self.seen: dict = {}

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        sampler = trainer.train_dataloader.sampler
        self.seen.update(
            world_size=trainer.world_size,
            sampler=type(sampler).__name__,
            sampler_len=len(sampler),
            # this epoch's share of the order: dataset indices (keys are (index, seed) pairs)
            indices=[key[0] if isinstance(key, tuple | list) else key for key in sampler],
            train_len=len(trainer.datamodule.splits["train"]),
        )

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        robustness = next(c for c in trainer.callbacks if isinstance(c, RobustnessCallback))
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        self.seen.update(metrics=metrics, scored_here=robustness.last_scores is not None)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(self.seen))
