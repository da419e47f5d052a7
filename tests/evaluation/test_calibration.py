"""evaluate.py calibrate=true: Platt scaling fitted on val, reported before and after on the
scored split; a calibration stored in a checkpoint is applied and said so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TINY_DEMO, compose_config, make_manifest, tiny_detector, write_checkpoint
from hydra.core.global_hydra import GlobalHydra

from fakeguard.data.manifest import read_manifest, write_manifest
from fakeguard.errors import DataError, SettingError, UserError
from fakeguard.evaluation.calibration import (
    before_after,
    calibration_settings,
    calibration_tracks,
)
from fakeguard.evaluation.runner import evaluate
from fakeguard.models.calibration import fit_calibration, sigmoid
from fakeguard.models.checkpoint import read_checkpoint, stored_calibration
from fakeguard.training.run import train

pytestmark = pytest.mark.usefixtures("one_thread")
QUICK = ["gradcam.samples=0"]


@pytest.fixture(scope="module")
def miscalibrated(tmp_path_factory) -> Path:
    """A one-epoch demo model whose logit is made over-confident and shifted far towards fake
    (3 z + 8, written into its last layer): it ranks as trained, and calls nearly every face
    fake with P(fake) near 1."""
    root = tmp_path_factory.mktemp("run")
    overrides = [*TINY_DEMO, "trainer.max_epochs=1", "tracks=none", "test=false"]
    train(compose_config("train", overrides, root))
    GlobalHydra.instance().clear()
    checkpoint = read_checkpoint(root / "checkpoints" / "best.ckpt")
    state = checkpoint["state_dict"]
    state["net.head.1.weight"] = 3 * state["net.head.1.weight"]
    state["net.head.1.bias"] = 3 * state["net.head.1.bias"] + 8
    path = root / "miscalibrated.ckpt"
    torch.save(checkpoint, path)
    return path


def _evaluate(tmp_path: Path, overrides: list[str]) -> tuple[dict, str, dict]:
    metrics = evaluate(compose_config("evaluate", [*overrides, *QUICK], tmp_path))
    GlobalHydra.instance().clear()
    payload = json.loads((tmp_path / "results.json").read_text())
    return payload, (tmp_path / "report.md").read_text(), metrics


def test_calibration_reduces_ece_and_brier_of_a_miscalibrated_model_and_keeps_its_auc(
    miscalibrated, tmp_path
):
    original = miscalibrated.read_bytes()
    payload, report, metrics = _evaluate(
        tmp_path, [f"ckpt_path={miscalibrated}", "calibrate=true", "tracks.names=[clean]"]
    )
    entry = payload["calibration"]["checkpoints"]["miscalibrated"]
    before, after = entry["scored"]["clean"]["before"], entry["scored"]["clean"]["after"]
    assert after["ece"] < before["ece"] and after["brier"] < before["brier"]
    assert after["auc"] == pytest.approx(before["auc"], abs=1e-6)
    assert after["sn34"] >= before["sn34"]
    # (accuracy at 0.5 on 14 crops of a one-epoch model is noise; the synthetic test below
    # checks it does not get worse)
    assert entry["calibration"]["split"] == "val" and entry["calibration"]["tracks"] == ["clean"]
    assert entry["applied"] == entry["calibration"] and entry["saved_to"] is None
    # the main tables score the calibrated detector: the same figures as the float64 "after"
    assert metrics["miscalibrated/clean/frame/acc"] == pytest.approx(after["acc"])
    assert metrics["miscalibrated/clean/frame/brier"] == pytest.approx(after["brier"], abs=1e-6)
    assert metrics["miscalibrated/clean/calibration/ece_before"] == before["ece"]
    assert "## Calibration: before and after Platt scaling" in report
    assert "ECE before | ECE after | Brier before" in report
    assert "not saved (calibration.save=true" in report
    assert (tmp_path / "reliability.png").stat().st_size > 1000
    assert miscalibrated.read_bytes() == original  # calibration.save=false writes nothing


def test_a_saved_calibration_is_applied_by_the_next_evaluation_and_reported(
    miscalibrated, tmp_path
):
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(miscalibrated.read_bytes())
    fit, _, _ = _evaluate(
        tmp_path / "fit",
        [
            f"ckpt_path={ckpt}",
            "calibrate=true",
            "calibration.save=true",
            "calibration.tracks=[clean,jpeg50]",
            "tracks=fast",
        ],
    )
    entry = fit["calibration"]["checkpoints"]["model"]
    assert entry["saved_to"] == str(ckpt) and sorted(entry["scored"]) == ["clean", "jpeg50"]
    stored = stored_calibration(ckpt)
    assert stored.tracks == ("clean", "jpeg50") and stored.n == 2 * fit_val_samples(entry)
    applied, report, _ = _evaluate(tmp_path / "again", [f"ckpt_path={ckpt}", "tracks=fast"])
    assert applied["calibration"]["fitted"] is False
    assert applied["calibration"]["checkpoints"]["model"]["applied"] == stored.as_record()
    assert "**Calibrated.** `model` carries a calibration, applied to every score here" in report
    after = entry["scored"]["clean"]["after"]
    clean = [r for r in applied["results"] if (r["track"], r["level"]) == ("clean", "frame")]
    by_metric = {r["metric"]: r["value"] for r in clean}
    assert by_metric["acc"] == pytest.approx(after["acc"])
    assert by_metric["brier"] == pytest.approx(after["brier"], abs=1e-6)


def fit_val_samples(entry: dict) -> int:
    return int(entry["val"]["clean"]["before"]["n"])


def test_a_validation_split_of_one_class_cannot_be_fitted(tmp_path):
    ckpt = write_checkpoint(tmp_path / "best.ckpt", tiny_detector("Detector"))
    manifest = make_manifest(tmp_path / "faces")
    rows = read_manifest(manifest)
    write_manifest(manifest, rows[(rows["split"] != "val") | (rows["label"] == 0)])
    overrides = [
        f"ckpt_path={ckpt}",
        "calibrate=true",
        "data=faces",
        f"data.manifest={manifest}",
        "tracks.names=[clean]",
        "gradcam.samples=0",
    ]
    with pytest.raises(DataError, match="split val has only real samples .*needs real and fake"):
        evaluate(compose_config("evaluate", overrides, tmp_path / "out"))
    GlobalHydra.instance().clear()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["calibration.tracks=[pgd]"], "'pgd' is not a suite track; choose from clean, jpeg50"),
        (["calibration.tracks=[]"], "calibration.tracks is empty"),
        (["calibration.max_samples=0"], "calibration.max_samples"),
        (["calibration.save=maybe"], "calibration.save=maybe must be true or false"),
        (["+calibration.bins=10"], "calibration.bins is not a setting"),
        (["calibrate=yes"], "calibrate=yes must be true or false"),
    ],
)
def test_bad_calibration_settings_are_refused_before_any_checkpoint_is_read(
    make_cfg, overrides, message
):
    settings = ["ckpt_path=missing.ckpt", "calibrate=true", *overrides]
    with pytest.raises(UserError, match=message):
        evaluate(make_cfg("evaluate", settings))


def test_calibration_tracks_take_suite_tracks_and_aliases_once():
    assert [t.name for t in calibration_tracks(["clean", "h264-like", "clean"])] == [
        "clean",
        "h264-like",
    ]
    with pytest.raises(SettingError, match="'jpeg_50', 'pgd:jpeg50' are not suite tracks"):
        calibration_tracks(["jpeg_50", "pgd:jpeg50"])
    assert calibration_settings({"tracks": "social"}).names == ["social"]


def test_before_after_on_shifted_and_scaled_logits_fitted_on_another_split():
    """A detector whose logit is 3 s + 2 where s is the true log-odds: over-confident, and it
    calls most reals fake. Fitted on one half, scored on the other: ECE and Brier fall, AUC
    stays, accuracy at 0.5 does not get worse."""
    rng = np.random.default_rng(0)
    s = rng.normal(0, 1.5, 4000)
    y = (rng.random(s.size) < sigmoid(s)).astype(int)
    z = 3 * s + 2
    calibration = fit_calibration(z[:2000], y[:2000])
    assert calibration.scale == pytest.approx(1 / 3, abs=0.05)
    assert calibration.bias == pytest.approx(-2 / 3, abs=0.1)
    metrics = before_after(y[2000:], z[2000:], calibration)
    before, after = metrics["before"], metrics["after"]
    assert after["ece"] < before["ece"] / 3 and after["brier"] < before["brier"]
    assert after["auc"] == pytest.approx(before["auc"], abs=1e-12)
    assert after["acc"] >= before["acc"]
