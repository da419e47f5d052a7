"""The LightningModule's safety nets (NaN/inf steps are skipped, counted, and stopped) and
what it stores in a checkpoint."""

from __future__ import annotations

from functools import partial

import lightning as L
import pytest
import torch

from fakeguard.attacks.pgd import PGD
from fakeguard.attacks.unet import UNetAttacker
from fakeguard.data.datamodule import DemoDataModule
from fakeguard.models.checkpoint import (
    BAD_STEPS_KEY,
    SPEC_KEY,
    detector_state,
    read_attacker,
)
from fakeguard.models.detectors import Detector, build_detector
from fakeguard.training.adversary import Adversary
from fakeguard.training.module import DetectorModule, NonFiniteLossError


def fit_with_nan_loss(adversary: Adversary | None, max_bad_steps: int) -> DetectorModule:
    torch.manual_seed(0)
    # pos_weight NaN makes every training loss NaN while the model itself stays finite
    module = DetectorModule(
        Detector(weights="none", img_size=32),
        partial(torch.optim.SGD, lr=0.1),
        pos_weight=float("nan"),
        adversary=adversary,
        max_bad_steps=max_bad_steps,
    )
    fit_on_demo(module, batches=3, num_identities=24)
    return module


def fit_on_demo(module: DetectorModule, batches: int, num_identities: int, **trainer) -> None:
    """One epoch of `batches` training batches of 32 px demo crops, nothing else."""
    quiet = L.Trainer(
        max_epochs=1,
        limit_train_batches=batches,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **trainer,
    )
    data = DemoDataModule(num_identities=num_identities, image_size=32, batch_size=8)
    quiet.fit(module, datamodule=data)


@pytest.mark.parametrize("adversary", [None, Adversary(attack=PGD(steps=1))], ids=["clean", "pgd"])
def test_non_finite_steps_are_skipped_and_counted(adversary):
    torch.manual_seed(0)
    before = dict(Detector(weights="none", img_size=32).named_parameters())
    module = fit_with_nan_loss(adversary, max_bad_steps=10)
    assert module.skipped_steps == 3
    assert all(torch.equal(before[k], p) for k, p in module.net.named_parameters())


@pytest.mark.parametrize("adversary", [None, Adversary(attack=PGD(steps=1))], ids=["clean", "pgd"])
def test_persistent_non_finite_loss_stops_with_a_clear_message(adversary):
    with pytest.raises(NonFiniteLossError, match="NaN/inf for 2 steps in a row"):
        fit_with_nan_loss(adversary, max_bad_steps=2)


def test_16_mixed_loss_scaling_skips_overflowing_steps_then_trains():
    """fp16 autocast + GradScaler under manual optimization (what `16-mixed` does on a GPU;
    Lightning maps `16-mixed` to bf16 on CPU, so the plugin is built explicitly here)."""
    from lightning.pytorch.plugins import MixedPrecision

    torch.manual_seed(0)
    adversary = Adversary(
        attack=PGD(steps=2), unet=UNetAttacker(), unet_optimizer=partial(torch.optim.Adam, lr=1e-3)
    )
    module = DetectorModule(
        Detector(weights="none", img_size=32),
        partial(torch.optim.SGD, lr=0.1),
        adversary=adversary,
        gradient_clip_val=1.0,
    )
    before = {k: p.detach().clone() for k, p in module.net.named_parameters()}
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**20)  # overflows at first
    plugin = MixedPrecision("16-mixed", "cpu", scaler=scaler)
    fit_on_demo(module, batches=10, num_identities=80, plugins=[plugin])
    assert scaler.get_scale() < 2.0**20  # the scaler backed off instead of applying inf grads
    assert module.skipped_steps == 0  # finite losses: overflow is the scaler's job, not ours
    params = dict(module.net.named_parameters())
    assert all(torch.isfinite(p).all() for p in params.values())
    assert any(not torch.equal(before[k], p) for k, p in params.items())


@pytest.mark.parametrize("with_unet", [False, True], ids=["pgd", "pgd_unet"])
def test_a_checkpoint_holds_both_architectures_under_the_prefixes_the_readers_use(with_unet):
    """models.checkpoint's keys and weight prefixes are this module's attribute paths."""
    unet = UNetAttacker(base_channels=4, depth=2) if with_unet else None
    adam = partial(torch.optim.Adam, lr=1e-3) if with_unet else None
    net = Detector(weights="none", img_size=32)
    module = DetectorModule(net, adversary=Adversary(PGD(steps=1), unet, adam))
    checkpoint = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)
    assert checkpoint[SPEC_KEY] == net.spec and checkpoint[BAD_STEPS_KEY] == [0, 0]
    build_detector(checkpoint[SPEC_KEY]).load_state_dict(detector_state(checkpoint))  # strict
    found = read_attacker(checkpoint)
    if not with_unet:
        assert found is None
        return
    spec, weights = found
    assert spec == unet.spec
    UNetAttacker(**spec).load_state_dict(weights)  # strict: every tensor, nothing else


class EpsRecorder(L.Callback):
    """The share of eps each training batch attacks with, as the module computes it."""

    def __init__(self) -> None:
        self.scales: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.scales.append(pl_module.warmup_scale())


def warmup_run(epochs: int, ckpt_path=None, save_to=None) -> tuple[EpsRecorder, DetectorModule]:
    """TRADES with a 2-epoch eps warm-up on 3 batches per epoch of 32 px demo crops."""
    torch.manual_seed(0)
    adversary = Adversary(
        attack=PGD(eps=8 / 255, step_size=2 / 255, steps=1), objective="trades", warmup_epochs=2
    )
    module = DetectorModule(
        Detector(weights="none", img_size=32),
        partial(torch.optim.SGD, lr=0.01),
        adversary=adversary,
    )
    recorder = EpsRecorder()
    trainer = L.Trainer(
        max_epochs=epochs,
        limit_train_batches=3,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[recorder],
    )
    data = DemoDataModule(num_identities=24, image_size=32, batch_size=8)
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
    if save_to is not None:
        trainer.save_checkpoint(save_to)
    return recorder, module


def test_eps_ramps_over_warmup_epochs_and_continues_the_ramp_after_a_resume(tmp_path):
    whole, module = warmup_run(epochs=3)
    assert whole.scales == pytest.approx([1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1, 1, 1, 1])
    assert module.trainer.callback_metrics["train/eps"] == pytest.approx(8 / 255)  # logged
    assert torch.isfinite(module.trainer.callback_metrics["train/loss_pgd"])  # TRADES's KL
    first, _ = warmup_run(epochs=1, save_to=tmp_path / "epoch0.ckpt")
    resumed, _ = warmup_run(epochs=3, ckpt_path=tmp_path / "epoch0.ckpt")
    assert first.scales + resumed.scales == pytest.approx(whole.scales)


def adam_steps(optimizer: torch.optim.Optimizer) -> int:
    """How many updates an Adam optimizer has applied (0 before its first)."""
    states = list(optimizer.state.values())
    return int(states[0]["step"]) if states else 0


@pytest.mark.parametrize("batches, detector_moved", [(2, False), (3, True)])
def test_the_unet_warms_up_before_the_detectors_first_step(batches, detector_moved):
    """unet_warmup_steps=4 at unet_steps=2: the first two batches train the U-Net only,
    two updates each; from the third on, both."""
    torch.manual_seed(0)
    adversary = Adversary(
        unet=UNetAttacker(base_channels=4, depth=2, conditioned=True),
        unet_optimizer=partial(torch.optim.Adam, lr=1e-3),
        unet_steps=2,
        unet_warmup_steps=4,
    )
    module = DetectorModule(
        Detector(weights="none", img_size=32), partial(torch.optim.SGD, lr=0.1), adversary=adversary
    )
    before = {k: p.detach().clone() for k, p in module.net.named_parameters()}
    fit_on_demo(module, batches=batches, num_identities=40)
    detector, attacker = module.optimizers()
    assert adam_steps(attacker.optimizer) == 2 * batches
    moved = any(not torch.equal(before[k], p) for k, p in module.net.named_parameters())
    assert moved == detector_moved
    logged = module.trainer.callback_metrics
    assert {"attacker/success", "attacker/bce"} <= set(logged)
    if detector_moved:  # the detector's terms ran: the U-Net's effect on it is logged
        assert {"attacker/logit_shift", "attacker/freq_low", "attacker/freq_high"} <= set(logged)


class Spy(torch.nn.Module):
    """A platform that counts its calls and, so that its output is recognisable, blurs."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)


def test_training_through_a_platform_sends_every_attack_through_it(monkeypatch):
    spy = Spy()
    monkeypatch.setattr("fakeguard.training.adversary.platform", lambda name, eot: spy)
    adversary = Adversary(
        attack=PGD(steps=2),
        unet=UNetAttacker(base_channels=4, depth=2, conditioned=True),
        unet_optimizer=partial(torch.optim.Adam, lr=1e-3),
        through="jpeg50",
    )
    module = DetectorModule(
        Detector(weights="none", img_size=32), partial(torch.optim.SGD, lr=0.1), adversary=adversary
    )
    fit_on_demo(module, batches=2, num_identities=40)
    # per batch: PGD's 2 steps, its term, the U-Net's update and its term; clean never
    assert spy.calls == 2 * 5
    checkpoint = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)
    assert not any("platform" in key for key in checkpoint["state_dict"])
