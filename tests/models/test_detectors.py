"""Detectors take pixels in [0, 1] and return one logit of P(fake) per image.

The tests that hold for every architecture run over the `DETECTORS` registry: a registered
architecture is tested without editing this file (`test_a_registered_architecture_...`).
"""

from __future__ import annotations

import pytest
import torch
from helpers import assert_checkpoint_round_trip, assert_gasbench_mirrors
from torch import nn

from fakeguard.errors import UserError
from fakeguard.models.detectors import DETECTORS, Detector, build_detector

ARCHS = sorted(DETECTORS)


@pytest.fixture(scope="module")
def nets() -> dict[str, Detector]:
    torch.manual_seed(0)
    return {arch: DETECTORS[arch](weights="lite0", img_size=224).eval() for arch in ARCHS}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("size", [224, 160, (192, 256)])
def test_one_logit_per_image_at_any_size(nets, arch, size):
    h, w = (size, size) if isinstance(size, int) else size
    with torch.no_grad():
        out = nets[arch](torch.rand(3, 3, h, w))
    assert out.shape == (3,) and torch.isfinite(out).all()


@pytest.mark.parametrize("arch", ARCHS)
def test_normalisation_happens_inside_the_model(nets, arch):
    net = nets[arch]
    x = torch.rand(2, 3, 224, 224)
    mean = torch.tensor(net.backbone.pretrained_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(net.backbone.pretrained_cfg["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        manual = net.forward_head(net.backbone.forward_features((x - mean) / std))
        assert torch.allclose(net(x), manual, atol=1e-5)
        # and the normalisation is not the identity: raw pixels give another answer
        assert not torch.allclose(net(x), net.forward_head(net.backbone.forward_features(x)))


def test_efficientvit_sees_49_tokens_plus_cls_at_224(nets):
    net = nets["EfficientViT"]
    features = net.forward_features(torch.rand(1, 3, 224, 224))
    assert features.shape == (1, 1280, 7, 7)
    assert net.pos_embed.shape == (1, 50, 512)
    assert len(net.encoder.layers) == 4 and net.encoder.layers[0].self_attn.num_heads == 4


def test_efficientvit_interpolates_positions_for_other_grids(nets):
    net = nets["EfficientViT"]
    assert net.position_embedding(7, 7).shape == (1, 50, 512)
    resized = net.position_embedding(4, 6)
    assert resized.shape == (1, 25, 512)
    assert torch.equal(resized[:, 0], net.pos_embed[:, 0])  # the CLS position is kept as is


@pytest.mark.parametrize("arch", ARCHS)
def test_spec_rebuilds_the_same_architecture(nets, arch):
    net = nets[arch]
    rebuilt = build_detector(net.spec)
    rebuilt.load_state_dict(net.state_dict())
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(rebuilt.eval()(x), net(x), atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_example_spec_builds_and_round_trips_through_a_checkpoint(arch, tmp_path):
    assert_checkpoint_round_trip(arch, tmp_path)


class ToyDetector(Detector):
    """A registered architecture nothing else knows: the `Detector` with a two-layer head."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.head = nn.Sequential(nn.Linear(self.num_features, 8), nn.ReLU(), nn.Linear(8, 1))


def test_a_registered_architecture_is_tested_without_editing_a_test(monkeypatch, tmp_path):
    """Registering is all it takes: the registry-driven helpers build the toy from its example
    spec and round-trip it through a checkpoint, and the gasbench check says that the
    template has no mirror of it, and where to add one."""
    monkeypatch.setitem(DETECTORS, "ToyDetector", ToyDetector)
    loaded = assert_checkpoint_round_trip("ToyDetector", tmp_path)
    assert loaded.spec["arch"] == "ToyDetector" and len(loaded.head) == 3
    missing = r"gasbench_model\.py has no mirror of the ToyDetector architecture: add one there"
    with pytest.raises(UserError, match=missing):
        assert_gasbench_mirrors("ToyDetector", tmp_path)
    assert not (tmp_path / "gasbench").exists()  # refused before anything is written


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="unknown detector architecture"):
        build_detector({"arch": "Nope"})


def test_freezing_keeps_the_last_blocks_and_head_trainable():
    net = Detector(weights="none", img_size=64)
    frozen = net.freeze_backbone(2)
    assert frozen == 6  # stem + 5 stages of 7; the last 2 stages (with conv_head) still train
    assert not net.backbone.conv_stem.weight.requires_grad
    assert not net.backbone.blocks[4][0].conv_pw.weight.requires_grad
    assert net.backbone.blocks[5][0].conv_pw.weight.requires_grad
    assert net.backbone.conv_head.weight.requires_grad
    assert all(p.requires_grad for p in net.head.parameters())


def test_frozen_batchnorm_statistics_do_not_move_in_training():
    net = Detector(weights="lite0", img_size=64)
    net.freeze_backbone(1)
    net.train()
    before = net.backbone.bn1.running_mean.clone()
    net(torch.rand(4, 3, 64, 64))
    assert torch.equal(net.backbone.bn1.running_mean, before)
    assert net.backbone.bn2.training  # the trainable tail still adapts
