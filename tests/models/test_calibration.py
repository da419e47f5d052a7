"""Platt scaling: the fit, the record a checkpoint stores, and the fold into the last layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import FLOAT32_NOISE, tiny_detector, write_checkpoint

from fakeguard.errors import MissingFileError
from fakeguard.models.calibration import (
    CALIBRATION_KEY,
    Calibration,
    fit_calibration,
    fit_platt,
    fold_into,
    read_calibration,
    sigmoid,
)
from fakeguard.models.checkpoint import (
    load_detector,
    read_checkpoint,
    save_calibration,
    stored_calibration,
)
from fakeguard.models.weights import IncompatibleCheckpointError

pytestmark = pytest.mark.usefixtures("one_thread")
ARCHS = ["Detector", "EfficientViT"]


def platt_loss(a: float, b: float, z: np.ndarray, y: np.ndarray) -> float:
    """The fit's objective: log loss against Platt's smoothed targets."""
    n_fake, n_real = y.sum(), len(y) - y.sum()
    t = np.where(y == 1, (n_fake + 1) / (n_fake + 2), 1 / (n_real + 2))
    f = a * z + b
    return float(np.sum(t * np.logaddexp(0, -f) + (1 - t) * np.logaddexp(0, f)))


def test_the_fit_recovers_the_scale_and_bias_that_generated_the_labels():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 20_000)
    y = (rng.random(z.size) < sigmoid(2 * z - 1)).astype(int)
    a, b = fit_platt(z, y)
    assert a == pytest.approx(2, abs=0.1) and b == pytest.approx(-1, abs=0.1)


def test_the_fit_is_the_minimum_of_its_objective():
    rng = np.random.default_rng(1)
    z = rng.normal(1, 3, 500)
    y = (rng.random(z.size) < sigmoid(0.5 * z + 0.3)).astype(int)
    a, b = fit_platt(z, y)
    best = platt_loss(a, b, z, y)
    for da, db in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)]:
        assert platt_loss(a + da, b + db, z, y) > best


@pytest.mark.parametrize("spread", [1e-4, 1.0, 100.0])
def test_separable_logits_give_a_finite_fit_at_any_scale(spread):
    """With hard targets the scale would grow without bound; with Platt's targets the fit is
    finite, the same calibrated P(fake) whatever the logits' scale, fakes above reals, and the
    mean P(fake) is the mean smoothed target (51/52 for fakes, 1/52 for reals)."""
    z = np.r_[np.linspace(-6, -0.5, 50), np.linspace(0.5, 6, 50)]
    y = np.r_[np.zeros(50), np.ones(50)]
    a, b = fit_platt(z * spread, y)
    assert np.isfinite([a, b]).all() and a > 0
    p = sigmoid(a * z * spread + b)
    a1, b1 = fit_platt(z, y)
    np.testing.assert_allclose(p, sigmoid(a1 * z + b1), atol=1e-6)
    assert p[y == 1].min() > 0.5 > p[y == 0].max()
    assert p.mean() == pytest.approx(0.5, abs=1e-9)  # (50 * 51/52 + 50 * 1/52) / 100
    assert p.max() < 1 - 1e-6 and p.min() > 1e-6  # not driven to 0 and 1


@pytest.mark.parametrize(
    "z, y, message",
    [
        ([0.1, 0.5, 2.0], [1, 1, 1], "both classes"),
        ([0.1, 0.5, 2.0], [0, 0, 0], "both classes"),
        ([1.0, 1.0, 1.0], [0, 1, 0], "every logit is the same"),
        ([0.1, np.inf, 2.0], [0, 1, 0], "not all finite"),
        ([0.1, 0.5], [0, 2], "0 \\(real\\) or 1"),
        ([], [], "at least one"),
    ],
)
def test_what_cannot_be_fitted_is_a_clear_error(z, y, message):
    with pytest.raises(ValueError, match=message):
        fit_platt(z, y)


def test_the_record_is_plain_data_and_round_trips_through_weights_only_loading(tmp_path):
    calibration = fit_calibration([-2.0, -1.0, 0.5, 3.0], [0, 1, 0, 1], ["clean", "jpeg50"])
    record = calibration.as_record()
    assert {type(v) for v in record.values()} <= {float, int, str, list}
    assert record["tracks"] == ["clean", "jpeg50"] and record["split"] == "val"
    assert (record["n"], record["n_fake"], record["method"]) == (4, 2, "platt")
    torch.save({CALIBRATION_KEY: record}, tmp_path / "c.pt")
    loaded = torch.load(tmp_path / "c.pt", weights_only=True)
    assert read_calibration(loaded) == calibration


@pytest.mark.parametrize(
    "record", [{"scale": "2", "bias": 0.0}, {"bias": 0.0}, [1.0, 2.0], {"method": "isotonic"}]
)
def test_a_record_this_version_cannot_read_is_a_clear_error(record):
    with pytest.raises(IncompatibleCheckpointError, match="refit it"):
        read_calibration({CALIBRATION_KEY: record}, "x.ckpt")


@pytest.mark.parametrize("arch", ARCHS)
def test_folding_turns_the_logit_into_scale_times_logit_plus_bias(arch):
    detector = tiny_detector(arch)
    x = torch.rand(3, 3, 64, 64)
    with torch.inference_mode():
        before = detector(x)
        fold_into(detector, Calibration(scale=-1.7, bias=0.8))
        after = detector(x)
    torch.testing.assert_close(after, -1.7 * before + 0.8, **FLOAT32_NOISE)


def test_a_detector_without_a_one_logit_linear_head_is_refused():
    with pytest.raises(TypeError, match="Linear"):
        fold_into(torch.nn.Sequential(torch.nn.Linear(4, 2)), Calibration(1.0, 0.0))


@pytest.mark.parametrize("arch", ARCHS)
def test_a_stored_calibration_round_trips_and_load_detector_applies_it(arch, tmp_path):
    net = tiny_detector(arch)
    path = write_checkpoint(tmp_path / "best.ckpt", net)
    before = read_checkpoint(path)
    calibration = Calibration(scale=0.5, bias=-2.0, tracks=("clean", "social"), n=10, n_fake=5)
    assert save_calibration(path, calibration) == path
    after = read_checkpoint(path)
    assert stored_calibration(path) == calibration
    # what Lightning's resume reads is bit for bit as trained: the fold is load_detector's only
    assert after["state_dict"].keys() == before["state_dict"].keys()
    assert all(torch.equal(after["state_dict"][k], v) for k, v in before["state_dict"].items())
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed

    x = torch.rand(2, 3, 64, 64)
    calibrated, raw = load_detector(path), load_detector(path, calibrated=False)
    assert calibrated.calibration == calibration and raw.calibration is None
    with torch.inference_mode():
        z = net(x)
        torch.testing.assert_close(raw(x), z, **FLOAT32_NOISE)
        torch.testing.assert_close(calibrated(x), 0.5 * z - 2.0, **FLOAT32_NOISE)


def test_a_refit_replaces_the_calibration_and_out_writes_a_copy(tmp_path):
    path = write_checkpoint(tmp_path / "best.ckpt", tiny_detector("Detector"))
    original = path.read_bytes()
    first, second = Calibration(2.0, 1.0), Calibration(0.5, -1.0)
    copy = save_calibration(path, first, tmp_path / "out" / "calibrated.ckpt")
    assert path.read_bytes() == original and stored_calibration(copy) == first
    save_calibration(copy, second)
    assert stored_calibration(copy) == second
    x = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        z = load_detector(path)(x)
        torch.testing.assert_close(load_detector(copy)(x), 0.5 * z - 1.0, **FLOAT32_NOISE)


def test_calibrating_a_missing_or_foreign_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(MissingFileError, match="not found"):
        save_calibration(tmp_path / "nope.ckpt", Calibration(1.0, 0.0))
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(IncompatibleCheckpointError, match="not a fakeguard checkpoint"):
        save_calibration(tmp_path / "other.ckpt", Calibration(1.0, 0.0))
