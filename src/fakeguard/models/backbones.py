"""timm backbones with offline-friendly weight loading and partial freezing."""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn

from fakeguard.models.weights import (
    WEIGHT_SOURCES,
    check_compatible,
    lite0_state_dict,
    load_state_file,
)

LITE0 = "tf_efficientnet_lite0"


def create_backbone(name: str, weights: str | None = "none", **kwargs) -> nn.Module:
    """A timm model without classifier (`num_classes=0`), weights from one of four sources.

    weights: "none" (random init), "timm" (timm's hub, needs internet), "lite0" (the packaged
    EfficientNet-Lite0 ImageNet weights; backbone must be tf_efficientnet_lite0), or a path to a
    local `.safetensors` / `.pth` file holding a timm state dict for `name`.
    """
    weights = "none" if weights in (None, "", False) else str(weights)
    if weights == "timm":
        return timm.create_model(name, pretrained=True, num_classes=0, **kwargs)
    if weights == "none":
        return timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
    if weights == "lite0":
        if name != LITE0:
            raise ValueError(f"weights='lite0' needs backbone '{LITE0}', got '{name}'")
        model = timm.create_model(name, pretrained=False, **kwargs)
        model.load_state_dict(lite0_state_dict(model))
        model.reset_classifier(0)
        return model
    if Path(weights).suffix in (".safetensors", ".pth", ".pt", ".bin", ".ckpt"):
        model = timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
        load_backbone_state(model, load_state_file(weights), source=weights)
        return model
    raise ValueError(f"unknown weights {weights!r}; expected one of {WEIGHT_SOURCES}")


def load_backbone_state(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load a backbone state dict, ignoring classifier tensors; fail if a feature tensor is off."""
    head = model.default_cfg.get("classifier", "classifier")
    state = {k: v for k, v in state.items() if not k.startswith(f"{head}.")}
    check_compatible(model, state, source)
    model.load_state_dict(state)


def backbone_groups(model: nn.Module) -> list[list[str]]:
    """Parameter names grouped stem -> blocks -> head, in forward order (timm's coarse groups)."""
    groups = timm.models.group_parameters(model, model.group_matcher(coarse=True))
    return [names for _, names in sorted(groups.items())]


def freeze_all_but_last(model: nn.Module, trainable_blocks: int | None) -> int:
    """Freeze every backbone group except the last `trainable_blocks`; return how many froze.

    None keeps everything trainable. The frozen groups' BatchNorm layers are also kept in eval
    mode by the detector (see `Detector.train`), so their running statistics stay ImageNet's.
    """
    if trainable_blocks is None:
        return 0
    groups = backbone_groups(model)
    if trainable_blocks < 0:
        raise ValueError(f"trainable_blocks must be >= 0 or null, got {trainable_blocks}")
    frozen = groups[: max(len(groups) - trainable_blocks, 0)]
    names = {n for group in frozen for n in group}
    for name, param in model.named_parameters():
        param.requires_grad_(name not in names)
    return len(frozen)
