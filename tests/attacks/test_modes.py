"""The attacker's view of a detector: eval mode, optionally frozen, always restored."""

from __future__ import annotations

import pytest
import torch

from fakeguard.attacks.modes import eval_mode, frozen


def mixed_model() -> torch.nn.Module:
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2), torch.nn.Dropout())
    net.train()
    net[1].eval()  # a frozen BatchNorm kept in eval while the rest trains
    return net


def test_eval_mode_restores_each_submodules_own_flag():
    net = mixed_model()
    with eval_mode(net):
        assert not any(m.training for m in net.modules())
    assert [m.training for m in net] == [True, False, True] and net.training


def test_frozen_restores_flags_and_grad_switches_even_after_an_error():
    net = mixed_model()
    net[0].bias.requires_grad_(False)
    with pytest.raises(RuntimeError), frozen(net):
        assert not any(p.requires_grad for p in net.parameters())
        raise RuntimeError
    assert net[0].weight.requires_grad and not net[0].bias.requires_grad
    assert [m.training for m in net] == [True, False, True]
