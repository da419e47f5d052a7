"""The LightningModule that trains a detector on clean crops."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC, BinaryAveragePrecision

from fakeguard.models.checkpoint import SPEC_KEY, check_compatible, detector_state
from fakeguard.models.detectors import Detector
from fakeguard.training.losses import detection_loss

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]
STAGES = ("train", "val", "test")


class DetectorModule(LightningModule):
    """BCE training of a `Detector`, with AUROC / accuracy / AP per stage.

    `optimizer` and `scheduler` are partials from the config (`_partial_: true`).
    `trainable_blocks` freezes the backbone except its last N groups (None: train all).
    """

    def __init__(
        self,
        net: Detector,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        pos_weight: float | None = None,
        balanced_loss: bool = False,
        trainable_blocks: int | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.pos_weight = pos_weight
        self.balanced_loss = balanced_loss
        if trainable_blocks is not None:
            net.freeze_backbone(trainable_blocks)
        for stage in STAGES:
            metrics = MetricCollection(
                {"auc": BinaryAUROC(), "acc": BinaryAccuracy(), "ap": BinaryAveragePrecision()},
                prefix=f"{stage}/",
            )
            setattr(self, f"{stage}_metrics", metrics)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return detection_loss(logits, labels, self.pos_weight, self.balanced_loss)

    def _shared_step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        logits = self.net(batch["image"])
        loss = self.loss(logits, batch["label"])
        metrics = getattr(self, f"{stage}_metrics")
        metrics.update(torch.sigmoid(logits.float()), batch["label"].long())
        batch_size = len(logits)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=batch_size)
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=batch_size)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, Any]:
        prob = torch.sigmoid(self.net(batch["image"]).float())
        return {"prob": prob, "label": batch["label"], "index": batch["index"]}

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            raise ValueError("DetectorModule needs an `optimizer` to train")
        optimizer = self.optimizer_factory([p for p in self.parameters() if p.requires_grad])
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch", "monitor": "val/auc"},
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The architecture travels with the weights, so evaluate/export need no model config.
        checkpoint[SPEC_KEY] = dict(self.net.spec)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_compatible(self.net, detector_state(checkpoint), "the checkpoint")
