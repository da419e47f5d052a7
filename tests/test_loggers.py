"""Every logger gets the config, the scalars, the robustness table and the plots; wandb stays
offline unless going online is asked for and possible."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import yaml
from helpers import TINY_DEMO, write_checkpoint
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fakeguard.errors import UserError
from fakeguard.evaluation.runner import evaluate
from fakeguard.loggers import wandb_offline
from fakeguard.models.detectors import Detector
from fakeguard.training.run import train


@pytest.fixture
def no_wandb_account(monkeypatch, tmp_path):
    """No API key in the environment or in ~/.netrc, no mode set."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_csv_tensorboard_and_offline_wandb_get_everything(make_cfg, tmp_path, no_wandb_account):
    overrides = [
        *TINY_DEMO,
        "logger=[csv,tensorboard,wandb]",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "test=false",
    ]
    train(make_cfg("train", overrides))

    csv = tmp_path / "csv" / "version_0"
    assert yaml.safe_load((csv / "hparams.yaml").read_text())["model"]["net"]["img_size"] == 64
    table = pd.read_csv(csv / "val_robustness.csv")
    assert list(table["track"]) == ["clean", "jpeg50", "social"] and table["auc"].notna().all()
    metrics = pd.read_csv(csv / "metrics.csv").ffill().iloc[-1]
    tracks = [metrics[f"val/{t}/auc"] for t in ("clean", "jpeg50", "social")]
    assert metrics["val/robust_auc"] == pytest.approx(sum(tracks) / 3)

    (events,) = (tmp_path / "tensorboard").rglob("events.out.tfevents.*")
    board = EventAccumulator(str(events), size_guidance={"images": 0, "tensors": 0}).Reload()
    assert "val/robustness_roc" in board.Tags()["images"]
    assert any(tag.startswith("val/robustness") for tag in board.Tags()["tensors"])  # the text
    assert "val/auc" in board.Tags()["scalars"]
    assert (tmp_path / "plots" / "robustness_roc.png").is_file()

    (run,) = (tmp_path / "wandb").glob("offline-run-*")
    assert list(run.glob("*.wandb")) and list((run / "files" / "media").rglob("*.png"))


def test_wandb_is_offline_unless_online_is_asked_for(no_wandb_account, monkeypatch):
    assert wandb_offline(None) and wandb_offline(True)
    monkeypatch.setenv("WANDB_MODE", "online")
    with pytest.raises(UserError, match="wandb login"):
        wandb_offline(None)  # asked online without a key: an error, never a login prompt
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert not wandb_offline(None)
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_offline(None) and not wandb_offline(False)


def test_a_wandb_login_in_netrc_counts_as_a_key(no_wandb_account, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40)
    (home / ".netrc").chmod(0o600)
    assert not wandb_offline(False)


def test_evaluate_sends_its_metrics_table_and_plots_to_the_loggers(make_cfg, tmp_path):
    torch.manual_seed(0)
    ckpt = write_checkpoint(tmp_path / "best.ckpt", Detector(weights="none", img_size=64).eval())
    overrides = [
        f"ckpt_path={ckpt}",
        "data=demo",
        "data.num_identities=40",
        "tracks.names=[clean,jpeg50]",
        "gradcam.samples=0",
        "logger=[csv,tensorboard]",
    ]
    metrics = evaluate(make_cfg("evaluate", overrides))
    csv = tmp_path / "csv" / "version_0"
    logged = pd.read_csv(csv / "metrics.csv").iloc[0]
    key = next(k for k in metrics if k.endswith("/jpeg50/frame/auc"))
    assert logged[key] == pytest.approx(metrics[key])
    assert (csv / "eval_results.csv").is_file() and (csv / "hparams.yaml").is_file()
    (events,) = (tmp_path / "tensorboard").rglob("events.out.tfevents.*")
    images = EventAccumulator(str(events), size_guidance={"images": 0}).Reload().Tags()["images"]
    assert "AUC per track" in images and "ROC jpeg50" in images
