"""RobustnessCallback: per-track validation metrics every epoch, from a cache after the first."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import TINY_DEMO

from fakeguard.scoring.metrics import paired_drop
from fakeguard.training.callbacks import RobustnessCallback
from fakeguard.training.run import train


def test_the_demo_logs_every_track_of_tracks_fast_each_epoch(make_cfg, tmp_path):
    cfg = make_cfg("train", [*TINY_DEMO, "tracks=fast", "trainer.max_epochs=2", "test=false"])
    train(cfg)
    metrics = (
        (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().splitlines()[0].split(",")
    )
    for name in ("clean", "jpeg50", "social"):
        for key in (
            "auc",
            "acc",
            "ap",
            "log_loss",
            "brier",
            "sn34",
            "auc_ratio",
            "drop_mean",
            "drop_p95",
        ):
            assert f"val/{name}/{key}" in metrics
    cached = list((tmp_path / "cache" / "robustness" / "v1").rglob("*.png"))
    assert cached and not list((tmp_path / "cache" / "robustness" / "v1").glob("clean"))


def test_paired_drop_measures_the_loss_of_confidence_in_the_right_class():
    labels = np.array([1, 0])
    drop = paired_drop(labels, clean=np.array([0.9, 0.2]), degraded=np.array([0.6, 0.5]))
    np.testing.assert_allclose(drop, [0.3, 0.3])


def test_an_unknown_track_fails_when_the_run_starts():
    with pytest.raises(ValueError, match="no track"):
        RobustnessCallback(tracks=["clean", "jpeg_50"])
