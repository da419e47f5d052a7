"""The Adversary: which attackers play, how their losses weigh, and the frozen detector."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from helpers import compose_config
from hydra.utils import instantiate

from fakeguard.attacks.pgd import FGSM, PGD, PGD_8_255
from fakeguard.attacks.unet import UNetAttacker
from fakeguard.models.detectors import Detector
from fakeguard.training.adversary import Adversary

ADAM = partial(torch.optim.Adam, lr=1e-3)


def test_loss_weights_are_normalised_over_the_terms_in_use():
    adversary = Adversary(attack=PGD(), loss_weights={"clean": 1.0, "pgd": 3.0})
    assert adversary.loss_weights == {"clean": 0.25, "pgd": 0.75}
    both = Adversary(attack=PGD(), unet=UNetAttacker(), unet_optimizer=ADAM)
    assert both.loss_weights == pytest.approx({"clean": 1 / 3, "pgd": 1 / 3, "unet": 1 / 3})


def test_fgsm_is_the_pixel_space_attack_whose_loss_term_is_still_pgd():
    fgsm = FGSM()
    adversary = Adversary(attack=fgsm)
    assert adversary.attack is fgsm and adversary.loss_weights == {"clean": 0.5, "pgd": 0.5}


@pytest.mark.parametrize("name, kind", [("pgd", PGD), ("fgsm", FGSM), ("pgd_unet", PGD)])
def test_every_attack_config_builds_its_pixel_space_attack(name, kind, tmp_path):
    cfg = compose_config("train", [f"attack={name}"], tmp_path)
    adversary = instantiate(cfg.attack.adversary)
    assert type(adversary.attack) is kind
    if kind is PGD:  # the training default is the evaluation `pgd` track's PGD
        assert repr(adversary.attack) == repr(PGD(**PGD_8_255))


def test_pass_counts_match_the_training_step():
    assert Adversary(attack=FGSM()).passes() == 3  # attack + clean + adversarial
    assert Adversary(attack=PGD(steps=10)).passes() == 12
    full = Adversary(attack=PGD(steps=10), unet=UNetAttacker(), unet_optimizer=ADAM)
    assert full.passes() == 14  # + the U-Net's update and its loss term


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"unet": UNetAttacker()}, {"attack": PGD(), "loss_weights": {"pgd": 1.0, "fgsm": 1.0}}],
)
def test_incomplete_or_misspelt_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        Adversary(**kwargs)


def test_the_attacker_step_leaves_the_detector_as_it_was():
    net = Detector(weights="none", img_size=32)
    net.freeze_backbone(2)
    net.train()
    modes = [m.training for m in net.modules()]
    flags = [p.requires_grad for p in net.parameters()]
    adversary = Adversary(unet=UNetAttacker(), unet_optimizer=ADAM)
    loss, _ = adversary.attacker_loss(net, torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 0, 1.0]))
    loss.backward()
    assert all(p.grad is None for p in net.parameters())  # the detector was frozen
    assert all(p.grad is not None for p in adversary.unet.parameters())
    assert [m.training for m in net.modules()] == modes
    assert [p.requires_grad for p in net.parameters()] == flags
