"""A fakeguard deepfake detector for the BitMind gasbench harness (Bittensor subnet 34).

Written by `python -m fakeguard.export format=gasbench`; self-contained: it needs torch, timm
and safetensors, not fakeguard. `load_model(weights_path)` returns an eval-mode module whose
forward takes uint8 RGB images [B, 3, H, W] in 0-255 and returns logits [B, 2] ordered
[real, synthetic]: fakeguard's one logit z of P(fake) as [-z/2, z/2], so that
softmax(logits)[:, 1] = sigmoid(z) = fakeguard's P(fake).

The detector was trained on MTCNN face crops (30% margin); the harness feeds whole frames.
"""

from typing import Any

import timm
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

# fakeguard.export replaces the lines between these markers with the exported model's values.
# --- exported architecture ---
SPEC: dict[str, Any] = {"arch": "Detector", "backbone": "tf_efficientnet_lite0", "img_size": 224}
MEAN: list[float] = [0.5, 0.5, 0.5]
STD: list[float] = [0.5, 0.5, 0.5]
# --- end of exported architecture ---


class FakeguardDetector(nn.Module):
    """fakeguard's `Detector` (timm backbone + linear head), for inference only. Tensor names
    match fakeguard's, except the final layer: `classifier`, Linear(features, 2). A subclass
    mirrors a subclass of `Detector`: its layers between the backbone and the final Linear in
    `build_head`, their forward in `forward_head`."""

    def __init__(self, spec: dict[str, Any], mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.backbone = timm.create_model(spec["backbone"], pretrained=False, num_classes=0)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.classifier = nn.Linear(self.build_head(spec), 2)  # [real, synthetic]

    def build_head(self, spec: dict[str, Any]) -> int:
        """Create the layers before `classifier`; return the classifier's input width."""
        return self.backbone.num_features

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """The backbone's feature map -> the classifier's input [B, width]."""
        return self.backbone.forward_head(features, pre_logits=True)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 [B, 3, H, W] -> the classifier's input [B, width]."""
        x = x.to(self.mean.dtype) / 255.0  # the harness casts the module to its dtype
        return self.forward_head(self.backbone.forward_features((x - self.mean) / self.std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


class FakeguardEfficientViT(FakeguardDetector):
    """fakeguard's `EfficientViT`: the backbone's feature grid as tokens through a Transformer
    encoder, the CLS token through an MLP head."""

    def build_head(self, spec: dict[str, Any]) -> int:
        dim, mlp_dim = spec["dim"], spec["mlp_dim"]
        reduction = self.backbone.feature_info[-1]["reduction"]
        self.grid = max(spec["img_size"] // reduction, 1)
        self.proj = nn.Linear(self.backbone.num_features, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid**2, dim))
        layer = nn.TransformerEncoderLayer(
            dim, spec["heads"], mlp_dim, 0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, spec["depth"], enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, mlp_dim), nn.GELU())
        return mlp_dim

    def position_embedding(self, h: int, w: int) -> torch.Tensor:
        cls_pos, grid_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        if (h, w) != (self.grid, self.grid):
            grid_pos = grid_pos.reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
            grid_pos = F.interpolate(grid_pos, size=(h, w), mode="bicubic", align_corners=False)
            grid_pos = grid_pos.permute(0, 2, 3, 1).reshape(1, h * w, -1)
        return torch.cat([cls_pos, grid_pos], dim=1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        n, _, h, w = features.shape
        tokens = self.proj(features.flatten(2).transpose(1, 2))
        tokens = torch.cat([self.cls_token.expand(n, -1, -1), tokens], dim=1)
        tokens = self.encoder(tokens + self.position_embedding(h, w))
        return self.head(tokens[:, 0])


# The mirror of each architecture in fakeguard's `DETECTORS`, under the same name. An
# architecture missing here cannot be exported; tests/export checks every registered one.
MIRRORS: dict[str, type[FakeguardDetector]] = {
    "Detector": FakeguardDetector,
    "EfficientViT": FakeguardEfficientViT,
}


def load_model(weights_path: str, num_classes: int = 2) -> nn.Module:
    """The detector with its weights, in eval mode (the gasbench entry point)."""
    if num_classes != 2:
        raise ValueError(f"this detector has 2 classes [real, synthetic], not {num_classes}")
    if SPEC["arch"] not in MIRRORS:
        raise ValueError(f"this model.py has no mirror of fakeguard's {SPEC['arch']}")
    model = MIRRORS[SPEC["arch"]](SPEC, MEAN, STD)
    model.load_state_dict(load_file(weights_path))
    model.train(False)
    return model
