"""RobustnessCallback: per-track validation metrics every epoch, from a cache after the first;
the PGD track on seeded crops and val/select, which a run can select best.ckpt on."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import TINY_DEMO
from hydra.utils import instantiate

from fakeguard.attacks.pgd import PGD
from fakeguard.data.datamodule import DemoDataModule
from fakeguard.errors import SettingError
from fakeguard.models.detectors import Detector
from fakeguard.scoring.metrics import paired_drop
from fakeguard.scoring.tracks import EvalTrack
from fakeguard.training import callbacks
from fakeguard.training.callbacks import RobustnessCallback
from fakeguard.training.run import train

PER_TRACK = (
    "auc",
    "acc",
    "ap",
    "log_loss",
    "brier",
    "sn34",
    "auc_ratio",
    "drop_mean",
    "drop_p95",
)


def test_the_demo_logs_every_track_and_pgd_each_epoch_and_selects_best_on_val_select(
    make_cfg, tmp_path, monkeypatch
):
    """A clean run (attack=none) logs val/pgd/* at 8/255 on the same seeded crops every epoch,
    val/select = the blend of val/auc and val/pgd/auc, and picks best.ckpt on val/select."""
    calls = []
    real_score = callbacks.score

    def spy(candidates, tracks, samples, *args, attacks=None, **kwargs):
        calls.append(([t.name for t in tracks], [s.path for s in samples], attacks))
        return real_score(candidates, tracks, samples, *args, attacks=attacks, **kwargs)

    monkeypatch.setattr(callbacks, "score", spy)
    overrides = [
        *TINY_DEMO,
        "tracks=fast",
        "trainer.max_epochs=2",
        "test=false",
        "callbacks=robust",
        "callbacks.robustness.attack_samples=12",
    ]
    train(make_cfg("train", overrides))
    frame = pd.read_csv(tmp_path / "csv" / "version_0" / "metrics.csv")
    for name in ("clean", "jpeg50", "social", "pgd"):
        for key in PER_TRACK:
            assert f"val/{name}/{key}" in frame.columns
    rows = frame.dropna(subset=["val/select"])
    assert len(rows) == 2  # every epoch
    blend = 0.5 * rows["val/auc"] + 0.5 * rows["val/pgd/auc"]
    np.testing.assert_allclose(rows["val/select"], blend, rtol=1e-6)
    attacked = [c for c in calls if "pgd" in c[0]]
    assert len(attacked) == 2 and attacked[0][1] == attacked[1][1]  # the same crops
    assert 0 < len(attacked[0][1]) <= 12
    pgd = attacked[0][2]["pgd"]
    assert isinstance(pgd, PGD) and (pgd.eps, pgd.steps) == (pytest.approx(8 / 255), 5)
    assert pgd.step_size == pytest.approx(2.5 * pgd.eps / 5) and pgd.random_start
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["val/select_best"] == pytest.approx(rows["val/select"].max())
    assert (tmp_path / "checkpoints" / "best.ckpt").exists()
    cached = list((tmp_path / "cache" / "robustness" / "v1").rglob("*.png"))
    assert cached and not list((tmp_path / "cache" / "robustness" / "v1").glob("clean"))


def test_the_pgd_track_attacks_at_the_experiments_eps(make_cfg):
    cfg = make_cfg(
        "train", ["attack=pgd", "attack.eps=0.016", "callbacks.robustness.attack_steps=4"]
    )
    robustness = instantiate(cfg.callbacks.robustness)
    assert robustness.attack.eps == pytest.approx(0.016)
    assert robustness.attack.step_size == pytest.approx(2.5 * 0.016 / 4)
    assert instantiate(make_cfg("train", []).callbacks.robustness).attack.eps == 8 / 255


def test_scoring_the_pgd_track_leaves_the_random_generators_and_the_model_as_they_were():
    torch.manual_seed(0)
    data = DemoDataModule(num_identities=24, image_size=32, batch_size=8)
    data.setup("fit")
    net = Detector(weights="none", img_size=32).train()
    flags = [m.training for m in net.modules()]
    callback = RobustnessCallback(tracks=[], attack_samples=6, attack_steps=2)
    trainer = SimpleNamespace(datamodule=data)
    module = SimpleNamespace(net=net, device=torch.device("cpu"))
    before = (torch.get_rng_state(), np.random.get_state()[1].copy())
    first = callback._score_pgd(trainer, module, {})
    assert torch.equal(torch.get_rng_state(), before[0])
    assert np.array_equal(np.random.get_state()[1], before[1])
    assert [m.training for m in net.modules()] == flags
    assert set(first["pgd"]) == set(PER_TRACK)
    assert callback._score_pgd(trainer, module, {}) == first  # same crops, same random starts


def test_monitoring_the_pgd_track_with_attack_every_n_epochs_above_1_is_refused(make_cfg):
    overrides = [
        *TINY_DEMO,
        "callbacks=robust",
        "callbacks.robustness.attack_every_n_epochs=2",
        "trainer.max_epochs=2",
    ]
    with pytest.raises(SettingError, match="attack_every_n_epochs=1"):
        train(make_cfg("train", overrides))


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"attack_steps": 0}, "attack_steps"),
        ({"attack_eps": 0.0}, "attack_eps"),
        ({"attack_samples": -1}, "attack_samples"),
        ({"attack_every_n_epochs": 0}, "attack_every_n_epochs"),
        ({"select_weights": {"clean": 1, "fgsm": 1}}, "select_weights"),
        ({"select_weights": {"clean": 0, "pgd": 0}}, "select_weights"),
    ],
)
def test_bad_pgd_track_settings_name_their_config_key(kwargs, key):
    with pytest.raises(SettingError, match=f"callbacks.robustness.{key}"):
        RobustnessCallback(tracks=["clean"], **kwargs)


def test_the_pgd_track_can_be_turned_off_unless_a_run_selects_on_it(make_cfg):
    callback = RobustnessCallback(attack_samples=0)
    assert callback.attack is None
    weights = RobustnessCallback(select_weights={"clean": 3.0, "pgd": 1.0}).select_weights
    assert weights == {"clean": 0.75, "pgd": 0.25}  # normalised
    overrides = [*TINY_DEMO, "callbacks=robust", "callbacks.robustness.attack_samples=0"]
    with pytest.raises(SettingError, match="attack_samples=0 turns the PGD track off"):
        train(make_cfg("train", overrides))


def test_paired_drop_measures_the_loss_of_confidence_in_the_right_class():
    labels = np.array([1, 0])
    drop = paired_drop(labels, clean=np.array([0.9, 0.2]), degraded=np.array([0.6, 0.5]))
    np.testing.assert_allclose(drop, [0.3, 0.3])


def test_an_unknown_track_fails_when_the_run_starts():
    with pytest.raises(ValueError, match="no track"):
        RobustnessCallback(tracks=["clean", "jpeg_50"])


@pytest.mark.parametrize(
    ("through", "expected"),
    [
        (None, EvalTrack("pgd", attack="pgd")),
        ("jpeg50", EvalTrack("pgd", attack="pgd", through="jpeg50", after="jpeg50")),
        ("h264-like", EvalTrack("pgd", attack="pgd", through="h264_c23", after="h264_c23")),
        ("eot", EvalTrack("pgd", attack="pgd", through="eot")),
    ],
)
def test_a_run_hardened_through_a_platform_is_selected_on_pgd_through_it(through, expected):
    """val/pgd (and val/select) of a run trained with attack.through=<codec> is PGD through
    that codec's stand-in and then the real codec, as evaluate.py's pgd:<codec>."""
    assert RobustnessCallback(tracks=[], attack_through=through).pgd_track == expected


def test_an_unknown_platform_for_the_pgd_track_is_a_setting_error():
    with pytest.raises(SettingError, match="attack_through=jpg50"):
        RobustnessCallback(tracks=[], attack_through="jpg50")
