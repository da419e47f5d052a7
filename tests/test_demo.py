"""The embedded demo (`python train.py` with no arguments) learns its task."""

from __future__ import annotations

import json

import pytest

from fakeguard.training.run import train


@pytest.mark.slow
def test_default_demo_reaches_val_auc_of_0_9(make_cfg, tmp_path):
    value = train(make_cfg("train", []))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert value == summary["val/auc_best"] >= 0.9
    assert summary["test/auc"] >= 0.9
