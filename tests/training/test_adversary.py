"""The Adversary: which attackers play, how their losses weigh (sum or TRADES), the eps
warm-up, the U-Net's schedule, the platform the attacks go through, and the frozen detector."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from helpers import compose_config, tiny_conv_net
from hydra.utils import instantiate

from fakeguard.attacks.pgd import FGSM, PGD, PGD_8_255
from fakeguard.attacks.through import Through
from fakeguard.attacks.unet import UNetAttacker
from fakeguard.errors import SettingError
from fakeguard.models.detectors import Detector
from fakeguard.robustness.eot import Platform
from fakeguard.robustness.standins import stand_in
from fakeguard.robustness.tensors import recompress
from fakeguard.training.adversary import Adversary
from fakeguard.training.losses import bernoulli_kl, detection_loss

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
    more = Adversary(attack=PGD(steps=10), unet=UNetAttacker(), unet_optimizer=ADAM, unet_steps=3)
    assert more.passes() == 16  # three U-Net updates per detector step


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


def test_eps_ramps_linearly_per_batch_over_warmup_epochs_then_stays_at_eps():
    adversary = Adversary(attack=PGD(), warmup_epochs=2)
    scales = [adversary.warmup_scale(b, batches_per_epoch=4) for b in range(12)]
    assert scales[:8] == pytest.approx([(b + 1) / 8 for b in range(8)])  # ~0 -> 1 over 2 epochs
    assert scales[8:] == [1.0] * 4
    assert Adversary(attack=PGD()).warmup_scale(0, 4) == 1.0  # no warm-up: full eps at once


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"warmup_epochs": -1}, "attack.warmup_epochs"),
        ({"warmup_epochs": 1.5}, "attack.warmup_epochs"),
        ({"objective": "trade"}, "attack.adversary.objective"),
        ({"objective": "trades", "trades_beta": -1.0}, "attack.adversary.trades_beta"),
    ],
)
def test_bad_warmup_and_objective_settings_name_their_config_key(kwargs, key):
    with pytest.raises(SettingError, match=key):
        Adversary(attack=PGD(), **kwargs)


def test_warmup_or_trades_without_a_pixel_attack_is_refused():
    for kwargs in ({"warmup_epochs": 2}, {"objective": "trades"}):
        with pytest.raises(SettingError, match="attack"):
            Adversary(unet=UNetAttacker(), unet_optimizer=ADAM, **kwargs)


def test_trades_weighs_clean_bce_one_and_the_kl_beta_and_keeps_the_unet_term_relative():
    trades = Adversary(attack=PGD(), objective="trades", trades_beta=4.0)
    assert trades.loss_weights == {"clean": 1.0, "pgd": 4.0}
    with_unet = Adversary(
        attack=PGD(),
        unet=UNetAttacker(),
        unet_optimizer=ADAM,
        objective="trades",
        loss_weights={"clean": 2.0, "unet": 1.0},
    )
    assert with_unet.loss_weights == {"clean": 1.0, "pgd": 6.0, "unet": 0.5}


def test_the_trades_term_is_the_kl_from_the_clean_prediction_and_the_attack_raises_it():
    net, x = tiny_conv_net(), torch.rand(8, 3, 16, 16)
    y = (torch.arange(8) % 2).float()
    adversary = Adversary(attack=PGD(eps=8 / 255, step_size=2 / 255, steps=5), objective="trades")
    clean = net(x)
    torch.manual_seed(0)
    term = adversary.pixel_term(net, x, y, clean, detection_loss)
    assert term.requires_grad and term.item() > 0  # trains both the clean and adversarial sides
    torch.manual_seed(0)  # the same start, no ascent: the KL at TRADES's 0.001 * N(0, 1) start
    start = x + 0.001 * torch.randn_like(x)
    assert term.item() > bernoulli_kl(clean, net(start)).item()
    nudged = Adversary(attack=PGD(eps=1e-6, step_size=1e-6, steps=1), objective="trades")
    assert nudged.pixel_term(net, x, y, clean, detection_loss).item() < 1e-6  # ~ no move: ~0


def test_the_warmed_up_attack_stays_inside_the_scaled_ball():
    net, x = tiny_conv_net(), torch.rand(4, 3, 16, 16)
    adversary = Adversary(attack=PGD(eps=8 / 255, step_size=2 / 255, steps=3), warmup_epochs=4)
    seen = []
    original = adversary.attack.scaled

    def spy(factor):
        attack = original(factor)
        seen.append(attack)
        return attack

    adversary.attack.scaled = spy
    adversary.pixel_term(net, x, torch.ones(4), net(x), detection_loss, scale=0.25)
    (used,) = seen
    assert used.eps == pytest.approx(2 / 255) and used.step_size == pytest.approx(0.5 / 255)


def test_the_attack_configs_take_trades_and_a_warmup_from_the_command_line(tmp_path):
    overrides = [
        "attack=pgd",
        "attack.warmup_epochs=3",
        "attack.adversary.objective=trades",
        "attack.adversary.trades_beta=2.0",
    ]
    adversary = instantiate(compose_config("train", overrides, tmp_path).attack.adversary)
    assert (adversary.objective, adversary.trades_beta, adversary.warmup_epochs) == (
        "trades",
        2.0,
        3,
    )
    default = instantiate(compose_config("train", ["attack=fgsm"], tmp_path).attack.adversary)
    assert (default.objective, default.warmup_epochs) == ("sum", 0)


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"unet_steps": 0}, "attack.adversary.unet_steps"),
        ({"unet_steps": 1.5}, "attack.adversary.unet_steps"),
        ({"unet_warmup_steps": -1}, "attack.adversary.unet_warmup_steps"),
        ({"unet_objective": "hinge"}, "attack.adversary.unet_objective"),
        ({"unet_margin": 0.0}, "attack.adversary.unet_margin"),
    ],
)
def test_bad_unet_schedule_and_loss_settings_name_their_config_key(kwargs, key):
    with pytest.raises(SettingError, match=key):
        Adversary(unet=UNetAttacker(), unet_optimizer=ADAM, **kwargs)


def test_a_unet_warmup_without_a_unet_is_refused():
    with pytest.raises(SettingError, match="unet_warmup_steps=5.*has none"):
        Adversary(attack=PGD(), unet_warmup_steps=5)


@pytest.mark.parametrize("warmup, steps, batches", [(0, 1, 0), (4, 2, 2), (5, 2, 3), (3, 1, 3)])
def test_the_warmup_takes_the_first_batches_it_needs(warmup, steps, batches):
    adversary = Adversary(
        unet=UNetAttacker(), unet_optimizer=ADAM, unet_steps=steps, unet_warmup_steps=warmup
    )
    assert adversary.warmup_batches() == batches


def test_a_misspelt_platform_names_the_choices():
    with pytest.raises(SettingError, match=r"attack.through=jpeg5 is not one of eot, .*jpeg50"):
        Adversary(attack=PGD(), through="jpeg5")


def test_through_jpeg50_the_detector_learns_on_what_the_real_jpeg_delivers():
    """PGD goes through the stand-in; the detector's term is its loss on real JPEG 50 of the
    attacked pixels (8-bit, as uploaded), not on the attacked pixels themselves."""
    net, x, y = tiny_conv_net(), torch.rand(4, 3, 16, 16), torch.tensor([0, 1, 0, 1.0])
    with torch.no_grad():
        net[4].weight.mul_(100)  # logits that feel a few grey levels
    adversary = Adversary(attack=PGD(steps=2), through="jpeg50")
    assert adversary.platform is not None
    assert not any("platform" in key for key in adversary.state_dict())  # not saved
    torch.manual_seed(0)
    term = adversary.pixel_term(net, x, y, net(x), detection_loss)
    torch.manual_seed(0)  # the same random start
    x_adv = PGD(steps=2)(Through(net, stand_in("jpeg50")), x, y)
    expected = detection_loss(net(recompress(x_adv, "jpeg50")), y)
    bare = detection_loss(net(x_adv), y)
    assert abs(term.item() - expected.item()) < 1e-3 * abs(bare.item() - expected.item())


def test_through_eot_builds_the_configured_platform(tmp_path):
    overrides = ["attack=pgd_unet", "attack.through=eot", "eot.quality=[60,70]"]
    adversary = instantiate(compose_config("train", overrides, tmp_path).attack.adversary)
    assert isinstance(adversary.platform, Platform) and adversary.platform.quality == (60, 70)
    assert isinstance(adversary.target(tiny_conv_net()), Through)
    plain = instantiate(compose_config("train", ["attack=pgd_unet"], tmp_path).attack.adversary)
    assert plain.platform is None and plain.unet.conditioned
