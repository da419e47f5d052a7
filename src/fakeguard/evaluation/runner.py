"""`evaluate(cfg)`: score a checkpoint on a split of the configured data."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from fakeguard.data.datamodule import FaceDataModule
from fakeguard.evaluation.metrics import binary_metrics
from fakeguard.evaluation.report import print_metrics, write_json
from fakeguard.models.checkpoint import load_detector
from fakeguard.models.detectors import Detector
from fakeguard.training.module import Attack, DetectorModule

log = logging.getLogger(__name__)


def predict(
    detector: Detector,
    datamodule: FaceDataModule,
    split: str,
    trainer: L.Trainer,
    attack: Attack | None = None,
) -> pd.DataFrame:
    """One row per sample of `split`: index, source id, video id, label and P(fake).

    With `attack` (e.g. a `PGD`), every batch is attacked white-box before it is scored.
    """
    module = DetectorModule(detector)
    module.predict_attack = attack
    batches = trainer.predict(module, dataloaders=datamodule.dataloader(split))
    index = torch.cat([b["index"] for b in batches]).numpy()
    samples = datamodule.splits[split]
    return pd.DataFrame(
        {
            "index": index,
            "source_id": [samples[i].source_id for i in index],
            "video_id": [samples[i].video_id for i in index],
            "label": torch.cat([b["label"] for b in batches]).numpy().astype(int),
            "prob": torch.cat([b["prob"] for b in batches]).numpy(),
        }
    )


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Load `cfg.ckpt_path`, predict `cfg.split`, print and save metrics and predictions."""
    detector = load_detector(cfg.ckpt_path)
    image_size = cfg.get("image_size") or detector.spec["img_size"]
    datamodule: FaceDataModule = instantiate(cfg.data, image_size=image_size)
    trainer: L.Trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    predictions = predict(detector, datamodule, cfg.split, trainer)
    metrics = binary_metrics(predictions["label"].to_numpy(), predictions["prob"].to_numpy())

    out = Path(trainer.default_root_dir)
    out.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(out / "predictions.csv", index=False)
    write_json(out / "metrics.json", {**metrics, "split": cfg.split, "ckpt_path": cfg.ckpt_path})
    named = {f"{cfg.split}/{k}": v for k, v in metrics.items()}
    print_metrics("fakeguard evaluate", named, {"checkpoint": cfg.ckpt_path, "results": str(out)})
    return named
