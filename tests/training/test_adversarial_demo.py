"""Adversarial training on the demo buys robustness that clean training does not have."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TINY_DEMO
from hydra.utils import instantiate
from omegaconf import DictConfig

from fakeguard.attacks.pgd import PGD
from fakeguard.models.checkpoint import load_detector
from fakeguard.scoring.metrics import binary_metrics
from fakeguard.training.run import train

EPS = (2, 4, 8)  # PGD-10 budgets in grey levels (/255), steps of eps/4


def auc_on_test(detector: torch.nn.Module, data, attack: PGD | None = None) -> float:
    """The detector's AUC on the test split, each batch attacked white-box when `attack`."""
    data.setup()
    labels, probs = [], []
    for batch in data.dataloader("test"):
        x = batch["image"] if attack is None else attack(detector, batch["image"], batch["label"])
        with torch.no_grad():
            probs.append(torch.sigmoid(detector(x).float()).numpy())
        labels.append(batch["label"].numpy())
    return binary_metrics(np.concatenate(labels), np.concatenate(probs))["auc"]


def train_and_score(cfg: DictConfig) -> dict[int, float]:
    """Train `cfg`, then the test AUC of its best checkpoint, clean (0) and under PGD-10."""
    train(cfg)
    best = json.loads((Path(cfg.paths.output_dir) / "summary.json").read_text())["checkpoint"]
    detector = load_detector(best)
    data = instantiate(cfg.data, image_size=detector.spec["img_size"])
    attacks = {eps: PGD(eps / 255, eps / 4 / 255, 10) if eps else None for eps in (0, *EPS)}
    return {eps: auc_on_test(detector, data, attack) for eps, attack in attacks.items()}


def test_pgd_lowers_a_clean_trained_models_auc(make_cfg, tmp_path):
    train(make_cfg("train", [*TINY_DEMO, "trainer.max_epochs=2", "test=false"]))
    best = json.loads((tmp_path / "summary.json").read_text())["checkpoint"]
    detector = load_detector(best)
    data = instantiate(make_cfg("train", TINY_DEMO).data, image_size=detector.spec["img_size"])
    assert auc_on_test(detector, data, PGD()) < auc_on_test(detector, data) - 0.2


@pytest.mark.slow
def test_demo_adv_keeps_a_higher_auc_under_pgd_than_clean_training(make_cfg, tmp_path):
    # The same recipe, data and schedule; `attack=none` only removes the attackers.
    runs = {"clean": ["attack=none"], "adversarial": []}
    results = {
        name: train_and_score(
            make_cfg("train", ["experiment=demo_adv", *extra, "test=false"], tmp_path / name)
        )
        for name, extra in runs.items()
    }
    print("\ntraining      clean AUC  " + "  ".join(f"PGD-10 {e}/255" for e in EPS))
    for name, scores in results.items():
        print(f"{name:<12} {scores[0]:>10.3f}  " + "  ".join(f"{scores[e]:>12.3f}" for e in EPS))
    assert results["adversarial"][8] > results["clean"][8] + 0.3
    assert results["adversarial"][0] > 0.9  # hardening must not cost the clean task
