"""`square`: ART's Square Attack (Andriushchenko et al. 2020), the black-box check against
gradient masking that AutoAttack runs next to APGD.

Square only reads the detector's scores: each iteration it proposes a random square of
+-2 eps (one sign per channel) on the current point, projects onto the L-inf ball and keeps
it where the margin loss falls. A white-box attack whose gradients are masked (shattered,
obfuscated or saturated) is beaten by it; `fakeguard.evaluation.masking` flags a checkpoint
where Square's AUC is below the white-box attacks' at the same eps.

It runs ART's `SquareAttack` (L-inf, p_init 0.8 as in AutoAttack, one restart) through ART's
`PyTorchClassifier` over the detector as two logits [0, z] (as `attacks.apgd.TwoLogits`):
there the margin (the label's logit minus the other one) is +-z, so lowering it is raising
the detector's BCE.

What ART does, read from its source (1.20.1), and what this wrapper changes:

* By default it only attacks samples its `adv_criterion` calls correct: a sample already
  misclassified is returned clean, and a sample leaves the loop at the first iterate that
  flips the decision at 0.5, i.e. just across the boundary. A sample it cannot flip keeps
  its lowest-margin iterate (ART accepts a square only where the loss improves, from the
  clean image on), not the clean image. AUC ranks the scores, so stopping at the boundary
  (and not attacking what is already wrong) leaves scores near 0.5 that PGD, which returns
  its last iterate for every sample, pushes far across: the two AUCs would not compare. The
  wrapper therefore passes a criterion that calls no sample adversarial: every sample gets
  the whole query budget.
* ART's margin subtracts the second-highest logit, which for two classes is the label's own
  once the decision is wrong: 0 on every misclassified point, so with that criterion alone a
  misclassified sample would never move. The wrapper passes the two-class margin (the
  label's logit minus the other one) instead. Every sample then comes back as the
  highest-BCE point Square found, never below the clean image's BCE (a proposal is kept only
  where it lowers the margin): the semantics of our APGD-CE, so the AUCs compare.
* With that criterion ART's restarts would start again from the clean image and overwrite
  the first run, so `nb_restarts` stays 1.
* Each iteration ART queries the whole batch three times (is it still correct? the current
  loss, the proposal's loss) where the algorithm needs one. `_Oracle` remembers the last few
  batches row by row and forwards only rows it has not scored, so `queries` (ART's
  `max_iter`) is the number of detector queries per image, plus at most two (clean, first
  stripes): a third of the time.
* One square position and its channel signs are drawn per iteration for the whole batch (the
  paper draws per image); each image still accepts or rejects it on its own loss. A square
  never starts on the last row or column (`randint`'s exclusive end), so only the first
  stripes move the bottom-right edge. The randomness is numpy's global generator (the scorer
  seeds it per batch).
* ART computes in float64 and casts to float32, which can overshoot eps by an ulp: the result
  is projected onto the ball exactly (`fakeguard.attacks.pgd._project`).

ART's `PyTorchClassifier` moves its model to a device of its own choosing (cuda:current or
cpu) and sets its train flag: the detector is kept out of its reach inside `_Oracle`, which
runs it on the input's device, in eval mode with every flag restored (`eval_mode`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from fakeguard.attacks.modes import eval_mode
from fakeguard.attacks.pgd import PGD_8_255, _eps_tensor, _project
from fakeguard.attacks.registry import Attack, AttackSpec, budget, register

SQUARE_QUERIES = 1000  # AutoAttack's standard version runs 5000; evaluate.yaml can set it
P_INIT = 0.8  # AutoAttack's L-inf setting: a square covers 80% of the image at first
REMEMBERED = 3  # batches `_Oracle` keeps: the current point, the last proposal, one spare


class _Oracle(nn.Module):
    """The detector as ART queries it: [0, z] on CPU, each distinct image scored once.

    The detector sits in a tuple, not as a submodule, so ART's `.to(device)` and
    `.train(False)` never reach it; it gets ART's float32 arrays on `like`'s device and in
    its dtype. Rows are matched by position against the last `REMEMBERED` batches (Square
    keeps every sample in place), and only new ones are scored. `images` counts the images
    the detector scored.
    """

    def __init__(self, detector: nn.Module, like: torch.Tensor) -> None:
        super().__init__()
        self._detector = (detector,)
        self.device, self.dtype = like.device, like.dtype
        self.images = 0
        self._seen: deque[tuple[torch.Tensor, torch.Tensor]] = deque(maxlen=REMEMBERED)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(device=self.device, dtype=self.dtype)
        z = torch.empty(len(x), device=self.device)
        known = torch.zeros(len(x), dtype=torch.bool, device=self.device)
        for seen_x, seen_z in self._seen:
            if seen_x.shape == x.shape:
                hit = ~known & (seen_x == x).flatten(1).all(dim=1)
                z[hit] = seen_z[hit]
                known |= hit
        new = ~known
        if new.any():
            z[new] = self._detector[0](x[new]).float().flatten()
            self.images += int(new.sum())
        self._seen.append((x, z))
        return torch.stack([torch.zeros_like(z), z], dim=1).cpu()


def _never_adversarial(y_pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ART's `adv_criterion` that keeps every sample in the loop for the whole budget."""
    return np.zeros(len(y), dtype=bool)


def _margin(classifier: Any, batch_size: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The label's logit minus the other one (`y` one-hot over two classes), = -+z on [0, z].

    ART's own margin subtracts the second-highest logit, which is the label's own once the
    decision flips: 0 on every misclassified point, so nothing past the boundary improves it.
    """

    def loss(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        logits = classifier.predict(x, batch_size=batch_size)
        return (logits * (2 * y - 1)).sum(axis=1)

    return loss


class Square:
    """L-inf Square Attack at `eps` with `queries` iterations; per sample, the highest-BCE
    point it found (see the module docstring)."""

    def __init__(self, eps: float = PGD_8_255["eps"], queries: int = SQUARE_QUERIES) -> None:
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a finite number > 0 (pixel units), got {eps!r}")
        if isinstance(queries, bool) or not isinstance(queries, int) or queries < 1:
            raise ValueError(f"queries must be a whole number >= 1, got {queries!r}")
        self.eps = float(eps)
        self.queries = queries

    def __repr__(self) -> str:
        return f"Square(eps={self.eps:.6g}, queries={self.queries})"

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Attacked pixels for `x` (N, 3, H, W) in [0, 1] with labels `y` (N,), detached."""
        if len(x) == 0:
            return x.detach().clone()
        with eval_mode(model), torch.no_grad():
            found = self._generate(_Oracle(model, x), x, y)
        x_adv = torch.from_numpy(found).to(device=x.device, dtype=x.dtype)
        return _project(x_adv, x.detach(), _eps_tensor(self.eps, x))

    def _generate(self, oracle: _Oracle, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        from art.attacks.evasion import SquareAttack
        from art.estimators.classification import PyTorchClassifier

        classifier = PyTorchClassifier(
            model=oracle,
            loss=nn.CrossEntropyLoss(),
            input_shape=tuple(x.shape[1:]),
            nb_classes=2,
            clip_values=(0.0, 1.0),
            device_type="cpu",  # where ART keeps its arrays; the oracle runs on x's device
        )
        attack = SquareAttack(
            classifier,
            norm=np.inf,
            adv_criterion=_never_adversarial,
            loss=_margin(classifier, len(x)),
            max_iter=self.queries,
            eps=self.eps,
            p_init=P_INIT,
            nb_restarts=1,
            batch_size=len(x),
            verbose=False,
        )
        labels = y.detach().flatten().round().long().cpu().numpy()
        return attack.generate(x.detach().float().cpu().numpy(), labels)


def square(eps: float = PGD_8_255["eps"], queries: int = SQUARE_QUERIES) -> Attack:
    """The `square` track's attack at L-inf `eps` (`square@<eps>`) with `queries` per image."""
    return Square(eps, queries)


def _describe(eps: float, queries: int) -> str:
    return (
        f"Square Attack (Andriushchenko et al. 2020, ART's SquareAttack), black box (scores "
        f"only), {budget(eps)}, {queries} queries per image, p_init {P_INIT}, 1 restart; "
        "every sample gets the whole budget and keeps its highest-loss point, so its AUC "
        "compares with the white-box attacks' at the same eps"
    )


MASKING_NOTE = (
    "Square is AutoAttack's black-box check: where it beats the white-box attacks at the same "
    "eps, their gradients are likely masked and their AUC overstates robustness"
)

register(
    "square",
    AttackSpec(
        factory=square,
        title="Square (black box)",
        short_title="Square",
        description=_describe(PGD_8_255["eps"], SQUARE_QUERIES),
        white_box=False,
        report_note=MASKING_NOTE,
        eps=PGD_8_255["eps"],
        settings={"queries": SQUARE_QUERIES},
        describe=_describe,
    ),
)
