"""last.ckpt is the last finished epoch, an interrupt saves where it stopped, and resuming from
it gives the run that was never stopped."""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from helpers import FLOAT32_NOISE, TINY_DEMO

from fakeguard.models.checkpoint import read_checkpoint
from fakeguard.training.resume import RandomStates, TrainingInterrupted
from fakeguard.training.run import train

SHORT = [*TINY_DEMO, "test=false", "callbacks.early_stopping.patience=100"]


class FlipTheHeadAfterEpoch0(L.Callback):
    """Makes validation AUC worse after epoch 0: the head's sign flips and learning stops."""

    def __init__(self) -> None:
        self.val_auc: list[float] = []

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.val_auc.append(float(trainer.callback_metrics["val/auc"]))

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == 1 and self.val_auc[-1] > 0.5:
            with torch.no_grad():
                pl_module.net.head[-1].weight.neg_()
                pl_module.net.head[-1].bias.neg_()
            for group in trainer.optimizers[0].param_groups:
                group["lr"] = 0.0


def test_last_ckpt_is_the_last_finished_epoch_when_val_auc_gets_worse(make_cfg, tmp_path):
    flip = FlipTheHeadAfterEpoch0()
    train(make_cfg("train", [*SHORT, "trainer.max_epochs=3"]), extra_callbacks=[flip])
    assert flip.val_auc[1] < flip.val_auc[0] and flip.val_auc[2] < flip.val_auc[0]
    folder = tmp_path / "checkpoints"
    assert read_checkpoint(folder / "best.ckpt")["epoch"] == 0
    last = read_checkpoint(folder / "last.ckpt")
    logged = pd.read_csv(next(tmp_path.rglob("metrics.csv")))
    assert last["epoch"] == 2 == logged["epoch"].max()
    assert last["global_step"] == logged["step"].max() + 1  # the step after the last logged


class SigtermDuringEpoch1(L.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.current_epoch == 1 and batch_idx == 0:
            os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_saves_last_ckpt_and_says_how_to_continue(make_cfg, tmp_path):
    cfg = make_cfg("train", [*SHORT, "trainer.max_epochs=3", "trainer.limit_train_batches=3"])
    with pytest.raises(TrainingInterrupted, match=r"SIGTERM in epoch 1 .*ckpt_path=.*last\.ckpt"):
        train(cfg, extra_callbacks=[SigtermDuringEpoch1()])
    last = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert (last["epoch"], last["global_step"]) == (1, 4)  # 3 steps of epoch 0, 1 of epoch 1


def test_a_run_stopped_mid_epoch_and_resumed_ends_where_the_straight_run_does(make_cfg, tmp_path):
    """The resumed run trains on the batches the stopped epoch had left, in the same order,
    with the dropout masks the straight run drew."""
    overrides = [*SHORT, "trainer.max_epochs=3", "trainer.limit_train_batches=3"]
    overrides += ["model.scheduler.T_max=3", "model.trainable_blocks=null"]
    train(make_cfg("train", overrides, tmp_path / "straight"))
    with pytest.raises(TrainingInterrupted):
        train(make_cfg("train", overrides, tmp_path / "stopped"), [SigtermDuringEpoch1()])
    last = tmp_path / "stopped/checkpoints/last.ckpt"
    train(make_cfg("train", [*overrides, f"ckpt_path={last}"], tmp_path / "resumed"))

    a = read_checkpoint(tmp_path / "straight/checkpoints/last.ckpt")
    b = read_checkpoint(tmp_path / "resumed/checkpoints/last.ckpt")
    assert (a["epoch"], a["global_step"]) == (b["epoch"], b["global_step"]) == (2, 9)
    for name, tensor in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][name], tensor, **FLOAT32_NOISE, msg=name)


def test_random_states_survive_a_safe_checkpoint_round_trip(tmp_path):
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    path = tmp_path / "states.pt"
    torch.save(RandomStates().state_dict(), path)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(5), np.random.rand(5), random.random()  # the run goes on drawing

    restored = RandomStates()
    restored.load_state_dict(torch.load(path, weights_only=True))
    restored.restore()
    torch.testing.assert_close(torch.rand(3), expected[0], rtol=0, atol=0)
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]


class RecordLearningRates(L.Callback):
    def __init__(self) -> None:
        self.rates: list[list[float]] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.rates.append([opt.param_groups[0]["lr"] for opt in trainer.optimizers])


def _run(make_cfg, run_dir: Path, epochs: int, ckpt: Path | None = None) -> RecordLearningRates:
    overrides = [
        *SHORT,
        "attack=pgd_unet",
        "attack.steps=2",
        # cosine schedules over the whole run, in both halves
        "model.scheduler.T_max=4",
        "attack.adversary.unet_scheduler.T_max=4",
        "model.trainable_blocks=null",
        "trainer.limit_train_batches=4",
        f"trainer.max_epochs={epochs}",
    ]
    if ckpt is not None:
        overrides.append(f"ckpt_path={ckpt}")
    rates = RecordLearningRates()
    train(make_cfg("train", overrides, run_dir), extra_callbacks=[rates])
    return rates


def _logged(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(next(run_dir.rglob("metrics.csv")))
    return frame.groupby("epoch").first()


@pytest.mark.slow
def test_two_epochs_and_a_resume_for_two_equal_four_epochs_straight(make_cfg, tmp_path):
    """Adversarial training (PGD random starts, the U-Net, two optimizers and schedulers,
    dropout, augmentation, the robustness callback) resumed half way."""
    straight = _run(make_cfg, tmp_path / "straight", 4)
    _run(make_cfg, tmp_path / "first", 2)
    resumed = _run(make_cfg, tmp_path / "resumed", 4, tmp_path / "first/checkpoints/last.ckpt")

    # The same operations in the same order, but on other buffers (see FLOAT32_NOISE).
    tolerance = FLOAT32_NOISE
    np.testing.assert_allclose(resumed.rates, straight.rates[2:], **tolerance)
    a = read_checkpoint(tmp_path / "straight/checkpoints/last.ckpt")
    b = read_checkpoint(tmp_path / "resumed/checkpoints/last.ckpt")
    assert (a["epoch"], a["global_step"]) == (b["epoch"], b["global_step"]) == (3, 32)
    last_lrs = [[s["_last_lr"] for s in c["lr_schedulers"]] for c in (a, b)]
    np.testing.assert_allclose(last_lrs[1], last_lrs[0], **tolerance)  # after the last step
    for name, tensor in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][name], tensor, **tolerance, msg=name)
    later = _logged(tmp_path / "straight").loc[[2, 3]]
    again = _logged(tmp_path / "resumed").loc[[2, 3]]
    weights = a["state_dict"].items()
    gap = max((b["state_dict"][k].float() - v.float()).abs().max().item() for k, v in weights)
    print(  # the figures behind the README's claim (pytest -s)
        f"\nstraight: val/auc {later['val/auc'].tolist()}, lr at epochs 2, 3 {straight.rates[2:]}"
        f"\nresumed:  val/auc {again['val/auc'].tolist()}, lr at epochs 2, 3 {resumed.rates}"
        f"\nmax |weight difference| {gap:.3g}"
    )
    for column in ["val/auc", "val/loss", "train/loss", "val/jpeg50/auc"]:
        np.testing.assert_allclose(again[column], later[column], **tolerance, err_msg=column)
