"""RobustnessCallback: the validation set under the pinned suite tracks, every N epochs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from rich.console import Console
from rich.table import Table

from fakeguard.data.samples import FaceSample
from fakeguard.loggers import log_images, log_table
from fakeguard.robustness.degrade import DegradedSamples
from fakeguard.robustness.suite import SUITE_VERSION
from fakeguard.scoring.engine import Candidate, prediction_rows, score
from fakeguard.scoring.plots import roc_plot
from fakeguard.scoring.results import lookup, results_table
from fakeguard.scoring.samples import samples_to_score
from fakeguard.scoring.tracks import EvalTrack, per_epoch_tracks

log = logging.getLogger(__name__)
# the per-track metrics logged as val/<track>/<name> (evaluate.py's names)
LOGGED = ("auc", "acc", "ap", "log_loss", "brier", "sn34")
# The mean AUC over the callback's tracks (clean included): one robust figure to select
# checkpoints or hyper-parameters on (tracks=social: the mean of clean and social AUC).
ROBUST_AUC = "val/robust_auc"


class RobustnessCallback(L.Callback):
    """Scores the validation split (or a seeded subset of `max_samples`) under `tracks` after
    every `every_n_epochs`-th validation; logs `val/<track>/<metric>`, the AUC ratio to clean,
    the paired drop in P(correct) and `val/robust_auc` (mean AUC over the tracks), prints a
    table and sends it to the loggers. Degraded crops are cached in `cache_dir`, so later
    epochs only run the model. At the end of fitting, the last scores' ROC curves go to
    `<run>/plots/robustness_roc.png` and to the loggers that show images.

    Under DDP rank 0 alone scores the tracks and writes the cache; the other ranks receive the
    results, so every rank logs the same values (and can monitor them)."""

    def __init__(
        self,
        tracks: Sequence[str] = ("clean", "jpeg50", "social"),
        every_n_epochs: int = 1,
        max_samples: int | None = None,
        seed: int = 0,
        cache_dir: str | None = None,
        batch_size: int = 64,
    ) -> None:
        # Suite tracks only (attack tracks are evaluate.py's); unknown names fail at start.
        self.tracks = per_epoch_tracks(tracks)
        self.every_n_epochs = every_n_epochs
        self.max_samples = max_samples
        self.seed = seed
        self.batch_size = batch_size
        self.degraded = DegradedSamples(cache_dir)
        self.history: list[dict[str, dict[str, float]]] = []
        self.last_scores: pd.DataFrame | None = None  # track, label, prob of the last scoring

    def state_dict(self) -> dict[str, list]:
        """The scores so far travel in checkpoints: a resumed run continues the history."""
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, list]) -> None:
        self.history = list(state_dict.get("history", []))

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.clean_pass: dict[int, float] = {}

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        """Keep the validation loop's own P(fake) per sample: it is the clean track."""
        if isinstance(outputs, dict) and "prob" in outputs:
            probs = outputs["prob"].flatten().tolist()
            self.clean_pass.update(zip(outputs["index"].tolist(), probs, strict=True))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.tracks or trainer.sanity_checking:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        clean_pass = _gathered(self.clean_pass, trainer)  # each rank validated a shard
        results = self._score(trainer, pl_module, clean_pass) if trainer.is_global_zero else None
        results = trainer.strategy.broadcast(results, src=0)
        for name, metrics in results.items():
            for key, value in metrics.items():
                pl_module.log(f"val/{name}/{key}", value, on_epoch=True, sync_dist=True)
        if results:
            robust = float(np.mean([m["auc"] for m in results.values()]))
            pl_module.log(ROBUST_AUC, robust, on_epoch=True, sync_dist=True)
        self.history.append(results)
        if trainer.is_global_zero and results:
            self._print(trainer.current_epoch, results)
            table = pd.DataFrame(results).T.rename_axis("track").assign(epoch=trainer.current_epoch)
            log_table(trainer.loggers, "val/robustness", table, trainer.global_step)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or self.last_scores is None:
            return
        folder = Path(trainer.default_root_dir) / "plots"
        folder.mkdir(parents=True, exist_ok=True)
        # roc_plot draws one curve per "checkpoint": here, one per track.
        frame = self.last_scores.rename(columns={"track": "checkpoint"}).assign(track="val")
        path = roc_plot(frame, "val", folder / "robustness_roc.png")
        if path is not None:
            log_images(trainer.loggers, {"val/robustness_roc": path}, trainer.global_step)

    def _score(
        self, trainer: L.Trainer, pl_module: L.LightningModule, clean_pass: dict[int, float]
    ) -> dict[str, dict[str, float]]:
        samples, ids, _ = samples_to_score(
            trainer.datamodule.splits["val"], self.max_samples, self.seed
        )
        if not self.history:  # the same every epoch: say once how each track applies
            for name in self.tracks:
                log.info("track %s applied as %s", name, self.degraded.modes(name, samples))
        clean = [clean_pass.get(i) for i in ids]
        known = None if None in clean else np.array(clean, dtype=np.float64)
        return self.evaluate(pl_module.net, samples, trainer.datamodule.image_size, known)

    def evaluate(
        self,
        detector: torch.nn.Module,
        samples: Sequence[FaceSample],
        image_size: int,
        clean: np.ndarray | None = None,
    ) -> dict[str, dict[str, float]]:
        """Metrics per track, by the scoring engine evaluate.py uses; `clean` (P(fake) per
        sample, from the validation loop) saves the clean pass."""
        names = [n for n in dict.fromkeys(["clean", *self.tracks]) if n != "clean" or clean is None]
        candidate = Candidate("val", "", detector, input_size=image_size)
        tracks = [EvalTrack(name, suite=name) for name in names]
        scored = score([candidate], tracks, samples, self.degraded, self.batch_size).predictions
        if clean is not None:
            ids = range(len(samples))
            clean_rows = prediction_rows("val", "clean", samples, ids, clean)
            scored = pd.concat([scored, clean_rows], ignore_index=True)
        # Paired comparison: keep the samples every track could degrade.
        per_track = scored.groupby("track")["index"].apply(set) if len(scored) else []
        usable = set.intersection(*per_track) if len(per_track) else set()
        if len(usable) < len(samples):
            skipped = len(samples) - len(usable)
            log.warning("robustness suite: %d of %d samples skipped", skipped, len(samples))
        if not usable:
            return {}
        scored = scored[scored["index"].isin(usable)]
        self.last_scores = pd.concat(
            [scored.loc[scored["track"] == n, ["track", "label", "prob"]] for n in self.tracks]
        )
        found = lookup(results_table(scored))
        results = {}
        for name in self.tracks:
            metrics = {key: found[("val", name, "frame", key)] for key in LOGGED}
            clean_auc = found[("val", "clean", "frame", "auc")]
            ratio = metrics["auc"] / clean_auc if clean_auc else float("nan")
            drops = {k: found[("val", name, "frame", k)] for k in ("drop_mean", "drop_p95")}
            results[name] = metrics | {"auc_ratio": ratio} | drops
        return results

    def _print(self, epoch: int, results: dict[str, dict[str, float]]) -> None:
        table = Table(title=f"robustness suite {SUITE_VERSION}, epoch {epoch}")
        for column in ("track", "auc", "auc/clean", "acc", "sn34", "drop mean", "drop p95"):
            table.add_column(column, justify="right")
        for name, m in results.items():
            cells = [m["auc"], m["auc_ratio"], m["acc"], m["sn34"], m["drop_mean"], m["drop_p95"]]
            table.add_row(name, *(f"{v:.3f}" for v in cells))
        Console().print(table)


def _gathered(values: dict[int, float], trainer: L.Trainer) -> dict[int, float]:
    """The union of every rank's `values` (this rank's alone outside DDP)."""
    if trainer.world_size == 1 or not dist.is_available() or not dist.is_initialized():
        return values
    parts: list[dict[int, float]] = [{} for _ in range(trainer.world_size)]
    dist.all_gather_object(parts, values)
    return {k: v for part in parts for k, v in part.items()}
