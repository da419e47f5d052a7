"""evaluate.py on a trained checkpoint reports what training reported."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import TINY_DEMO

from fakeguard.evaluation.runner import evaluate
from fakeguard.models.weights import IncompatibleCheckpointError
from fakeguard.training.run import train


def test_train_then_evaluate_reports_the_same_test_auc(make_cfg, tmp_path):
    train_cfg = make_cfg("train", [*TINY_DEMO, "trainer.max_epochs=2"], tmp_path / "train")
    train(train_cfg)
    summary = json.loads((tmp_path / "train" / "summary.json").read_text())

    demo = [o for o in TINY_DEMO if o.startswith("data.") and "image_size" not in o]
    eval_cfg = make_cfg(
        "evaluate", [*demo, f"ckpt_path={summary['checkpoint']}"], tmp_path / "eval"
    )
    metrics = evaluate(eval_cfg)
    assert metrics["test/auc"] == pytest.approx(summary["test/auc"], abs=1e-5)
    assert metrics["test/acc"] == pytest.approx(summary["test/acc"], abs=1e-5)
    assert (tmp_path / "eval" / "predictions.csv").is_file()
    assert (tmp_path / "eval" / "metrics.json").is_file()


def test_a_checkpoint_without_a_detector_spec_is_a_clear_error(make_cfg, tmp_path):
    path = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"net.w": torch.zeros(1)}}, path)
    with pytest.raises(IncompatibleCheckpointError, match="not a fakeguard checkpoint"):
        evaluate(make_cfg("evaluate", [f"ckpt_path={path}"]))
