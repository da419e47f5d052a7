"""APGD-CE: Auto-PGD on the cross-entropy (Croce & Hein 2020), in torch, keeping for every
sample its highest-loss iterate.

The one-logit detector's BCE on its logit z is the softmax cross-entropy over two logits
[0, z] (`TwoLogits`), so APGD-CE here ascends `binary_cross_entropy_with_logits` per sample.
AutoAttack's DLR attacks need 3 or more classes, so a binary detector gets APGD-CE only.

Why not ART's (or AutoAttack's) implementation: they return an adversarial image only where it
flips the decision at 0.5, and elsewhere the random start, so their AUC is a weak bound that
cannot be set against PGD's (which returns its last iterate for every sample). This one returns,
for every sample, the iterate with the highest loss it reached, so its AUC is comparable with
PGD's at the same eps: an APGD-CE AUC well above PGD's would point at gradient masking.

The algorithm (paper, Algorithm 1, L-inf):

* x0: uniform random start in the eps-ball; eta = 2 * eps.
* x1 = P(x0 + eta * sign(grad)); then z = P(xk + eta * sign(grad)) and
  x(k+1) = P(xk + alpha * (z - xk) + (1 - alpha) * (xk - x(k-1))), alpha = 0.75.
* Checkpoints w_j = ceil(p_j * iterations), p_0 = 0, p_1 = 0.22,
  p_(j+1) = p_j + max(p_j - p_(j-1) - 0.03, 0.06). At each, per sample, eta is halved and the
  iterate restarts from the best point so far when (1) the loss rose in fewer than
  rho = 0.75 of the steps since the last checkpoint, or (2) eta was not halved at the last
  checkpoint and the best loss has not improved since.

P is the exact L-inf projection of `fakeguard.attacks.pgd` (the bound holds in floating point)
followed by the [0, 1] clamp. Random restarts keep the worst case per sample
(`WorstOfRestarts`). The model runs in eval mode, with gradients on, out of inference mode,
like PGD.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fakeguard.attacks.modes import eval_mode
from fakeguard.attacks.pgd import PGD_8_255, _eps_tensor, _project
from fakeguard.attacks.registry import Attack, AttackSpec, budget, register
from fakeguard.attacks.restarts import WorstOfRestarts

# AutoAttack's standard version: 100 iterations, 1 restart for APGD-CE. evaluate.yaml's
# attack_budgets.apgd-ce sets both per run.
APGD_ITERATIONS = 100
APGD_RESTARTS = 1
MOMENTUM = 0.75
RHO = 0.75
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


def checkpoints(iterations: int) -> list[int]:
    """The iterations w_1 < w_2 < ... (< iterations) at which APGD may halve its step."""
    p = [0.0, 0.22]
    while True:
        step = max(p[-1] - p[-2] - 0.03, 0.06)
        if p[-1] + step > 1:
            break
        p.append(p[-1] + step)
    found = sorted({math.ceil(q * iterations - 1e-9) for q in p[1:]})
    return [w for w in found if 0 < w < iterations]


class APGD:
    """One run of L-inf APGD on the per-sample BCE (= CE on [0, z]), from a random start.

    Returns, for every sample, the iterate with the highest loss (the random start included).
    """

    def __init__(self, eps: float = PGD_8_255["eps"], iterations: int = APGD_ITERATIONS) -> None:
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a finite number > 0 (pixel units), got {eps!r}")
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ValueError(f"iterations must be a whole number >= 1, got {iterations!r}")
        self.eps = float(eps)
        self.iterations = iterations

    @property
    def passes(self) -> int:
        """Forward+backward passes through the model that one call costs."""
        return self.iterations + 1

    def __repr__(self) -> str:
        return f"APGD(eps={self.eps:.6g}, iterations={self.iterations})"

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Highest-loss pixels for `x` (N, 3, H, W) in [0, 1] with labels `y` (N,), detached."""
        with eval_mode(model), torch.inference_mode(False), torch.enable_grad():
            return self._attack(model, x, y)

    def _attack(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x.detach().clone()
        y = y.detach().clone().to(device=x.device, dtype=torch.float32).flatten()
        eps = _eps_tensor(self.eps, x)
        n = len(x)
        shape = (n,) + (1,) * (x.ndim - 1)

        def loss_and_grad(point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            point = point.detach().requires_grad_(True)
            logits = model(point).float().flatten()
            loss = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
            (grad,) = torch.autograd.grad(loss.sum(), point)
            return loss.detach(), grad.detach()

        x_cur = _project(x + torch.empty_like(x).uniform_(-self.eps, self.eps), x, eps)
        loss, grad = loss_and_grad(x_cur)
        x_best, loss_best, grad_best = x_cur.clone(), loss.clone(), grad.clone()
        step = torch.full(shape, 2 * self.eps, dtype=x.dtype, device=x.device)
        x_prev = x_cur
        marks = checkpoints(self.iterations)
        last_mark = 0
        increases = torch.zeros(n, device=x.device)  # loss rises since the last checkpoint
        best_at_mark = loss_best.clone()
        halved_at_mark = torch.zeros(n, dtype=torch.bool, device=x.device)
        for k in range(self.iterations):
            z = _project(x_cur + step * grad.sign(), x, eps)
            if k == 0:
                x_next = z
            else:
                x_next = _project(
                    x_cur + MOMENTUM * (z - x_cur) + (1 - MOMENTUM) * (x_cur - x_prev), x, eps
                )
            x_prev, x_cur = x_cur, x_next
            new_loss, grad = loss_and_grad(x_cur)
            increases += (new_loss > loss).float()
            loss = new_loss
            better = loss > loss_best
            x_best[better], grad_best[better] = x_cur[better], grad[better]
            loss_best = torch.where(better, loss, loss_best)
            if marks and k + 1 == marks[0]:
                window = marks.pop(0) - last_mark
                oscillating = increases < RHO * window
                stalled = ~halved_at_mark & (loss_best <= best_at_mark)
                halve = oscillating | stalled
                if halve.any():
                    step[halve] /= 2
                    # restart from the best point, without momentum
                    x_cur, x_prev = x_cur.clone(), x_prev.clone()
                    x_cur[halve] = x_best[halve]
                    x_prev[halve] = x_best[halve]
                    grad[halve] = grad_best[halve]
                    loss = torch.where(halve, loss_best, loss)
                halved_at_mark, best_at_mark = halve, loss_best.clone()
                increases.zero_()
                last_mark = k + 1
        return x_best.detach()


def apgd_ce(
    eps: float = PGD_8_255["eps"],
    iterations: int = APGD_ITERATIONS,
    restarts: int = APGD_RESTARTS,
) -> Attack:
    """APGD-CE at L-inf `eps`: `restarts` random starts, the worst case per sample."""
    run = APGD(eps, iterations)
    return run if restarts == 1 else WorstOfRestarts(run, restarts)


def _describe(eps: float, iterations: int, restarts: int) -> str:
    starts = "1 random start" if restarts == 1 else f"{restarts} random starts (worst case)"
    return (
        f"Auto-PGD (Croce & Hein 2020, fakeguard's torch port) on the BCE (= cross-entropy on "
        f"[0, z]), {budget(eps)}, {iterations} iterations from a step of 2 * eps, momentum "
        f"{MOMENTUM}, {starts}, {iterations * restarts} gradient steps per image; every sample "
        "keeps its highest-loss iterate, so its AUC compares with PGD's at the same eps"
    )


register(
    "apgd-ce",
    AttackSpec(
        factory=apgd_ce,
        title="APGD-CE",
        description=_describe(PGD_8_255["eps"], APGD_ITERATIONS, APGD_RESTARTS),
        white_box=True,
        report_note=DLR_NOTE,
        eps=PGD_8_255["eps"],
        settings={"iterations": APGD_ITERATIONS, "restarts": APGD_RESTARTS},
        describe=_describe,
    ),
)
