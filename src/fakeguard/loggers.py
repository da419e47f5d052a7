"""What every configured logger receives beyond Lightning's scalars: the resolved config, the
per-track robustness table, and plots where the logger can show images; plus a wandb logger
that stays offline unless going online is both asked for and possible."""

from __future__ import annotations

import logging
import netrc
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from fakeguard.errors import UserError

log = logging.getLogger(__name__)
WANDB_HOST = "api.wandb.ai"


def wandb_api_key_configured() -> bool:
    """An API key from WANDB_API_KEY or `wandb login` (which writes ~/.netrc)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(WANDB_HOST) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def wandb_offline(offline: bool | None) -> bool:
    """Offline unless asked online (`offline=false`, or WANDB_MODE=online with offline left
    null) and an API key is configured. Asked online without a key is an error: wandb would
    otherwise stop and prompt for a login."""
    mode = os.environ.get("WANDB_MODE", "").lower()
    wants_online = offline is False or (offline is None and mode == "online")
    if not wants_online:
        return True
    if not wandb_api_key_configured():
        raise UserError(
            "logger.wandb.offline=false (or WANDB_MODE=online) needs a wandb API key: run "
            "`wandb login` or set WANDB_API_KEY; or drop it to log offline"
        )
    return False


def wandb_logger(
    offline: bool | None = None,
    tags: Sequence[str] = (),
    init_timeout: float = 60.0,
    **kwargs: Any,
) -> WandbLogger:
    """Lightning's WandbLogger, offline by default (see `wandb_offline`); online, it gives up
    after `init_timeout` seconds instead of waiting on the network."""
    import wandb

    offline = wandb_offline(offline)
    settings = wandb.Settings(init_timeout=init_timeout, silent=True)
    return WandbLogger(offline=offline, tags=list(tags), settings=settings, **kwargs)


@rank_zero_only
def log_config(loggers: Iterable[Logger], cfg: DictConfig) -> None:
    """The run's resolved config as each logger's hyperparameters."""
    params = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(params)


@rank_zero_only
def log_table(loggers: Iterable[Logger], key: str, table: pd.DataFrame, step: int) -> None:
    """A table: a wandb Table, TensorBoard text, and rows appended to `<key>.csv` in the CSV
    logger's folder (one file across epochs, with the step)."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.log_table(key=key, dataframe=table.reset_index(), step=step)
        elif isinstance(logger, TensorBoardLogger):
            text = "    " + table.to_string(float_format="{:.4f}".format).replace("\n", "\n    ")
            logger.experiment.add_text(key, text, global_step=step)
        elif isinstance(logger, CSVLogger):
            path = Path(logger.log_dir) / f"{key.replace('/', '_')}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            rows = table.reset_index().assign(step=step)
            rows.to_csv(path, mode="a", header=not path.is_file(), index=False)


@rank_zero_only
def log_images(loggers: Iterable[Logger], images: Mapping[str, str | Path], step: int = 0) -> None:
    """PNG plots to the loggers that show images (wandb, TensorBoard); CSV has none, the
    files stay in the run folder."""
    for logger in loggers:
        for name, path in images.items():
            if isinstance(logger, WandbLogger):
                logger.log_image(key=name, images=[str(path)], step=step)
            elif isinstance(logger, TensorBoardLogger):
                pixels = np.asarray(Image.open(path).convert("RGB"))
                logger.experiment.add_image(name, pixels, step, dataformats="HWC")


@rank_zero_only
def log_evaluation(
    loggers: Iterable[Logger],
    cfg: DictConfig,
    metrics: Mapping[str, float],
    results: pd.DataFrame,
    images: Mapping[str, str | Path],
) -> None:
    """An evaluation run (evaluate.py) to `loggers`: its config, metrics, results table, plots."""
    loggers = list(loggers)
    log_config(loggers, cfg)
    for logger in loggers:
        logger.log_metrics(dict(metrics), step=0)
    log_table(loggers, "eval/results", results, step=0)
    log_images(loggers, images, step=0)
    for logger in loggers:
        logger.finalize("success")  # the CSV logger writes its metrics file here
