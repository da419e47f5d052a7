"""Context managers that put a detector in the state an attacker needs, then restore it.

Flags are restored per submodule, not with `model.train(was_training)`: detectors keep frozen
BatchNorm layers in eval mode on purpose while the rest trains.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Every submodule in eval mode inside; each one's own flag restored on exit."""
    flags = {m: m.training for m in module.modules()}
    module.eval()
    try:
        yield
    finally:
        for m, training in flags.items():
            m.training = training


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Eval mode and no parameter gradients inside (a fixed opponent); all restored on exit."""
    grads = {p: p.requires_grad for p in module.parameters()}
    for p in grads:
        p.requires_grad_(False)
    try:
        with eval_mode(module):
            yield
    finally:
        for p, flag in grads.items():
            p.requires_grad_(flag)
