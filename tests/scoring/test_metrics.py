"""Frame-level metrics agree with torchmetrics and handle edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import binary_auroc, binary_average_precision

from fakeguard.scoring.metrics import (
    binary_metrics,
    drop_summary,
    expected_calibration_error,
    paired_drop,
    reliability_bins,
)


@pytest.mark.parametrize("seed", range(3))
def test_auc_and_ap_match_torchmetrics_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 500)
    probs = np.round(np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1), 2)
    metrics = binary_metrics(labels, probs)
    p, y = torch.tensor(probs), torch.tensor(labels)
    assert metrics["auc"] == pytest.approx(binary_auroc(p, y).item(), abs=1e-6)
    assert metrics["ap"] == pytest.approx(binary_average_precision(p, y).item(), abs=1e-6)


def test_perfect_and_inverted_scores():
    labels = np.array([0, 0, 1, 1])
    perfect = binary_metrics(labels, np.array([0.1, 0.2, 0.8, 0.9]))
    assert perfect["auc"] == 1.0 and perfect["eer"] == 0.0 and perfect["acc"] == 1.0
    inverted = binary_metrics(labels, np.array([0.9, 0.8, 0.2, 0.1]))
    assert inverted["auc"] == 0.0 and inverted["eer"] == 1.0


def test_eer_where_error_rates_cross():
    # threshold 0.5: one real of four above (FPR 0.25), one fake of four below (FNR 0.25)
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    probs = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])
    assert binary_metrics(labels, probs)["eer"] == pytest.approx(0.25)


def test_log_loss_and_brier():
    metrics = binary_metrics(np.array([1, 0]), np.array([0.8, 0.4]))
    assert metrics["log_loss"] == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert metrics["brier"] == pytest.approx((0.04 + 0.16) / 2)


def test_one_class_gives_nan_ranking_metrics_not_a_crash():
    metrics = binary_metrics(np.array([1, 1]), np.array([0.3, 0.9]))
    assert math.isnan(metrics["auc"]) and metrics["acc"] == 0.5


def test_sn34_is_one_for_a_perfect_confident_classifier_and_near_zero_at_chance():
    labels = np.array([0, 1] * 50)
    assert binary_metrics(labels, labels.astype(float))["sn34"] == pytest.approx(1.0)
    chance = binary_metrics(labels, np.full(100, 0.5))
    assert chance["mcc"] == 0.0 and chance["sn34"] < 1e-5


def test_mcc_matches_its_definition_on_a_confusion_table():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    probs = np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.3, 0.4, 0.6])  # tp 3, fn 1, tn 3, fp 1
    assert binary_metrics(labels, probs)["mcc"] == pytest.approx((9 - 1) / 16)


# Fixed arrays with ties, both classes, and a threshold where the error rates cross between
# two ROC points (so the EER needs interpolation).
FIXED_LABELS = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0])
FIXED_PROBS = np.array(
    [0.1, 0.35, 0.35, 0.6, 0.2, 0.8, 0.35, 0.9, 0.55, 0.7, 0.05, 0.45, 0.6, 0.3, 0.65]
)


def test_auc_and_ap_agree_with_scikit_learn_on_fixed_arrays():
    from sklearn.metrics import average_precision_score, roc_auc_score

    metrics = binary_metrics(FIXED_LABELS, FIXED_PROBS)
    assert metrics["auc"] == pytest.approx(roc_auc_score(FIXED_LABELS, FIXED_PROBS), abs=1e-12)
    assert metrics["ap"] == pytest.approx(
        average_precision_score(FIXED_LABELS, FIXED_PROBS), abs=1e-12
    )


def test_eer_agrees_with_scikit_learn_roc_on_fixed_arrays():
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(FIXED_LABELS, FIXED_PROBS)
    fnr = 1 - tpr
    # where FNR - FPR changes sign: interpolate linearly between the two ROC points
    i = int(np.flatnonzero(fnr - fpr <= 0)[0])
    d0, d1 = fnr[i - 1] - fpr[i - 1], fnr[i] - fpr[i]
    expected = fpr[i - 1] + d0 / (d0 - d1) * (fpr[i] - fpr[i - 1])
    assert 0 < expected < 1 and d1 < 0 < d0  # a true crossing, not a shared ROC point
    assert binary_metrics(FIXED_LABELS, FIXED_PROBS)["eer"] == pytest.approx(expected, abs=1e-12)


def test_drop_summary_is_the_mean_and_p95_of_the_paired_drop():
    labels = np.array([1, 0, 1, 0])
    clean = np.array([0.9, 0.2, 0.6, 0.5])
    degraded = np.array([0.6, 0.5, 0.7, 0.5])  # drops 0.3, 0.3, -0.1, 0
    drops = np.array([0.3, 0.3, -0.1, 0.0])
    np.testing.assert_allclose(paired_drop(labels, clean, degraded), drops)
    summary = drop_summary(labels, clean, degraded)
    assert summary["drop_mean"] == pytest.approx(0.125)
    assert summary["drop_p95"] == pytest.approx(np.percentile(drops, 95))


def test_ece_by_hand_on_a_tiny_fixed_example():
    # 15 bins of width 1/15: 0.1 and 0.12 share bin 1 (mean 0.11, one fake of two: gap 0.39,
    # weight 2/4), 0.7 is alone in bin 10 (fake: gap 0.3), 0.9 alone in bin 13 (fake: gap 0.1)
    labels = np.array([0, 1, 1, 1])
    probs = np.array([0.1, 0.12, 0.7, 0.9])
    expected = 0.5 * 0.39 + 0.25 * 0.3 + 0.25 * 0.1
    assert expected_calibration_error(labels, probs) == pytest.approx(expected, abs=1e-12)
    # one bin: |mean P(fake) - fraction fake| of the whole set
    assert expected_calibration_error(labels, probs, bins=1) == pytest.approx(
        abs(probs.mean() - 0.75), abs=1e-12
    )


def test_ece_of_a_perfectly_calibrated_synthetic_set_is_small():
    rng = np.random.default_rng(0)
    probs = rng.random(200_000)
    labels = (rng.random(probs.size) < probs).astype(int)  # P(fake) is the true frequency
    assert expected_calibration_error(labels, probs) < 0.005
    # the same scores, overconfident, are far off
    sharp = np.clip((probs - 0.5) * 3 + 0.5, 0, 1)
    assert expected_calibration_error(labels, sharp) > 0.1


def test_reliability_bins_put_the_ends_in_the_first_and_last_bin_and_leave_empty_ones_nan():
    table = reliability_bins(np.array([0, 1, 1]), np.array([0.0, 1.0, 1.0]), bins=15)
    assert table["count"].tolist() == [1.0] + [0.0] * 13 + [2.0]
    assert table["frac_fake"][0] == 0 and table["frac_fake"][-1] == 1
    assert np.isnan(table["mean_prob"][1:-1]).all()
    np.testing.assert_allclose(table["edges"], np.linspace(0, 1, 16))
    assert expected_calibration_error(np.array([0, 1, 1]), np.array([0.0, 1.0, 1.0])) == 0


@pytest.mark.parametrize("bins", [0, 2.5, True])
def test_reliability_bins_refuse_a_bad_bin_count(bins):
    with pytest.raises(ValueError, match="bins"):
        reliability_bins(np.array([0, 1]), np.array([0.2, 0.8]), bins=bins)
