"""Checkpoints rebuild their detector safely, or say clearly why they cannot."""

from __future__ import annotations

import pytest
import torch

from fakeguard.models.checkpoint import (
    ATTACKER_PREFIX,
    ATTACKER_SPEC_KEY,
    SPEC_KEY,
    load_detector,
    read_attacker,
    write_specs,
)
from fakeguard.models.detectors import Detector, EfficientViT
from fakeguard.models.weights import IncompatibleCheckpointError


def save_lightning_style(path, spec, net) -> None:
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save({SPEC_KEY: spec, "state_dict": state, "epoch": 0}, path)


def test_a_checkpoint_rebuilds_the_same_detector(tmp_path):
    net = EfficientViT(weights="none", img_size=64, dim=64, mlp_dim=128).eval()
    save_lightning_style(tmp_path / "a.ckpt", net.spec, net)
    loaded = load_detector(tmp_path / "a.ckpt")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded(x), net(x), atol=1e-6)
    assert not loaded.training


def test_weights_of_another_architecture_are_a_clear_error(tmp_path):
    effnet = Detector(weights="none", img_size=64)
    vit_spec = EfficientViT(weights="none", img_size=64).spec
    save_lightning_style(tmp_path / "mixed.ckpt", vit_spec, effnet)
    with pytest.raises(IncompatibleCheckpointError, match=r"missing .*pos_embed"):
        load_detector(tmp_path / "mixed.ckpt")


class Specced:
    def __init__(self, **spec) -> None:
        self.spec = spec


def test_specs_are_written_and_the_attacker_read_back_without_its_prefix():
    checkpoint = {
        "state_dict": {"net.w": torch.zeros(1), f"{ATTACKER_PREFIX}head.w": torch.ones(2)}
    }
    write_specs(checkpoint, Specced(arch="effnet"))
    assert checkpoint[SPEC_KEY] == {"arch": "effnet"} and ATTACKER_SPEC_KEY not in checkpoint
    assert read_attacker(checkpoint) is None  # no spec: the weights alone are no attacker
    write_specs(checkpoint, Specced(arch="effnet"), Specced(eps=0.1))
    spec, weights = read_attacker(checkpoint)
    assert spec == {"eps": 0.1} and list(weights) == ["head.w"]
