"""The real train path on CPU: both detectors, resuming, and safe model selection."""

from __future__ import annotations

import json
from pathlib import Path

import albumentations as A
import pytest
import torch
from helpers import CONFIGS, TINY_DEMO, make_manifest

from fakeguard.attacks.unet import UNetAttacker
from fakeguard.errors import UserError
from fakeguard.models.checkpoint import read_attacker, read_checkpoint
from fakeguard.models.weights import IncompatibleCheckpointError
from fakeguard.training.run import train

EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))
FEW_BATCHES = [
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_fast_dev_run_trains_every_experiment(make_cfg, experiment):
    cfg = make_cfg("train", [f"experiment={experiment}", *TINY_DEMO, "trainer.fast_dev_run=true"])
    train(cfg)


@pytest.mark.parametrize("attack", ["none", "pgd_unet"])
def test_bf16_mixed_precision_trains_on_cpu(make_cfg, attack):
    overrides = ["trainer.fast_dev_run=true", "trainer.precision=bf16-mixed", f"attack={attack}"]
    train(make_cfg("train", [*TINY_DEMO, *overrides]))


def train_one_epoch(make_cfg, run_dir: Path) -> Path:
    """Train the tiny demo for one short epoch; return its last.ckpt."""
    train(
        make_cfg("train", [*TINY_DEMO, *FEW_BATCHES, "trainer.max_epochs=1", "test=false"], run_dir)
    )
    return run_dir / "checkpoints" / "last.ckpt"


def test_resume_from_last_checkpoint_continues_at_the_next_epoch(make_cfg, tmp_path):
    last = train_one_epoch(make_cfg, tmp_path / "first")
    assert read_checkpoint(last)["epoch"] == 0

    resumed = make_cfg(
        "train",
        [*TINY_DEMO, *FEW_BATCHES, "trainer.max_epochs=2", "test=false", f"ckpt_path={last}"],
        tmp_path / "resumed",
    )
    train(resumed)
    state = read_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert state["epoch"] == 1 and state["global_step"] == 4  # one more epoch, not two


def test_model_selection_on_a_test_metric_is_refused(make_cfg):
    cfg = make_cfg("train", [*TINY_DEMO, "callbacks.model_checkpoint.monitor=test/auc"])
    with pytest.raises(UserError, match="validation metric"):
        train(cfg)


def test_train_returns_the_optimized_metric_and_writes_a_summary(make_cfg, tmp_path):
    cfg = make_cfg("train", [*TINY_DEMO, *FEW_BATCHES, "trainer.max_epochs=1"])
    value = train(cfg)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert value == pytest.approx(summary["val/auc_best"])
    assert Path(summary["checkpoint"]).name == "best.ckpt"
    assert "test/auc" in summary


def test_checkpoints_load_without_pickle(tmp_path, make_cfg):
    train_one_epoch(make_cfg, tmp_path)
    checkpoint = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=True)
    assert checkpoint["fakeguard_detector"]["arch"] == "Detector"


def test_adversarial_checkpoint_carries_the_attacker_and_stepped_schedulers(make_cfg, tmp_path):
    overrides = [*TINY_DEMO, *FEW_BATCHES, "attack=pgd_unet", "attack.steps=2", "test=false"]
    train(make_cfg("train", [*overrides, "trainer.max_epochs=2"]))
    checkpoint = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    spec, weights = read_attacker(checkpoint)
    UNetAttacker(**spec).load_state_dict(weights)
    # both optimizers' schedulers, stepped by hand once per epoch
    assert [s["last_epoch"] for s in checkpoint["lr_schedulers"]] == [2, 2]
    assert len(checkpoint["optimizer_states"]) == 2  # the detector's and the attacker's


@pytest.mark.parametrize(
    ("change", "named"),
    [("model=effvit", "pos_embed"), ("attack=pgd_unet", "adversary.unet")],
    ids=["another architecture", "an added attacker"],
)
def test_resuming_into_a_different_model_is_a_clear_error(make_cfg, tmp_path, change, named):
    last = train_one_epoch(make_cfg, tmp_path / "effnet")
    other = make_cfg(
        "train", [*TINY_DEMO, change, "test=false", f"ckpt_path={last}"], tmp_path / "other"
    )
    with pytest.raises(IncompatibleCheckpointError, match=f"does not fit this model.*{named}"):
        train(other)


def test_training_reads_a_prepared_manifest(make_cfg, tmp_path):
    manifest = make_manifest(tmp_path / "faces")
    overrides = [
        "data=faces",
        f"data.manifest={manifest}",
        "data.image_size=64",
        "data.num_workers=0",
    ]
    cfg = make_cfg("train", [*overrides, "data.balance=true", "trainer.max_epochs=1", "logger=csv"])
    assert 0 <= train(cfg) <= 1
    assert json.loads((tmp_path / "summary.json").read_text())["test/auc"] >= 0


def test_each_run_saves_its_exact_augmentation_beside_the_checkpoints(make_cfg, tmp_path):
    cfg = make_cfg("train", [*TINY_DEMO, "augment=dfdc_sbi", "debug=fdr"])
    train(cfg)
    folder = tmp_path / "checkpoints"
    saved = A.load(str(folder / "augment_pipeline.json"), data_format="json")
    assert [type(t).__name__ for t in saved.transforms][:2] == [
        "LandmarkDropout",
        "ImageCompression",
    ]
    assert json.loads((folder / "self_blend.json").read_text())["p"] == 0.5
