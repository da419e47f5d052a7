"""Evaluation attacks: the pinned ones from the registry, U-Net attackers from checkpoints."""

from __future__ import annotations

import pytest
import torch

from fakeguard.attacks.pgd import PGD, PGD_8_255
from fakeguard.attacks.registry import describe, pinned_attack
from fakeguard.attacks.unet import UNetAttacker
from fakeguard.evaluation.attacks import load_attacker
from fakeguard.models.checkpoint import ATTACKER_PREFIX, ATTACKER_SPEC_KEY


def test_the_pgd_track_is_the_training_default_pgd():
    pgd = pinned_attack("pgd")
    assert isinstance(pgd, PGD) and repr(pgd) == repr(PGD(**PGD_8_255))
    assert repr(PGD()) == repr(pgd)  # PGD's own defaults are the same definition
    assert describe()["pgd"] == "L-inf 8/255, 10 steps of 2/255, random start"


def test_the_u_net_is_no_pinned_attack():
    with pytest.raises(ValueError, match="trained one"):
        pinned_attack("unet")
    with pytest.raises(ValueError, match="no attack 'fgsm'"):
        pinned_attack("fgsm")


def test_the_u_net_attacker_loads_from_a_training_checkpoint(tmp_path):
    unet = UNetAttacker(eps=4 / 255, base_channels=4, depth=2)
    state = {f"{ATTACKER_PREFIX}{k}": v for k, v in unet.state_dict().items()}
    state["net.head.weight"] = torch.zeros(1)
    path = tmp_path / "adv.ckpt"
    torch.save({ATTACKER_SPEC_KEY: unet.spec, "state_dict": state}, path)
    loaded = load_attacker(path)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(loaded(x), unet.eval()(x))
    torch.save({"state_dict": {"net.head.weight": torch.zeros(1)}}, tmp_path / "clean.ckpt")
    assert load_attacker(tmp_path / "clean.ckpt") is None
