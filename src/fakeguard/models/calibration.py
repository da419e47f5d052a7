"""Platt scaling of a detector's logit: P(fake) = sigmoid(scale * z + bias).

A trained detector ranks well but its P(fake) may be off: shifted (a threshold of 0.5 in the
wrong place) or over/under-confident. Temperature alone only rescales; Platt's two parameters
also move the threshold. `fit_platt` fits them on held-out logits (evaluate.py `calibrate=true`,
`python -m fakeguard.calibrate`), a checkpoint stores them as a plain dict under
`CALIBRATION_KEY` (loadable with `weights_only=True`), and `fold_into` writes them into the
detector's last `Linear(features, 1)` (w' = a*w, c' = a*c + b), so everything downstream of
`models.checkpoint.load_detector` (predict, evaluate, every export) gives calibrated P(fake)
with no code of its own.

The fold happens only in `load_detector`, on the rebuilt network: a checkpoint's `state_dict`
keeps the uncalibrated weights. Lightning's resume (`train.py ckpt_path=...`) and
`trainer.test(ckpt_path=...)` read that `state_dict` and ignore this key, so training never
continues from folded weights, and the checkpoints a resumed run writes carry no calibration
(its weights change; the old fit would not hold for them). `tests/models/test_calibration.py`
checks that writing a calibration leaves `state_dict` bit for bit as it was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch
from torch import nn

from fakeguard.models.weights import IncompatibleCheckpointError

CALIBRATION_KEY = "fakeguard_calibration"  # where a checkpoint stores its calibration
METHOD = "platt"
FIT_SPLIT = "val"  # calibration is fitted on the validation split, never on test


@dataclass(frozen=True)
class Calibration:
    """P(fake) = sigmoid(scale * logit + bias), and what it was fitted on."""

    scale: float
    bias: float
    tracks: tuple[str, ...] = ("clean",)
    split: str = FIT_SPLIT
    n: int = 0  # samples x tracks the fit pooled
    n_fake: int = 0
    fitted_at: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )
    method: str = METHOD

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and math.isfinite(self.bias)):
            raise ValueError(f"a calibration needs finite numbers, got {self.scale}, {self.bias}")

    def logits(self, z: np.ndarray) -> np.ndarray:
        """Calibrated logits of uncalibrated ones (float64)."""
        return self.scale * np.asarray(z, dtype=np.float64) + self.bias

    def probs(self, z: np.ndarray) -> np.ndarray:
        """Calibrated P(fake) of uncalibrated logits (float64)."""
        return sigmoid(self.logits(z))

    def as_record(self) -> dict[str, Any]:
        """What a checkpoint stores: floats, ints, strings and a list of strings only."""
        return {
            "method": self.method,
            "scale": float(self.scale),
            "bias": float(self.bias),
            "tracks": list(self.tracks),
            "split": self.split,
            "n": int(self.n),
            "n_fake": int(self.n_fake),
            "fitted_at": self.fitted_at,
        }

    @classmethod
    def from_record(cls, record: Any, where: str = "the checkpoint") -> Calibration:
        """The calibration a checkpoint stores; an `IncompatibleCheckpointError` when the record
        is not one this version reads."""
        try:
            if not isinstance(record, Mapping) or record.get("method", METHOD) != METHOD:
                raise TypeError("not a Platt calibration")
            return cls(
                scale=_number(record["scale"]),
                bias=_number(record["bias"]),
                tracks=tuple(str(t) for t in record.get("tracks", ("clean",))),
                split=str(record.get("split", FIT_SPLIT)),
                n=int(record.get("n", 0)),
                n_fake=int(record.get("n_fake", 0)),
                fitted_at=str(record.get("fitted_at", "")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise IncompatibleCheckpointError(
                f"{where} holds a '{CALIBRATION_KEY}' entry this version cannot read ({error}); "
                "refit it with python -m fakeguard.calibrate"
            ) from None

    def describe(self) -> str:
        """`Platt scaling a=1.234, b=-0.567 (val, tracks clean+jpeg50, n=600, fitted ...)`."""
        return (
            f"Platt scaling a={self.scale:.4g}, b={self.bias:+.4g} (fitted on {self.split}, "
            f"tracks {'+'.join(self.tracks)}, n={self.n}, {self.fitted_at})"
        )


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) in float64 without overflow warnings."""
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -z))


def read_calibration(
    checkpoint: Mapping[str, Any], where: str = "the checkpoint"
) -> Calibration | None:
    """The calibration stored in a loaded checkpoint, or None."""
    record = checkpoint.get(CALIBRATION_KEY)
    return None if record is None else Calibration.from_record(record, where)


def store_calibration(checkpoint: Mapping[str, Any], calibration: Calibration) -> dict[str, Any]:
    """A copy of `checkpoint` with `calibration` stored (an older one replaced); the weights,
    `state_dict` included, are the same objects, untouched."""
    return {**checkpoint, CALIBRATION_KEY: calibration.as_record()}


def last_linear(detector: nn.Module) -> nn.Linear:
    """The detector's final `Linear(features, 1)`: `head[-1]` of every fakeguard detector."""
    head = getattr(detector, "head", None)
    last = head[-1] if isinstance(head, nn.Sequential) and len(head) else None
    if not isinstance(last, nn.Linear) or last.out_features != 1 or last.bias is None:
        raise TypeError(
            f"{type(detector).__name__} does not end in a Linear(features, 1) with a bias "
            "(head[-1]); a calibration cannot be folded into it"
        )
    return last


def fold_into(detector: nn.Module, calibration: Calibration) -> nn.Module:
    """Write the calibration into the detector's last layer, in place: its logit becomes
    scale * z + bias. Returns the detector."""
    layer = last_linear(detector)
    with torch.no_grad():
        layer.weight.mul_(calibration.scale)
        layer.bias.mul_(calibration.scale).add_(calibration.bias)
    return detector


# Newton on (a, b) stops when the largest gradient component, per sample, is below this.
GRADIENT_TOL = 1e-10
MAX_ITERATIONS = 100
# Levenberg term on the Hessian's diagonal (as in Lin, Lin & Weng 2007): keeps the 2x2 system
# solvable when the fit is nearly degenerate; far too small to move a solution.
HESSIAN_RIDGE = 1e-12


def fit_platt(
    logits: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray
) -> tuple[float, float]:
    """(scale, bias) minimising the log loss of sigmoid(scale * z + bias), in float64.

    Robust to separable data through Platt's target smoothing (Platt 1999; Lin, Lin & Weng,
    "A note on Platt's probabilistic outputs", 2007): fakes are fitted to (N+ + 1) / (N+ + 2)
    and reals to 1 / (N- + 2) instead of 1 and 0, so the optimum is finite even when a
    threshold separates the classes (with hard targets the scale would grow without bound),
    and the smoothing vanishes as the split grows. Newton's method with a backtracking line
    search; the objective is convex, so it converges from the start of Lin et al.
    (a = 0, b = log((N- + 1) / (N+ + 1))).

    A ValueError when the logits are not finite, the labels are not all 0/1, only one class
    is present, or every logit is the same (nothing to fit a scale on).
    """
    z = np.asarray(logits, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    if z.shape != y.shape or not len(z):
        raise ValueError(f"need as many labels as logits, at least one; got {z.shape}, {y.shape}")
    if not np.isfinite(z).all():
        raise ValueError("the logits are not all finite")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    n_fake = float(y.sum())
    n_real = float(len(y) - n_fake)
    if n_fake == 0 or n_real == 0:
        raise ValueError(
            f"both classes are needed to fit a calibration; got {int(n_fake)} fake and "
            f"{int(n_real)} real"
        )
    if np.ptp(z) == 0:
        raise ValueError("every logit is the same: there is no spread to fit a scale on")
    target = np.where(y == 1, (n_fake + 1) / (n_fake + 2), 1 / (n_real + 2))

    def loss(a: float, b: float) -> float:
        f = a * z + b
        return float(np.sum(target * np.logaddexp(0.0, -f) + (1 - target) * np.logaddexp(0.0, f)))

    a, b = 0.0, math.log((n_real + 1) / (n_fake + 1))
    current = loss(a, b)
    for _ in range(MAX_ITERATIONS):
        p = sigmoid(a * z + b)
        residual = p - target
        gradient = np.array([residual @ z, residual.sum()])
        if np.abs(gradient).max() < GRADIENT_TOL * len(z):
            break
        weight = p * (1 - p)
        hessian = np.array(
            [[weight @ (z * z), weight @ z], [weight @ z, weight.sum()]]
        ) + HESSIAN_RIDGE * np.eye(2)
        step = -np.linalg.solve(hessian, gradient)
        slope = float(gradient @ step)
        t = 1.0
        while t > 1e-12:
            trial = loss(a + t * step[0], b + t * step[1])
            if trial <= current + 1e-4 * t * slope:
                break
            t /= 2
        else:  # no decrease along a descent direction: at the optimum to rounding
            break
        a, b, current = a + t * step[0], b + t * step[1], trial
    return float(a), float(b)


def fit_calibration(
    logits: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    tracks: Sequence[str] = ("clean",),
    split: str = FIT_SPLIT,
) -> Calibration:
    """`fit_platt` on uncalibrated logits, with what it was fitted on."""
    scale, bias = fit_platt(logits, labels)
    labels = np.asarray(labels)
    return Calibration(
        scale, bias, tuple(tracks), split, n=int(labels.size), n_fake=int(labels.sum())
    )
