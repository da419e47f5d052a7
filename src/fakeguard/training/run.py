"""`train(cfg)`: what `python train.py` runs. Returns the metric a sweeper optimises."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import albumentations as A
import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from fakeguard import settings
from fakeguard.console import print_metrics
from fakeguard.data.datamodule import FaceDataModule
from fakeguard.errors import UserError
from fakeguard.files import write_json
from fakeguard.instantiate import instantiate_group
from fakeguard.loggers import log_config
from fakeguard.models.checkpoint import read_checkpoint
from fakeguard.training.data_record import DataRecord
from fakeguard.training.distributed import ddp_job
from fakeguard.training.resume import LastCheckpoint, RandomStates, TrainingInterrupted

log = logging.getLogger(__name__)
# Frozen BatchNorm layers are kept in eval mode on purpose (see Detector.train).
warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode")
# FaceDataModule.train_dataloader skips the batches a stopped epoch had done (resume_position).
warnings.filterwarnings("ignore", message=r".*checkpoint that ended before the epoch ended")
# Lightning's own use of a deprecated torch API; nothing a user can act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def check_selection_uses_validation(callbacks: list[Any]) -> None:
    """Checkpoints and early stopping must never be chosen on test data."""
    for callback in callbacks:
        if isinstance(callback, ModelCheckpoint | EarlyStopping):
            monitor = getattr(callback, "monitor", None)
            if monitor and not monitor.startswith("val/"):
                raise UserError(
                    f"{type(callback).__name__} monitors {monitor!r}; model selection must "
                    "use a validation metric (val/...)"
                )


def check_settings(cfg: DictConfig) -> None:
    """train.yaml's numeric settings, before any work (the data's are checked when the
    DataModule is built, the face-extraction ones by prepare)."""
    if cfg.data.get("from_run"):
        raise UserError(
            "data=run is evaluate.py's (the data a checkpoint was trained on); choose the "
            "training data with data=demo, data=folders or data=faces"
        )
    if cfg.get("seed") is not None:
        settings.whole_number("seed", cfg.seed, 0)
    settings.whole_number("trainer.max_epochs", cfg.trainer.max_epochs, 1)
    if "image_size" in cfg.data:  # the augmentation is built first and would fail unclearly
        settings.image_size("data.image_size", cfg.data.image_size)
    model = cfg.model
    if model.get("optimizer") and "lr" in model.optimizer:
        settings.positive_number("model.optimizer.lr", model.optimizer.lr)
    if model.get("trainable_blocks") is not None:
        settings.whole_number("model.trainable_blocks", model.trainable_blocks, 0)
    if model.get("gradient_clip_val") is not None:
        settings.positive_number("model.gradient_clip_val", model.gradient_clip_val)
    settings.whole_number("model.max_bad_steps", model.get("max_bad_steps", 1), 1)
    attack = cfg.get("attack") or {}
    if "eps" in attack:
        settings.number_in("attack.eps", attack.eps, 0, 1)
    if "step_size" in attack:
        settings.number_in("attack.step_size", attack.step_size, 0, 1, low_open=True)
    if "steps" in attack:
        settings.whole_number("attack.steps", attack.steps, 1)
    weights = (attack.get("adversary") or {}).get("loss_weights") or {}
    for term, weight in weights.items():
        settings.number_in(f"attack.adversary.loss_weights.{term}", weight, 0, float("inf"))


def build_adversary(cfg: DictConfig) -> Any:
    """The configured attackers (`attack=...`), or None for clean training."""
    adversary = (cfg.get("attack") or {}).get("adversary")
    if not adversary:
        return None
    if "_target_" not in adversary:
        # An experiment's tweaks (e.g. loss weights) left behind by `attack=none`.
        log.info("attack.adversary has settings but no attacker: training clean")
        return None
    return instantiate(adversary)


def build_datamodule(cfg: DictConfig) -> FaceDataModule:
    """The configured data (`data=...`) with its training augmentation (`augment=...`)."""
    augment = cfg.get("augment") or {}
    return instantiate(
        cfg.data,
        train_transform=instantiate(augment.get("pipeline")),
        self_blend=instantiate(augment.get("self_blend")),
    )


@rank_zero_only  # under DDP every process builds the data; one writes the files
def save_augmentation(datamodule: FaceDataModule, folder: Path) -> None:
    """Keep the run's exact training augmentation beside its checkpoints: the albumentations
    pipeline as `A.save` writes it (`A.load` rebuilds it) and the self-blending settings."""
    folder.mkdir(parents=True, exist_ok=True)
    A.save(datamodule.train_transform, str(folder / "augment_pipeline.json"), data_format="json")
    if datamodule.self_blend is not None:
        blend = datamodule.self_blend
        write_json(folder / "self_blend.json", {"p": blend.p, "blend": vars(blend.blend)})


def train(cfg: DictConfig, extra_callbacks: Sequence[L.Callback] = ()) -> float | None:
    """Fit the configured detector, test its best checkpoint, print and save a summary."""
    with ddp_job():  # in a multirun, each job's DDP processes are its own
        return _train(cfg, extra_callbacks)


def _train(cfg: DictConfig, extra_callbacks: Sequence[L.Callback]) -> float | None:
    start = time.perf_counter()
    check_settings(cfg)
    if cfg.get("ckpt_path"):
        read_checkpoint(cfg.ckpt_path)  # a missing, damaged or unsafe file: one clear error now
    # seed=null draws one; Lightning hands it to DDP's other processes (PL_GLOBAL_SEED), which
    # must share it: the training order, which they split between them, comes from it.
    L.seed_everything(cfg.get("seed"), workers=True)
    datamodule = build_datamodule(cfg)
    save_augmentation(datamodule, Path(cfg.paths.output_dir) / "checkpoints")
    module = instantiate(cfg.model, adversary=build_adversary(cfg))
    # RandomStates is not optional: without it a resumed run would draw other random starts.
    callbacks = [
        *instantiate_group(cfg.get("callbacks")),
        *extra_callbacks,
        RandomStates(),
        DataRecord(cfg.data),  # evaluate.py scores on the data the run trained on
    ]
    check_selection_uses_validation(callbacks)
    loggers = instantiate_group(cfg.get("logger"))
    log_config(loggers, cfg)
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    metrics: dict[str, float] = {}
    if cfg.get("train", True):
        _fit(trainer, module, datamodule, cfg.get("ckpt_path"))
        metrics.update(_as_floats(trainer.callback_metrics))
    best = _best_checkpoint(trainer)
    if best.get("score") is not None:
        metrics[f"{best['monitor']}_best"] = best["score"]
    if cfg.get("test", True):
        trainer.test(module, datamodule=datamodule, ckpt_path=best.get("path"), weights_only=True)
        metrics.update(_as_floats(trainer.callback_metrics))

    wall = time.perf_counter() - start
    notes = {"checkpoint": best.get("path") or "(none saved)", "wall time": f"{wall:.1f} s"}
    if best.get("monitor"):
        notes["best.ckpt selected on"] = f"{best['monitor']} ({best['mode']})"
    if trainer.is_global_zero:
        print_metrics("fakeguard train", _summary(metrics, best.get("monitor")), notes)
        write_json(Path(trainer.default_root_dir) / "summary.json", {**metrics, **notes})
    return metrics.get(cfg.optimized_metric) if cfg.get("optimized_metric") else None


def _fit(
    trainer: L.Trainer, module: L.LightningModule, datamodule: FaceDataModule, ckpt_path: Any
) -> None:
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SIGTERMException as stop:
        last = [c.last_path for c in trainer.checkpoint_callbacks if isinstance(c, LastCheckpoint)]
        where = f"continue with ckpt_path={last[0]}" if last else "no last.ckpt is configured"
        raise TrainingInterrupted(
            f"training stopped by SIGTERM in epoch {trainer.current_epoch} at step "
            f"{trainer.global_step}; {where}"
        ) from stop


def _best_checkpoint(trainer: L.Trainer) -> dict[str, Any]:
    """The checkpoint chosen on a monitored metric (not last.ckpt)."""
    # last.ckpt's callback monitors nothing
    chosen = [
        c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.monitor
    ]
    callback = chosen[0] if chosen else None
    if callback is None or not callback.best_model_path:
        return {}
    score = callback.best_model_score
    return {
        "path": callback.best_model_path,
        "monitor": callback.monitor,
        "mode": callback.mode,
        "score": None if score is None else float(score),
    }


def _as_floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()}


def _summary(metrics: dict[str, float], monitor: str | None = None) -> dict[str, float]:
    """The few numbers worth a glance at the end of a run, in a stable order: first the
    metric best.ckpt was selected on."""
    order = (
        *([f"{monitor}_best"] if monitor else []),
        "val/auc_best",
        "val/robust_auc_best",
        "val/auc",
        "val/robust_auc",
        "val/pgd/auc",
        "val/select",
        "val/acc",
        "val/loss",
        "test/auc",
        "test/acc",
        "test/ap",
    )
    return {k: metrics[k] for k in dict.fromkeys(order) if k in metrics}
