"""Adversarial training on the demo buys robustness that clean training does not have."""

from __future__ import annotations

import json

import lightning as L
import pytest
from helpers import TINY_DEMO

from fakeguard.attacks.pgd import PGD
from fakeguard.data.datamodule import DemoDataModule
from fakeguard.evaluation.metrics import binary_metrics
from fakeguard.evaluation.runner import predict
from fakeguard.models.checkpoint import load_detector
from fakeguard.training.run import train


def clean_and_pgd_auc(checkpoint: str, num_identities: int) -> dict[str, float]:
    detector = load_detector(checkpoint)
    data = DemoDataModule(num_identities=num_identities, image_size=detector.spec["img_size"])
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    scores = {}
    for track, attack in (("clean", None), ("pgd", PGD())):
        predictions = predict(detector, data, "test", trainer, attack)
        scores[track] = binary_metrics(predictions["label"], predictions["prob"])["auc"]
    return scores


def test_pgd_lowers_a_clean_trained_models_auc(make_cfg, tmp_path):
    train(make_cfg("train", [*TINY_DEMO, "trainer.max_epochs=2", "test=false"]))
    best = json.loads((tmp_path / "summary.json").read_text())["checkpoint"]
    scores = clean_and_pgd_auc(best, num_identities=40)
    assert scores["pgd"] < scores["clean"] - 0.2


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="open (issue 6): after demo_adv's few CPU minutes the hardened model is not yet "
    "robust; measured PGD-10 AUC 0.000 for both models at 8/255 (and at 1/255 after 8 epochs "
    "at 2/255 with the whole backbone trainable). Remove this marker once it passes.",
)
def test_demo_adv_keeps_a_higher_auc_under_pgd_than_clean_training(make_cfg, tmp_path):
    same_data = ["data.num_identities=300"]
    results = {}
    for name, overrides in {"clean": [], "adversarial": ["experiment=demo_adv"]}.items():
        train(make_cfg("train", [*overrides, *same_data, "test=false"], tmp_path / name))
        best = json.loads((tmp_path / name / "summary.json").read_text())["checkpoint"]
        results[name] = clean_and_pgd_auc(best, num_identities=300)
    print("\ntraining     clean AUC   PGD-10 AUC (8/255)")
    for name, scores in results.items():
        print(f"{name:<12} {scores['clean']:>9.3f} {scores['pgd']:>12.3f}")
    assert results["adversarial"]["pgd"] > results["clean"]["pgd"] + 0.1
