"""evaluate.py scores a checkpoint on the data it was trained on unless told otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import TINY_DEMO, compose_config, write_checkpoint
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from fakeguard.errors import UserError
from fakeguard.evaluation.data import evaluation_data
from fakeguard.evaluation.runner import evaluate
from fakeguard.models.checkpoint import DATA_KEY, read_checkpoint
from fakeguard.models.detectors import Detector
from fakeguard.training.run import train

QUICK = ["tracks.names=[clean]", "gradcam.samples=0", "plots=false"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny demo run on data other than evaluate.py's demo defaults (seed 3, 40 faces)."""
    root = tmp_path_factory.mktemp("run")
    overrides = [*TINY_DEMO, "data.seed=3", "trainer.max_epochs=1", "tracks=none", "test=false"]
    train(compose_config("train", overrides, root))
    GlobalHydra.instance().clear()
    return root / "checkpoints" / "best.ckpt"


def _evaluate(tmp_path: Path, overrides: list[str]) -> tuple[dict, str]:
    evaluate(compose_config("evaluate", [*overrides, *QUICK], tmp_path))
    GlobalHydra.instance().clear()
    return json.loads((tmp_path / "results.json").read_text()), (tmp_path / "report.md").read_text()


def _faces(folder: Path, per_class: int) -> Path:
    for name, value in (("real", 60), ("fake", 190)):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            cv2.imwrite(str(folder / name / f"{i}.png"), np.full((40, 30, 3), value, np.uint8))
    return folder


def test_every_checkpoint_records_the_data_it_was_trained_on(trained):
    record = read_checkpoint(trained)[DATA_KEY]
    assert record["_target_"].endswith("DemoDataModule")
    assert (record["num_identities"], record["seed"], record["image_size"]) == (40, 3, 64)


def test_by_default_evaluate_scores_the_data_the_checkpoint_was_trained_on(trained, tmp_path):
    results, report = _evaluate(tmp_path, [f"ckpt_path={trained}"])
    assert results["data"]["source"] == "as trained"
    assert results["data"]["config"]["seed"] == 3 and not results["data"]["warnings"]
    assert "num_identities=40, seed=3), as trained" in report
    scored = results["samples"]["clean"]["scored"]
    assert 0 < scored < 40  # the test split of those 40 faces (and their fakes), not 600


def test_other_data_is_scored_when_asked_and_the_report_warns(trained, tmp_path):
    results, report = _evaluate(tmp_path, [f"ckpt_path={trained}", "data=demo"])
    assert results["data"]["config"]["num_identities"] == 600
    assert "**Warning.** The data differs from what" in report
    assert "num_identities: 40 -> 600" in report and "seed: 3 -> 0" in report


def test_a_held_out_folder_is_scored_whole_with_data_test_root(trained, tmp_path):
    held_out = _faces(tmp_path / "held_out", per_class=7)
    results, report = _evaluate(
        tmp_path / "eval", [f"ckpt_path={trained}", f"data.test_root={held_out}"]
    )
    assert results["samples"]["clean"]["scored"] == 14
    assert results["data"]["source"] == f"as trained with test_root={held_out}"


def test_a_checkpoint_from_before_the_record_falls_back_to_its_run_config(tmp_path):
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    ckpt.parent.mkdir(parents=True)
    write_checkpoint(ckpt, Detector(weights="none", img_size=32).eval())
    data = {"_target_": "fakeguard.data.datamodule.FolderDataModule", "root": "/faces"}
    (tmp_path / "run" / ".hydra").mkdir()
    OmegaConf.save({"data": data, "seed": 1}, tmp_path / "run" / ".hydra" / "config.yaml")
    found = evaluation_data(OmegaConf.create({"from_run": True, "root": None}), [str(ckpt)])
    assert found.config == data and found.source == "as trained"


def test_a_checkpoint_that_records_no_data_asks_for_it(tmp_path):
    torch.manual_seed(0)
    ckpt = write_checkpoint(tmp_path / "bare.ckpt", Detector(weights="none", img_size=32).eval())
    with pytest.raises(UserError, match="does not record the data it was trained on.*data=folders"):
        evaluation_data(OmegaConf.create({"from_run": True}), [str(ckpt)])


def test_training_refuses_evaluate_s_data_run(make_cfg):
    with pytest.raises(UserError, match="data=run is evaluate.py's"):
        train(make_cfg("train", ["data=run"]))
