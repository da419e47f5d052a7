"""What makes `ckpt_path=<run>/checkpoints/last.ckpt` continue a run exactly: a last.ckpt written
at the end of every training epoch and on an interrupt, and the random generators inside it.

Lightning stores the weights, both optimizers, both schedulers, the loops' progress and each
callback's `state_dict`; it does not store the global random generators. Training order and
augmentation come from `(seed, epoch)` (`fakeguard.data.sampling`), so the generators left are
the ones the training step itself draws from: dropout, PGD's random start, the U-Net's noise.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from fakeguard.errors import UserError

log = logging.getLogger(__name__)
INTERRUPTS = (KeyboardInterrupt, SIGTERMException)


class TrainingInterrupted(UserError):
    """SIGTERM stopped training; last.ckpt holds where it stopped."""


class ContinuingCheckpoint(ModelCheckpoint):
    """Lightning's `ModelCheckpoint`, which goes on competing with the best epochs of the run
    it resumes: Lightning forgets their scores when the resumed run writes to another folder
    (each run gets its own), and would then call the first resumed epoch the best. The earlier
    run's files are never deleted (Lightning removes only files in its own folder)."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict({**state_dict, "dirpath": self.dirpath})


class LastCheckpoint(ContinuingCheckpoint):
    """`<dirpath>/last.ckpt` after every training epoch, whatever the monitored metric did,
    and when Ctrl-C or SIGTERM stops the run.

    It saves in `on_train_epoch_end`, after the module's hook, so the schedulers that
    manual optimization steps by hand are already stepped (Lightning steps its own before).
    Lightning's `save_last` writes only in a step where a top-k checkpoint is saved, so a
    run whose validation AUC stops improving would keep a stale last.ckpt.
    """

    def __init__(self, dirpath: str, filename: str = "last") -> None:
        super().__init__(
            dirpath=dirpath,
            filename=filename,
            monitor=None,
            save_top_k=1,
            save_on_train_epoch_end=True,
            save_on_exception=True,
            enable_version_counter=False,
        )

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        # An error may leave a half-applied step behind; only an interrupt is worth saving.
        if not isinstance(exception, INTERRUPTS):
            return
        super().on_exception(trainer, pl_module, exception)
        log.warning(
            "%s: %s holds epoch %d, step %d; continue with ckpt_path=%s",
            type(exception).__name__,
            self.last_path,
            trainer.current_epoch,
            trainer.global_step,
            self.last_path,
        )

    @property
    def last_path(self) -> str:
        return self.format_checkpoint_name({})


class RandomStates(L.Callback):
    """The global torch (CPU and CUDA), NumPy and Python generators, in every checkpoint.

    A resumed run restores them when its first training epoch (or, resumed mid-epoch, its first
    batch) starts, not when the checkpoint loads: the sanity check and the data setup in between
    draw nothing the uninterrupted run drew at that point.
    """

    def __init__(self) -> None:
        self.pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        keys, position, has_gauss, gauss = np.random.get_state()[1:]
        version, python, python_gauss = random.getstate()
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
            # plain ints and tensors: the checkpoint stays loadable with weights_only=True
            "numpy": [torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
            "python": [version, list(python), python_gauss],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.pending = state_dict

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.restore()

    def on_train_batch_start(self, *args: Any) -> None:
        self.restore()  # a run resumed mid-epoch (after an interrupt) starts no epoch

    def restore(self) -> None:
        """Put the generators of the loaded checkpoint back, once."""
        if self.pending is None:
            return
        state, self.pending = self.pending, None
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        keys, position, has_gauss, gauss = state["numpy"]
        np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), position, has_gauss, gauss))
        version, python, python_gauss = state["python"]
        random.setstate((version, tuple(python), python_gauss))
