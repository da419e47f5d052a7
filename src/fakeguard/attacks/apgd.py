"""APGD-CE: Auto-PGD on the cross-entropy (Croce & Hein 2020), from the Adversarial
Robustness Toolbox, as AutoAttack's standard version runs it (100 iterations, 1 restart).

The one-logit detector is attacked through two logits [0, z], whose softmax cross-entropy is
the BCE on z. AutoAttack's DLR attacks need 3 or more classes, so a binary detector gets
APGD-CE only. Like AutoAttack, ART returns an adversarial image only where it flips the
decision at 0.5 (elsewhere its random start): its accuracy is the robust accuracy, its AUC a
weak bound.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fakeguard.attacks.modes import eval_mode
from fakeguard.attacks.pgd import PGD_8_255
from fakeguard.attacks.registry import AttackSpec, budget, register

APGD_ITERATIONS = 100
APGD_RESTARTS = 1
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


class APGDCE:
    """ART's AutoProjectedGradientDescent with loss_type="cross_entropy", on two logits."""

    def __init__(self, eps: float = PGD_8_255["eps"]) -> None:
        self.eps = eps

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
            eps=self.eps,
            eps_step=2 * self.eps,  # APGD's own initial step (it halves it as it goes)
            max_iter=APGD_ITERATIONS,
            nb_random_init=APGD_RESTARTS,
            batch_size=len(x),
            loss_type="cross_entropy",
            verbose=False,
        )
        with eval_mode(model):
            x_adv = attack.generate(x.detach().cpu().numpy(), y.detach().long().cpu().numpy())
        return torch.from_numpy(x_adv).to(device=x.device, dtype=x.dtype)


register(
    "apgd-ce",
    AttackSpec(
        factory=APGDCE,
        title="APGD-CE",
        description=(
            f"ART AutoProjectedGradientDescent, cross-entropy on [0, z], "
            f"{budget(PGD_8_255['eps'])}, {APGD_ITERATIONS} iterations, {APGD_RESTARTS} "
            "restart; it keeps an adversarial image only where it flips the decision at 0.5, "
            "so read its accuracy (robust accuracy) rather than its AUC"
        ),
        white_box=True,
        report_note=DLR_NOTE,
    ),
)
