"""Robustness curves from the predictions, and the subset of samples attack tracks score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fakeguard.scoring.plots import auc_vs_eps
from fakeguard.scoring.results import CURVE_COLUMNS, robustness_curves
from fakeguard.scoring.samples import attack_subset


def predictions() -> pd.DataFrame:
    """Checkpoint `a` on clean (8 samples) and pgd@2 / pgd (the first 4 samples)."""
    labels = [0, 1] * 4
    rows = []
    for track, probs, count in [
        ("clean", [0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.6, 0.4], 8),
        ("pgd@2", [0.4, 0.6, 0.6, 0.4], 4),
        ("pgd", [0.9, 0.1, 0.8, 0.2], 4),
    ]:
        rows += [
            {"checkpoint": "a", "track": track, "index": i, "label": labels[i], "prob": probs[i]}
            for i in range(count)
        ]
    return pd.DataFrame(rows)


def test_a_curve_starts_with_clean_on_the_samples_the_attacks_scored():
    curves = robustness_curves(predictions(), ["a", "b"], {"pgd": {8.0: "pgd", 2.0: "pgd@2"}})
    assert curves.columns.tolist() == CURVE_COLUMNS
    assert curves["eps"].tolist() == [0.0, 2.0, 8.0]
    assert curves["track"].tolist() == ["clean", "pgd@2", "pgd"]
    assert curves["n"].tolist() == [4, 4, 4]  # clean on the attacked subset, not all 8
    assert curves["auc"].tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert curves["acc"].tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert set(curves["checkpoint"]) == {"a"}  # b scored nothing: no rows


def test_the_plot_draws_one_line_per_checkpoint_and_attack(tmp_path):
    curves = robustness_curves(predictions(), ["a"], {"pgd": {8.0: "pgd", 2.0: "pgd@2"}})
    path = auc_vs_eps(curves, tmp_path / "auc_vs_eps.png")
    assert path is not None and path.stat().st_size > 1000
    empty = pd.DataFrame(columns=CURVE_COLUMNS)
    assert auc_vs_eps(empty, tmp_path / "none.png") is None


def test_attack_tracks_score_a_seeded_subset_in_order():
    assert attack_subset(10, None) == list(range(10))
    assert attack_subset(10, 10) == attack_subset(10, 50) == list(range(10))
    subset = attack_subset(100, 7, seed=3)
    assert len(subset) == 7 == len(set(subset)) and subset == sorted(subset)
    assert subset == attack_subset(100, 7, seed=3) != attack_subset(100, 7, seed=4)
    assert all(0 <= i < 100 for i in subset)
    assert np.isin(attack_subset(100, 3, seed=3), range(100)).all()
