"""The attacks of the evaluation tracks, pinned like the suite: figures stay comparable.

All attacks are untargeted L-inf attacks with the 8/255 budget that training uses by default,
white box against the checkpoint being scored, on its model input (after the resize):

- `pgd`: the training setting (`configs/attack/pgd.yaml`): 10 steps of 2/255, random start.
- `pgd-strong`: 50 steps of 2/255 from 5 random starts; each sample keeps the restart with the
  highest loss (its worst case).
- `apgd-ce`: Auto-PGD on the cross-entropy (Croce & Hein 2020) from the Adversarial Robustness
  Toolbox, 100 iterations and 1 restart as in AutoAttack's standard version. The one-logit
  detector is attacked through two logits [0, z], whose softmax cross-entropy is the BCE on z.
  AutoAttack's DLR attacks need 3 or more classes, so a binary detector gets APGD-CE only.
  Like AutoAttack, ART returns an adversarial image only where it flips the decision at 0.5
  (elsewhere its random start): its accuracy is the robust accuracy, its AUC a weak bound.
- `unet`: a learned U-Net attacker from a training checkpoint (`load_attacker`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fakeguard.attacks.modes import eval_mode
from fakeguard.attacks.pgd import PGD
from fakeguard.attacks.unet import UNetAttacker
from fakeguard.models.checkpoint import read_checkpoint
from fakeguard.training.module import ATTACKER_SPEC_KEY

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]

EPS = 8 / 255
STEP = 2 / 255
STRONG_STEPS = 50
STRONG_RESTARTS = 5
APGD_ITERATIONS = 100
APGD_RESTARTS = 1
ATTACKER_PREFIX = "adversary.unet."  # the U-Net's weights in a training checkpoint
DLR_NOTE = (
    "AutoAttack's DLR attacks need 3 or more classes; a binary detector is attacked with "
    "APGD-CE only"
)


class TwoLogits(nn.Module):
    """[0, z]: softmax cross-entropy over these equals BCE-with-logits on z."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x).float().reshape(-1, 1)
        return torch.cat([torch.zeros_like(z), z], dim=1)


class WorstOfRestarts:
    """`restarts` runs of a random-start attack; each sample keeps the run with the highest
    loss, so more restarts can only make the attack stronger."""

    def __init__(self, attack: Attack, restarts: int) -> None:
        self.attack = attack
        self.restarts = restarts

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        best = x.detach().clone()
        best_loss = torch.full((len(x),), -torch.inf, device=x.device)
        for _ in range(self.restarts):
            x_adv = self.attack(model, x, y)
            loss = per_sample_loss(model, x_adv, y)
            better = loss > best_loss
            best[better] = x_adv[better]
            best_loss = torch.where(better, loss, best_loss)
        return best


def per_sample_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The detector's BCE per sample, in eval mode."""
    with eval_mode(model), torch.no_grad():
        logits = model(x).float().flatten()
        return F.binary_cross_entropy_with_logits(logits, y.float().flatten(), reduction="none")


class APGDCE:
    """ART's AutoProjectedGradientDescent with loss_type="cross_entropy", on two logits."""

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        from art.attacks.evasion import AutoProjectedGradientDescent
        from art.estimators.classification import PyTorchClassifier

        classifier = PyTorchClassifier(
            model=TwoLogits(model),
            loss=nn.CrossEntropyLoss(),
            input_shape=tuple(x.shape[1:]),
            nb_classes=2,
            clip_values=(0.0, 1.0),
            device_type="cpu" if x.device.type == "cpu" else "gpu",
        )
        attack = AutoProjectedGradientDescent(
            classifier,
            norm=np.inf,
            eps=EPS,
            eps_step=2 * EPS,  # APGD's own initial step (it halves it as it goes)
            max_iter=APGD_ITERATIONS,
            nb_random_init=APGD_RESTARTS,
            batch_size=len(x),
            loss_type="cross_entropy",
            verbose=False,
        )
        with eval_mode(model):
            x_adv = attack.generate(x.detach().cpu().numpy(), y.detach().long().cpu().numpy())
        return torch.from_numpy(x_adv).to(device=x.device, dtype=x.dtype)


class UNetAttack:
    """A trained U-Net attacker: clamp(x + unet(x), 0, 1)."""

    def __init__(self, unet: UNetAttacker) -> None:
        self.unet = unet.eval()

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.unet.to(x.device)
        with torch.no_grad():
            return self.unet.perturb(x)


def pinned_attack(name: str) -> Attack:
    """The attack of an evaluation track, except `unet` (which needs an attacker)."""
    if name == "pgd":
        return PGD(eps=EPS, step_size=STEP, steps=10, random_start=True)
    if name == "pgd-strong":
        strong = PGD(eps=EPS, step_size=STEP, steps=STRONG_STEPS, random_start=True)
        return WorstOfRestarts(strong, STRONG_RESTARTS)
    if name == "apgd-ce":
        return APGDCE()
    raise ValueError(f"no pinned attack {name!r}")


def load_attacker(path: str | Path) -> UNetAttacker | None:
    """The U-Net attacker stored in a training checkpoint, or None when it holds none."""
    checkpoint = read_checkpoint(path)
    spec = checkpoint.get(ATTACKER_SPEC_KEY)
    if spec is None:
        return None
    state = checkpoint.get("state_dict", {})
    weights = {
        k[len(ATTACKER_PREFIX) :]: v for k, v in state.items() if k.startswith(ATTACKER_PREFIX)
    }
    unet = UNetAttacker(**spec)
    unet.load_state_dict(weights)
    return unet.eval()


def describe() -> dict[str, str]:
    """The pinned settings, for the report."""
    return {
        "pgd": f"L-inf {EPS * 255:.0f}/255, 10 steps of {STEP * 255:.0f}/255, random start",
        "pgd-strong": (
            f"L-inf {EPS * 255:.0f}/255, {STRONG_STEPS} steps of {STEP * 255:.0f}/255, "
            f"{STRONG_RESTARTS} random starts, worst case per sample"
        ),
        "apgd-ce": (
            f"ART AutoProjectedGradientDescent, cross-entropy on [0, z], L-inf "
            f"{EPS * 255:.0f}/255, {APGD_ITERATIONS} iterations, {APGD_RESTARTS} restart; it "
            "keeps an adversarial image only where it flips the decision at 0.5, so read its "
            "accuracy (robust accuracy) rather than its AUC"
        ),
        "unet": "the U-Net attacker of a training checkpoint, its own eps",
    }
