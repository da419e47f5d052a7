"""The LightningModule that trains a detector, on clean crops or against an `Adversary`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC, BinaryAveragePrecision

from fakeguard.attacks.unet import frequency_profile
from fakeguard.errors import UserError
from fakeguard.models.checkpoint import BAD_STEPS_KEY, check_compatible, write_specs
from fakeguard.models.detectors import Detector
from fakeguard.training.adversary import Adversary
from fakeguard.training.losses import detection_loss

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]
STAGES = ("train", "val", "test")


class NonFiniteLossError(UserError, FloatingPointError):
    """Training produced NaN/inf losses for too many consecutive steps."""


class DetectorModule(LightningModule):
    """BCE training of a `Detector`, with AUROC / accuracy / AP per stage.

    `optimizer` and `scheduler` are partials from the config (`_partial_: true`).
    `trainable_blocks` freezes the backbone except its last N groups (None: train all).
    With an `adversary`, each training step is manual (see `adversarial_step`).
    A step whose loss is NaN/inf is skipped and counted (`train/skipped_steps`); after
    `max_bad_steps` in a row, training stops with a clear error.
    """

    def __init__(
        self,
        net: Detector,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        pos_weight: float | None = None,
        balanced_loss: bool = False,
        trainable_blocks: int | None = None,
        adversary: Adversary | None = None,
        gradient_clip_val: float | None = None,
        max_bad_steps: int = 20,
    ) -> None:
        super().__init__()
        self.net = net
        self.adversary = adversary
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.pos_weight = pos_weight
        self.balanced_loss = balanced_loss
        self.gradient_clip_val = gradient_clip_val
        self.max_bad_steps = max_bad_steps
        self.bad_steps_in_row = 0
        self.skipped_steps = 0
        # Several losses and two optimizers per batch: Lightning's loop cannot express that.
        self.automatic_optimization = adversary is None
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

    def _update_metrics(self, stage: str, logits: torch.Tensor, labels: torch.Tensor) -> None:
        metrics = getattr(self, f"{stage}_metrics")
        metrics.update(torch.sigmoid(logits.detach().float()), labels.long())
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=len(labels))

    def _log_epoch_mean(self, name: str, value: torch.Tensor, batch_size: int) -> None:
        """Log an epoch mean. sync_dist: the mean over every DDP process, not one shard's (a
        no-op on one process). The torchmetrics collections sync themselves."""
        self.log(name, value, on_epoch=True, on_step=False, batch_size=batch_size, sync_dist=True)

    def _shared_step(
        self, batch: dict[str, torch.Tensor], stage: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.net(batch["image"])
        loss = self.loss(logits, batch["label"])
        self._log_epoch_mean(f"{stage}/loss", loss, len(logits))
        self._update_metrics(stage, logits, batch["label"])
        return loss, logits

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> Any:
        if self.adversary is not None:
            return self.adversarial_step(batch)
        loss, _ = self._shared_step(batch, "train")
        return loss if self._finite(loss) else None  # None: Lightning skips the step

    def adversarial_step(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """1. clean loss; 2. loss on the pixel-space attack (PGD or FGSM; its term and logs
        keep the name `pgd`: the adversarial BCE, or with objective=trades the KL from the
        clean prediction), at the warm-up's eps; 3. `unet_steps` U-Net updates against the
        frozen detector; 4. detector update on the weighted clean + pixel-attack + fresh U-Net
        losses. With `attack.through`, the attacks go through the platform and their terms are
        the detector's loss on what it delivers. The run's first `warmup_batches()` batches
        only train the U-Net (its warm-up). `train/eps` logs the pixel attack's eps at the end
        of each epoch; `attacker/*` the U-Net's success, logit shift and frequency profile."""
        x, y = batch["image"], batch["label"]
        adversary = self.adversary
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        if self.attacker_warming_up():
            self._attacker_update(optimizers[1], x, y)
            return None
        logits = self.net(x)
        losses = {"clean": self.loss(logits, y)}
        if adversary.attack is not None:
            scale = self.warmup_scale()
            losses["pgd"] = adversary.pixel_term(self.net, x, y, logits, self.loss, scale)
            eps = adversary.attack.eps * scale
            self.log("train/eps", eps, on_step=False, on_epoch=True, reduce_fx="max")
        if adversary.unet is not None:
            self._attacker_update(optimizers[1], x, y)
            losses["unet"], unet_logits, delta = adversary.unet_term(self.net, x, y, self.loss)
            self._log_attacker_effect(logits, unet_logits, delta, y)
        loss = sum(adversary.loss_weights[k] * v for k, v in losses.items())
        for name, value in losses.items():
            self._log_epoch_mean(f"train/loss_{name}", value, len(y))
        self._log_epoch_mean("train/loss", loss, len(y))
        self._update_metrics("train", logits, y)
        if self._finite(loss):
            self._step(optimizers[0], loss)
        return loss.detach()

    def attacker_warming_up(self) -> bool:
        """Whether this batch is one of the run's first, which train the U-Net only: from the
        loops' batch count, so a resumed run does not warm up again."""
        adversary = self.adversary
        if adversary is None or adversary.unet is None:
            return False
        return self.trainer.fit_loop.total_batch_idx < adversary.warmup_batches()

    def warmup_scale(self) -> float:
        """The share of eps the pixel attack uses in this training batch (1 without warm-up):
        from the loops' batch count, which a resumed run restores."""
        trainer = self.trainer
        batches = trainer.fit_loop.total_batch_idx
        return self.adversary.warmup_scale(batches, trainer.num_training_batches)

    def _attacker_update(self, optimizer: Any, x: torch.Tensor, y: torch.Tensor) -> None:
        """The U-Net's updates on this batch, each through Lightning (clipping, precision);
        their loss parts logged as epoch means (`attacker/success`, `attacker/bce`, ...)."""

        def step(loss: torch.Tensor) -> None:
            if self._finite(loss):
                self._step(optimizer, loss)

        records = self.adversary.update_unet(self.net, x, y, step)
        for name in records[0]:
            mean = sum(r[name] for r in records) / len(records)
            self._log_epoch_mean(f"attacker/{name}", mean, len(y))

    def _log_attacker_effect(
        self, clean: torch.Tensor, attacked: torch.Tensor, delta: torch.Tensor, y: torch.Tensor
    ) -> None:
        """`attacker/logit_shift`: how far the U-Net (and the platform) move the detector's
        logit towards the wrong class; `attacker/freq_*`: where its perturbation's energy is."""
        toward_wrong = (1 - 2 * y.float()) * (attacked.detach() - clean.detach()).float()
        self._log_epoch_mean("attacker/logit_shift", toward_wrong.mean(), len(y))
        for band, share in frequency_profile(delta).items():
            self._log_epoch_mean(f"attacker/freq_{band}", share, len(y))

    def _step(self, optimizer: Any, loss: torch.Tensor) -> None:
        """One manual update, clipped through Lightning (so mixed precision unscales first)."""
        optimizer.zero_grad()
        self.manual_backward(loss)
        if self.gradient_clip_val:
            self.clip_gradients(optimizer, self.gradient_clip_val, "norm")
        optimizer.step()

    def _finite(self, loss: torch.Tensor) -> bool:
        if torch.isfinite(loss).all():
            self.bad_steps_in_row = 0
            return True
        self.skipped_steps += 1
        self.bad_steps_in_row += 1
        self.log("train/skipped_steps", float(self.skipped_steps), on_step=True, on_epoch=False)
        if self.bad_steps_in_row >= self.max_bad_steps:
            raise NonFiniteLossError(
                f"the training loss was NaN/inf for {self.bad_steps_in_row} steps in a row "
                f"({self.skipped_steps} skipped in all); lower the learning rate, set "
                "model.gradient_clip_val, or use trainer.precision=bf16-mixed instead of 16-mixed"
            )
        return False

    def on_train_epoch_end(self) -> None:
        if self.automatic_optimization:
            return
        # Manual optimization: Lightning leaves the schedulers to us.
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(self.trainer.callback_metrics["val/auc"])
            elif scheduler is not None:
                scheduler.step()

    def configure_gradient_clipping(
        self, optimizer: Any, gradient_clip_val: Any = None, gradient_clip_algorithm: Any = None
    ) -> None:
        # One setting for both paths: the module's value unless the Trainer sets its own.
        value = gradient_clip_val or self.gradient_clip_val
        if value:
            self.clip_gradients(optimizer, value, gradient_clip_algorithm or "norm")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, Any]:
        """Returns each crop's P(fake), so callbacks (robustness) can reuse the clean pass."""
        _, logits = self._shared_step(batch, "val")
        return {"prob": torch.sigmoid(logits.detach().float()), "index": batch["index"]}

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            raise ValueError("DetectorModule needs an `optimizer` to train")
        params = [p for p in self.net.parameters() if p.requires_grad]
        detector = _optimizer_config(self.optimizer_factory(params), self.scheduler_factory)
        adversary = self.adversary
        if adversary is None or adversary.unet is None:
            return detector
        attacker = adversary.unet_optimizer(adversary.unet.parameters())
        return [detector, _optimizer_config(attacker, adversary.unet_scheduler)]

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The architectures travel with the weights, so evaluate/export need no model config.
        attacker = self.adversary.unet if self.adversary is not None else None
        write_specs(checkpoint, self.net, attacker)
        checkpoint[BAD_STEPS_KEY] = [self.skipped_steps, self.bad_steps_in_row]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_compatible(self, checkpoint.get("state_dict", {}), "the checkpoint")
        self.skipped_steps, self.bad_steps_in_row = checkpoint.get(BAD_STEPS_KEY, [0, 0])


def _optimizer_config(
    optimizer: torch.optim.Optimizer, scheduler_factory: SchedulerFactory | None
) -> dict[str, Any]:
    """Lightning's optimizer dict, with a per-epoch scheduler when one is configured."""
    config: dict[str, Any] = {"optimizer": optimizer}
    if scheduler_factory is not None:
        config["lr_scheduler"] = {
            "scheduler": scheduler_factory(optimizer),
            "interval": "epoch",
            "monitor": "val/auc",  # read only by ReduceLROnPlateau
        }
    return config
