"""RobustnessCallback: the validation set under the pinned suite tracks, every N epochs, and
under a cheap PGD at the experiment's eps (the robust metrics a run can select checkpoints on)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from rich.console import Console
from rich.table import Table

from fakeguard import settings
from fakeguard.attacks.modes import eval_mode
from fakeguard.attacks.pgd import PGD, PGD_8_255
from fakeguard.attacks.registry import budget, in_255ths
from fakeguard.data.samples import FaceSample
from fakeguard.errors import SettingError
from fakeguard.loggers import log_images, log_table
from fakeguard.robustness.degrade import DegradedSamples
from fakeguard.robustness.suite import SUITE_VERSION
from fakeguard.scoring.engine import Candidate, prediction_rows, score
from fakeguard.scoring.plots import roc_plot
from fakeguard.scoring.results import lookup, results_table
from fakeguard.scoring.samples import samples_to_score
from fakeguard.scoring.tracks import THROUGH, EvalTrack, parse_track, per_epoch_tracks

log = logging.getLogger(__name__)
# the per-track metrics logged as val/<track>/<name> (evaluate.py's names)
LOGGED = ("auc", "acc", "ap", "log_loss", "brier", "sn34")
# The mean AUC over the callback's tracks (clean included): one robust figure to select
# checkpoints or hyper-parameters on (tracks=social: the mean of clean and social AUC).
ROBUST_AUC = "val/robust_auc"
# The PGD track (val/pgd/<metric>) and the selection blend of clean val/auc and val/pgd/auc.
PGD_NAME = "pgd"
SELECT = "val/select"
SELECT_TERMS = ("clean", "pgd")
# The config group this callback is built from: settings are named as the user types them.
PREFIX = "callbacks.robustness."


class RobustnessCallback(L.Callback):
    """Scores the validation split (or a seeded subset of `max_samples`) under `tracks` after
    every `every_n_epochs`-th validation; logs `val/<track>/<metric>`, the AUC ratio to clean,
    the paired drop in P(correct) and `val/robust_auc` (mean AUC over the tracks), prints a
    table and sends it to the loggers. Degraded crops are cached in `cache_dir`, so later
    epochs only run the model. At the end of fitting, the last scores' ROC curves go to
    `<run>/plots/robustness_roc.png` and to the loggers that show images.

    The PGD track: after every `attack_every_n_epochs`-th validation, L-inf PGD of
    `attack_steps` steps of 2.5 * eps / steps (Madry et al.'s rule) from a random start, at
    `attack_eps` (the experiment's `attack.eps`; 8/255 for clean training), attacks a seeded
    subset of `attack_samples` validation crops (the same crops and the same random starts
    every epoch; `null`: the whole split, 0: no PGD track). It logs `val/pgd/<metric>` (the
    suite tracks' metrics, ratio and drops against the same crops' clean pass) and
    `val/select` = the `select_weights` blend (normalised) of the module's clean `val/auc`
    and `val/pgd/auc`: ModelCheckpoint and EarlyStopping can monitor either. The PGD track
    does not join `val/robust_auc`, which stays the mean over the suite tracks (comparable
    with runs without it). With `attack_through` (the experiment's `attack.through`) the PGD
    goes through that platform's stand-in and, for a codec, the real codec follows (the
    `pgd:<codec>` track): a run hardened through a platform is selected on what it is
    hardened against. `attack_eot` is the EOT platform's settings for `eot`. Scoring keeps the
    global random generators as they were, and the attack runs the detector in eval mode and
    restores each module's flag.

    A monitored metric must be logged after every validation: a run whose ModelCheckpoint or
    EarlyStopping monitors a metric this callback logs only every N > 1 epochs (or not at
    all) is refused when fitting starts.

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
        attack_eps: float = PGD_8_255["eps"],
        attack_steps: int = 5,
        attack_samples: int | None = 256,
        attack_every_n_epochs: int = 1,
        select_weights: Mapping[str, float] | None = None,
        attack_through: str | None = None,
        attack_eot: Mapping[str, Any] | None = None,
    ) -> None:
        # Suite tracks only (attack tracks are evaluate.py's); unknown names fail at start.
        self.tracks = per_epoch_tracks(tracks)
        self.every_n_epochs = settings.whole_number(f"{PREFIX}every_n_epochs", every_n_epochs, 1)
        self.max_samples = max_samples
        self.seed = seed
        self.batch_size = batch_size
        self.degraded = DegradedSamples(cache_dir)
        self.history: list[dict[str, dict[str, float]]] = []
        self.last_scores: pd.DataFrame | None = None  # track, label, prob of the last scoring
        self.attack_samples = settings.optional_whole_number(
            f"{PREFIX}attack_samples", attack_samples, 0
        )
        self.attack_every_n_epochs = settings.whole_number(
            f"{PREFIX}attack_every_n_epochs", attack_every_n_epochs, 1
        )
        eps = settings.number_in(f"{PREFIX}attack_eps", attack_eps, 0, 1, low_open=True)
        steps = settings.whole_number(f"{PREFIX}attack_steps", attack_steps, 1)
        # None: no PGD track
        self.attack = None if self.attack_samples == 0 else PGD(eps, 2.5 * eps / steps, steps)
        # val/select is logged with the PGD track (a monitor on it without one is refused)
        self.select_weights = _select_weights(f"{PREFIX}select_weights", select_weights)
        self.pgd_track = pgd_track(attack_through)
        self.eot = dict(attack_eot) if attack_eot else None

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

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            self._check_monitors(trainer)

    def _check_monitors(self, trainer: L.Trainer) -> None:
        """Refuse a ModelCheckpoint / EarlyStopping that monitors a metric of this callback
        which some validation epochs would not log: Lightning would stop with an error when
        the key is missing, or compare a stale value of an earlier epoch."""
        for callback in trainer.callbacks:
            if not isinstance(callback, ModelCheckpoint | EarlyStopping):
                continue
            monitor = getattr(callback, "monitor", None) or ""
            who = f"{type(callback).__name__} monitors {monitor}"
            if monitor == SELECT or monitor.startswith("val/pgd/"):
                if self.attack is None:
                    raise SettingError(
                        f"{who}, and {PREFIX}attack_samples=0 turns the PGD track off"
                    )
                if self.attack_every_n_epochs > 1:
                    raise SettingError(
                        f"{who}, which {PREFIX}attack_every_n_epochs="
                        f"{self.attack_every_n_epochs} logs only every "
                        f"{self.attack_every_n_epochs} epochs: a monitored metric must be "
                        f"logged after every validation; set {PREFIX}attack_every_n_epochs=1"
                    )
            elif self._suite_logs(monitor) and self.every_n_epochs > 1:
                raise SettingError(
                    f"{who}, which {PREFIX}every_n_epochs={self.every_n_epochs} logs only "
                    f"every {self.every_n_epochs} epochs: a monitored metric must be logged "
                    f"after every validation; set {PREFIX}every_n_epochs=1"
                )

    def _suite_logs(self, monitor: str) -> bool:
        """Whether the suite tracks' scoring logs `monitor`."""
        names = (f"val/{name}/" for name in self.tracks)
        return bool(self.tracks) and (monitor == ROBUST_AUC or any(map(monitor.startswith, names)))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:  # Lightning drops what the sanity check logs
            return
        epoch = trainer.current_epoch + 1
        suite_due = bool(self.tracks) and epoch % self.every_n_epochs == 0
        pgd_due = self.attack is not None and epoch % self.attack_every_n_epochs == 0
        if not (suite_due or pgd_due):
            return
        clean_pass = _gathered(self.clean_pass, trainer)  # each rank validated a shard
        results: dict[str, dict[str, float]] = {}
        attacked: dict[str, dict[str, float]] = {}
        if trainer.is_global_zero:
            if suite_due:
                results = self._score(trainer, pl_module, clean_pass)
            if pgd_due:
                attacked = self._score_pgd(trainer, pl_module, clean_pass)
        results, attacked = trainer.strategy.broadcast((results, attacked), src=0)
        for name, metrics in {**results, **attacked}.items():
            for key, value in metrics.items():
                pl_module.log(f"val/{name}/{key}", value, on_epoch=True, sync_dist=True)
        if results:
            robust = float(np.mean([m["auc"] for m in results.values()]))
            pl_module.log(ROBUST_AUC, robust, on_epoch=True, sync_dist=True)
        select = None
        if pgd_due:
            select = self._select(trainer, attacked.get(PGD_NAME, {}))
            pl_module.log(SELECT, select, on_epoch=True, sync_dist=True)
        scores = {**results, **attacked}
        self.history.append(scores)
        if trainer.is_global_zero and scores:
            self._print(trainer.current_epoch, scores, select)
        if trainer.is_global_zero and results:  # the suite's table (the PGD track: its metrics)
            table = pd.DataFrame(results).T.rename_axis("track").assign(epoch=trainer.current_epoch)
            log_table(trainer.loggers, "val/robustness", table, trainer.global_step)

    def _select(self, trainer: L.Trainer, pgd: Mapping[str, float]) -> float:
        """val/select: the weighted blend of this epoch's clean val/auc (the module's, over the
        whole validation split) and val/pgd/auc (NaN if a term is missing)."""
        clean = trainer.callback_metrics.get("val/auc")  # this epoch's: computed on access
        values = {
            "clean": float(clean) if clean is not None else float("nan"),
            "pgd": pgd.get("auc", float("nan")),
        }
        return float(sum(w * values[t] for t, w in self.select_weights.items() if w))

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
        samples, known = _val_samples(trainer, clean_pass, self.max_samples, self.seed)
        if not self.history:  # the same every epoch: say once how each track applies
            for name in self.tracks:
                log.info("track %s applied as %s", name, self.degraded.modes(name, samples))
        return self.evaluate(pl_module.net, samples, trainer.datamodule.image_size, known)

    def _score_pgd(
        self, trainer: L.Trainer, pl_module: L.LightningModule, clean_pass: dict[int, float]
    ) -> dict[str, dict[str, float]]:
        """The PGD track on the seeded subset (the same crops and random starts every epoch),
        with the global random generators left as they were."""
        samples, known = _val_samples(trainer, clean_pass, self.attack_samples, self.seed)
        # eval mode (as in Lightning's validation) whoever calls, each module's flag restored
        with _kept_random_state(pl_module.device), eval_mode(pl_module.net):
            results, _ = self._metrics(
                pl_module.net, samples, trainer.datamodule.image_size, known, [self.pgd_track]
            )
        return results

    def evaluate(
        self,
        detector: torch.nn.Module,
        samples: Sequence[FaceSample],
        image_size: int,
        clean: np.ndarray | None = None,
    ) -> dict[str, dict[str, float]]:
        """Metrics per track, by the scoring engine evaluate.py uses; `clean` (P(fake) per
        sample, from the validation loop) saves the clean pass."""
        tracks = [EvalTrack(name, suite=name) for name in self.tracks]
        results, scored = self._metrics(detector, samples, image_size, clean, tracks)
        if scored is not None:
            self.last_scores = pd.concat(
                [scored.loc[scored["track"] == n, ["track", "label", "prob"]] for n in self.tracks]
            )
        return results

    def _metrics(
        self,
        detector: torch.nn.Module,
        samples: Sequence[FaceSample],
        image_size: int,
        clean: np.ndarray | None,
        tracks: Sequence[EvalTrack],
    ) -> tuple[dict[str, dict[str, float]], pd.DataFrame | None]:
        """Metrics of `tracks` (against the clean track on the same samples) and the scored
        rows; the PGD track attacks with this callback's PGD."""
        scored_tracks = [t for t in tracks if t.name != "clean" or clean is None]
        if clean is None and all(t.name != "clean" for t in tracks):
            scored_tracks.insert(0, EvalTrack("clean", suite="clean"))
        candidate = Candidate("val", "", detector, input_size=image_size)
        attacks = {PGD_NAME: self.attack} if self.attack is not None else None
        scored = score(
            [candidate],
            scored_tracks,
            samples,
            self.degraded,
            self.batch_size,
            self.seed,
            attacks=attacks,
            eot=self.eot,
        ).predictions
        if clean is not None:
            ids = range(len(samples))
            clean_rows = prediction_rows("val", "clean", samples, ids, clean)
            scored = pd.concat([scored, clean_rows], ignore_index=True)
        # Paired comparison: keep the samples every track could degrade.
        per_track = scored.groupby("track")["index"].apply(set) if len(scored) else []
        usable = set.intersection(*per_track) if len(per_track) else set()
        if len(usable) < len(samples):
            skipped = len(samples) - len(usable)
            names = ", ".join(t.name for t in tracks)
            log.warning("robustness (%s): %d of %d samples skipped", names, skipped, len(samples))
        if not usable:
            return {}, None
        scored = scored[scored["index"].isin(usable)]
        found = lookup(results_table(scored))
        results = {}
        for track in tracks:
            name = track.name
            metrics = {key: found[("val", name, "frame", key)] for key in LOGGED}
            clean_auc = found[("val", "clean", "frame", "auc")]
            ratio = metrics["auc"] / clean_auc if clean_auc else float("nan")
            drops = {k: found[("val", name, "frame", k)] for k in ("drop_mean", "drop_p95")}
            results[name] = metrics | {"auc_ratio": ratio} | drops
        return results, scored

    def _print(
        self, epoch: int, results: dict[str, dict[str, float]], select: float | None = None
    ) -> None:
        table = Table(title=f"robustness suite {SUITE_VERSION}, epoch {epoch}")
        for column in ("track", "auc", "auc/clean", "acc", "sn34", "drop mean", "drop p95"):
            table.add_column(column, justify="right")
        for name, m in results.items():
            cells = [m["auc"], m["auc_ratio"], m["acc"], m["sn34"], m["drop_mean"], m["drop_p95"]]
            table.add_row(name, *(f"{v:.3f}" for v in cells))
        if PGD_NAME in results and self.attack is not None:
            crops = "all" if self.attack_samples is None else f"up to {self.attack_samples}"
            weights = ", ".join(f"{t} {w:g}" for t, w in self.select_weights.items())
            table.caption = (
                f"pgd: {budget(self.attack.eps)}, {self.attack.steps} steps of "
                f"{in_255ths(self.attack.step_size)}/255, random start{self._through()}, "
                f"{crops} seeded validation crops; {SELECT} = {select:.3f} ({weights})"
            )
        Console().print(table)

    def _through(self) -> str:
        track = self.pgd_track
        if track.through is None:
            return ""
        after = f", then the real {track.after}" if track.after else ""
        return f", through the {track.through} stand-in{after}"


def pgd_track(through: str | None) -> EvalTrack:
    """The callback's PGD track, logged as `pgd`: on the model input, or through a platform
    (`pgd:<codec>`: through the codec's stand-in, then the real codec; `eot`: through the EOT
    distribution). A platform that does not exist is a SettingError naming the choices."""
    if through is None:
        return EvalTrack(PGD_NAME, attack=PGD_NAME)
    if through == "eot":
        return EvalTrack(PGD_NAME, attack=PGD_NAME, through="eot")
    try:
        parsed = parse_track(f"{PGD_NAME}{THROUGH}{through}")
    except ValueError:
        raise SettingError(
            f"{PREFIX}attack_through={through} is not eot or a suite codec"
        ) from None
    return EvalTrack(PGD_NAME, attack=PGD_NAME, through=parsed.through, after=parsed.after)


def _val_samples(
    trainer: L.Trainer, clean_pass: dict[int, float], max_samples: int | None, seed: int
) -> tuple[list[FaceSample], np.ndarray | None]:
    """A seeded subset of `max_samples` validation crops (all: None) and their P(fake) from
    the validation loop's clean pass (None when it lacks any of them)."""
    samples, ids, _ = samples_to_score(trainer.datamodule.split("val"), max_samples, seed)
    clean = [clean_pass.get(i) for i in ids]
    return samples, None if None in clean else np.array(clean, dtype=np.float64)


def _select_weights(name: str, weights: Mapping[str, float] | None) -> dict[str, float]:
    """The blend of clean and PGD AUC in val/select, normalised to sum to 1."""
    given = dict(weights) if weights is not None else {"clean": 0.5, "pgd": 0.5}
    for term in given:
        settings.one_of(f"{name} key {term!r}", term, SELECT_TERMS)
    chosen = {t: settings.number_in(f"{name}.{t}", given.get(t, 0.0), 0, 1e9) for t in SELECT_TERMS}
    total = sum(chosen.values())
    if total <= 0:
        raise SettingError(f"{name} must give clean or pgd a weight > 0")
    return {t: w / total for t, w in chosen.items()}


@contextmanager
def _kept_random_state(device: torch.device) -> Iterator[None]:
    """The global torch (CPU and `device`'s CUDA) and NumPy generators as they were on exit:
    the scoring engine seeds them for its random starts, and training must not notice."""
    devices = [device] if device.type == "cuda" else []
    state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        np.random.set_state(state)


def _gathered(values: dict[int, float], trainer: L.Trainer) -> dict[int, float]:
    """The union of every rank's `values` (this rank's alone outside DDP)."""
    if trainer.world_size == 1 or not dist.is_available() or not dist.is_initialized():
        return values
    parts: list[dict[int, float]] = [{} for _ in range(trainer.world_size)]
    dist.all_gather_object(parts, values)
    return {k: v for part in parts for k, v in part.items()}
