"""L-inf PGD and FGSM (with random start) against one-logit deepfake detectors.

A detector maps pixels in [0, 1] of shape (N, 3, H, W) to logits (N,) of P(fake), label 1 =
fake. Normalisation lives inside the model, so `eps` and `step_size` are in pixel units
(8/255 = eight grey levels). Both attacks maximise the detector's own training loss,
`binary_cross_entropy_with_logits` with mean reduction, and return a detached batch `x_adv`
with `|x_adv - x| <= eps` exactly (checked in floating point, not just up to rounding) and
every pixel in [0, 1]. `x` itself must lie in [0, 1].

Why the attack runs the model in eval mode (and restores every submodule's flag afterwards):

* BatchNorm in train mode would update its running statistics with every intermediate
  iterate, i.e. `steps` polluting updates per attacked batch, from images that are neither
  clean nor the final adversarial ones.
* BatchNorm in train mode normalises with batch statistics, so each image's gradient would
  depend on the other images in the batch: the attack on one image would change with its
  neighbours.
* Dropout in train mode would make the objective random, so the sign-gradient steps would
  follow noise rather than the model.

The attack therefore targets the model as it will be deployed (eval), as the reference
implementations (Madry et al.'s, ART's `PyTorchClassifier.loss_gradient`) also do. Flags are
restored per module, not with `model.train(was_training)`, because detectors keep frozen
BatchNorm layers in eval mode on purpose while the rest trains.

Gradients are taken with `torch.autograd.grad` w.r.t. the input only, so parameters' `.grad`
are never touched and `requires_grad` on parameters is never toggled. The attack works inside
`torch.autocast` (the iterate stays in the input's dtype; the loss is computed in float32),
under `torch.no_grad()` and under `torch.inference_mode()` (e.g. Lightning validation).
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fakeguard.attacks.modes import eval_mode
from fakeguard.attacks.registry import AttackSpec, budget, in_255ths, register

# The PGD of the training default (configs/attack/pgd.yaml holds the same values) and of the
# evaluation `pgd` track: L-inf 8/255, 10 steps of 2/255, random start.
PGD_8_255: Mapping[str, Any] = MappingProxyType(
    {"eps": 8 / 255, "step_size": 2 / 255, "steps": 10, "random_start": True}
)


class PGD:
    """L-inf projected gradient descent (Madry et al. 2018), untargeted.

    Each of `steps` iterations takes a sign-gradient ascent step of `step_size` on the BCE loss,
    then projects onto the `eps`-ball around `x` and clamps to [0, 1]. With `random_start`, the
    first iterate is `x` plus uniform noise in [-eps, eps] (projected the same way).

    `samples` > 1 averages each step's gradient over that many forward passes: expectation
    over transformation (EOT, Athalye et al. 2018) against a model that draws a random
    platform in every pass (`fakeguard.attacks.through.Through` with an EOT platform).
    """

    def __init__(
        self,
        eps: float = PGD_8_255["eps"],
        step_size: float = PGD_8_255["step_size"],
        steps: int = PGD_8_255["steps"],
        random_start: bool = PGD_8_255["random_start"],
        samples: int = 1,
    ) -> None:
        if not (_is_real(eps) and math.isfinite(eps) and eps >= 0):
            raise ValueError(f"eps must be a finite number >= 0 (pixel units), got {eps!r}")
        if not (_is_real(step_size) and math.isfinite(step_size) and step_size > 0):
            raise ValueError(f"step_size must be a finite number > 0, got {step_size!r}")
        if not (isinstance(steps, int) and not isinstance(steps, bool) and steps >= 1):
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
        if not (isinstance(samples, int) and not isinstance(samples, bool) and samples >= 1):
            raise ValueError(f"samples must be an integer >= 1, got {samples!r}")
        self.samples = samples
        self.eps = float(eps)
        self.step_size = float(step_size)
        self.steps = steps
        self.random_start = bool(random_start)

    @property
    def passes(self) -> int:
        """Forward+backward passes through the model that one call costs."""
        return self.steps * self.samples

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(eps={self.eps:.6g}, step_size={self.step_size:.6g}, "
            f"steps={self.steps}, random_start={self.random_start}"
            + (f", samples={self.samples})" if self.samples > 1 else ")")
        )

    def scaled(self, factor: float) -> PGD:
        """A copy with `eps` and `step_size` times `factor` in (0, 1] (training's eps warm-up:
        the same attack, on a smaller budget)."""
        if not (_is_real(factor) and 0 < factor <= 1):
            raise ValueError(f"factor must be a number in (0, 1], got {factor!r}")
        attack = copy.copy(self)
        attack.eps = self.eps * float(factor)
        attack.step_size = self.step_size * float(factor)
        return attack

    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        start_std: float | None = None,
    ) -> torch.Tensor:
        """Adversarial pixels for `x` (N, 3, H, W) in [0, 1] with labels `y` (N,), detached.

        `loss(logits, y)` (float32 logits and `y`, a scalar) is the objective ascended instead
        of the BCE with `y`: TRADES passes the clean logits as `y` and the KL from the clean
        prediction. `start_std` starts from `x + start_std * N(0, 1)` (projected) instead of
        `random_start`'s uniform draw (TRADES starts at 0.001 * N(0, 1)).
        """
        # Leave inference mode and re-enable grad: callers may attack during validation.
        with eval_mode(model), torch.inference_mode(False), torch.enable_grad():
            return self._attack(model, x, y, loss, start_std)

    def _attack(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        start_std: float | None = None,
    ) -> torch.Tensor:
        # Clones are normal tensors even when the batch was built in inference mode.
        x = x.detach().clone()
        y = (
            y.detach().clone().to(device=x.device, dtype=torch.float32)
        )  # may be an inference tensor
        loss_fn = loss_fn or F.binary_cross_entropy_with_logits
        eps = _eps_tensor(self.eps, x)
        x_adv = x
        if start_std is not None:
            x_adv = _project(x + start_std * torch.randn_like(x), x, eps)
        elif self.random_start:
            noise = torch.empty_like(x).uniform_(-self.eps, self.eps)
            x_adv = _project(x + noise, x, eps)
        for _ in range(self.steps):
            x_adv = x_adv.detach().requires_grad_(True)
            grad = sum(
                # float32 loss: under bf16 autocast the logits are bf16.
                torch.autograd.grad(loss_fn(model(x_adv).float(), y), x_adv)[0]
                for _ in range(self.samples)
            )
            x_adv = _project(x_adv.detach() + self.step_size * grad.sign(), x, eps)
        return x_adv.detach()


class FGSM(PGD):
    """FGSM with random start ("Fast is better than free", Wong, Rice & Kolter 2020).

    One step of `step_size` (default 1.25 * eps, the paper's choice) from a uniform random
    start in the eps-ball, then the same projection and clamp as PGD.
    """

    def __init__(self, eps: float = PGD_8_255["eps"], step_size: float | None = None) -> None:
        if step_size is None and _is_real(eps) and eps == 0:
            raise ValueError("FGSM's default step_size is 1.25 * eps: give eps > 0 or a step_size")
        step = 1.25 * eps if step_size is None and _is_real(eps) else step_size
        super().__init__(eps=eps, step_size=step, steps=1, random_start=True)

    def __repr__(self) -> str:
        return f"FGSM(eps={self.eps:.6g}, step_size={self.step_size:.6g})"


def _project(x_adv: torch.Tensor, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Project onto the eps-ball around x, then clamp to [0, 1].

    x + clamp(x_adv - x) rounds to nearest, so `out - x` can exceed eps by a fraction of an
    ulp; such pixels move one ulp back towards x, which always lands inside the ball (and
    [0, 1], since x is inside). One ulp suffices: rounding overshoots by at most half of one.
    """
    out = (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)
    over = (out - x).abs() > eps
    return torch.where(over, torch.nextafter(out, x), out)


def _eps_tensor(eps: float, like: torch.Tensor) -> torch.Tensor:
    """eps in `like`'s dtype, rounded down: float32(8/255) > 8/255 would break the bound."""
    t = torch.tensor(eps, dtype=like.dtype)
    if t.item() > eps:
        t = torch.nextafter(t, torch.zeros_like(t))
    return t.to(like.device)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _describe(settings: Mapping[str, Any]) -> str:
    start = "random start" if settings["random_start"] else "no random start"
    return (
        f"{budget(settings['eps'])}, {settings['steps']} steps of "
        f"{in_255ths(settings['step_size'])}/255, {start}"
    )


# At another budget (`pgd@4`), the step keeps its ratio to eps: 2/255 at 8/255 -> eps / 4.
STEP_PER_EPS = PGD_8_255["step_size"] / PGD_8_255["eps"]


def pgd_settings(eps: float = PGD_8_255["eps"]) -> dict[str, Any]:
    """The `pgd` track's PGD-10 at L-inf `eps` (pixel units): steps of eps / 4."""
    return {**PGD_8_255, "eps": eps, "step_size": eps * STEP_PER_EPS}


def pgd_at(eps: float = PGD_8_255["eps"]) -> PGD:
    """The `pgd` track's PGD at L-inf `eps` (`pgd@<eps>`)."""
    return PGD(**pgd_settings(eps))


register(
    "pgd",
    AttackSpec(
        factory=pgd_at,
        title="PGD white box",
        short_title="PGD",
        description=_describe(PGD_8_255),
        white_box=True,
        eps=PGD_8_255["eps"],
        describe=lambda eps: _describe(pgd_settings(eps)),
    ),
)

# `pgd-eot`: the `pgd` track's PGD-10 with each step's gradient averaged over EOT_SAMPLES
# draws of the platform distribution (evaluate.py's `eot` config group).
EOT_SAMPLES = 4


def pgd_eot(eps: float = PGD_8_255["eps"], samples: int = EOT_SAMPLES) -> PGD:
    """The `pgd` track's PGD at `eps`, each step's gradient an average over `samples` passes."""
    return PGD(**pgd_settings(eps), samples=samples)


def _describe_eot(eps: float, samples: int) -> str:
    return (
        f"{_describe(pgd_settings(eps))}, through the EOT platform distribution "
        f"(configs/eot), each step's gradient averaged over {samples} draws"
    )


register(
    "pgd-eot",
    AttackSpec(
        factory=pgd_eot,
        title="PGD + EOT (platform distribution)",
        short_title="PGD-EOT",
        description=_describe_eot(PGD_8_255["eps"], EOT_SAMPLES),
        white_box=True,
        eps=PGD_8_255["eps"],
        settings={"samples": EOT_SAMPLES},
        describe=_describe_eot,
        through="eot",
    ),
)
