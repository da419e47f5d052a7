"""Detectors: pixels in [0, 1] in, one logit of P(fake) out (docs/design.md, decisions 1 and 2)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from fakeguard.models.backbones import LITE0, create_backbone, freeze_all_but_last


class Detector(nn.Module):
    """Any timm backbone plus a one-logit head, with normalisation inside the model.

    `spec` records the constructor arguments that define the architecture (not the weight
    source), so a checkpoint or an export can rebuild the same network without pickle.
    """

    # Constructor arguments of a small instance (tests, examples): every layer kept, fast on
    # a CPU. A subclass with arguments of its own that make it slow gives smaller ones here.
    EXAMPLE_ARGS: ClassVar[dict[str, Any]] = {"img_size": 64}

    @classmethod
    def example_spec(cls) -> dict[str, Any]:
        """A small spec of this architecture that `build_detector` accepts."""
        return {"arch": cls.__name__, **cls.EXAMPLE_ARGS}

    def __init__(
        self,
        backbone: str = LITE0,
        weights: str | None = "none",
        img_size: int = 224,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.spec: dict[str, Any] = {
            "arch": type(self).__name__,
            "backbone": backbone,
            "img_size": img_size,
            "drop_rate": drop_rate,
        }
        self.backbone = create_backbone(backbone, weights)
        cfg = self.backbone.pretrained_cfg
        # Non-persistent: derived from the backbone name, so old checkpoints stay loadable.
        self.register_buffer("mean", torch.tensor(cfg["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg["std"]).view(1, 3, 1, 1), persistent=False)
        self.num_features = self.backbone.num_features
        self.head = nn.Sequential(nn.Dropout(drop_rate), nn.Linear(self.num_features, 1))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Map pixels in [0, 1] to the backbone's expected input."""
        return (x - self.mean) / self.std

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels (N, 3, H, W) in [0, 1] -> the backbone's final feature map (N, C, h, w)."""
        return self.backbone.forward_features(self.normalize(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        pooled = self.backbone.forward_head(features, pre_logits=True)
        return self.head(pooled).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels (N, 3, H, W) in [0, 1] -> logits (N,) of P(fake)."""
        return self.forward_head(self.forward_features(x))

    def freeze_backbone(self, trainable_blocks: int | None) -> int:
        """Freeze the backbone except its last `trainable_blocks` groups; return groups frozen."""
        frozen = freeze_all_but_last(self.backbone, trainable_blocks)
        self.train(self.training)
        return frozen

    def train(self, mode: bool = True) -> Detector:
        # A frozen BatchNorm must not drift either: keep its running statistics as loaded.
        super().train(mode)
        for module in self.backbone.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and _is_frozen(module):
                module.eval()
        return self


class EfficientViT(Detector):
    """EfficientNet feature grid -> tokens -> Transformer encoder -> MLP head on the CLS token.

    At 224 px the backbone gives 1280 x 7 x 7, i.e. 49 tokens; with the CLS token that is 50
    positions. Other input sizes work: the patch positional embeddings are interpolated to the
    feature grid actually seen.
    """

    EXAMPLE_ARGS: ClassVar[dict[str, Any]] = {"img_size": 64, "dim": 64, "mlp_dim": 128}

    def __init__(
        self,
        backbone: str = LITE0,
        weights: str | None = "none",
        img_size: int = 224,
        drop_rate: float = 0.1,
        dim: int = 512,
        depth: int = 4,
        heads: int = 4,
        mlp_dim: int = 1024,
        attn_dropout: float = 0.1,
    ) -> None:
        super().__init__(backbone, weights, img_size, drop_rate)
        self.spec.update(
            dim=dim, depth=depth, heads=heads, mlp_dim=mlp_dim, attn_dropout=attn_dropout
        )
        reduction = self.backbone.feature_info[-1]["reduction"]
        self.grid = max(img_size // reduction, 1)
        self.proj = nn.Linear(self.num_features, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + self.grid**2, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, mlp_dim, attn_dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, mlp_dim),
            nn.GELU(),
            nn.Dropout(drop_rate),
            nn.Linear(mlp_dim, 1),
        )

    def position_embedding(self, h: int, w: int) -> torch.Tensor:
        """(1, 1 + h*w, dim): the CLS position as learned, the grid resized to h x w."""
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
        return self.head(tokens[:, 0]).squeeze(-1)


DETECTORS: dict[str, type[Detector]] = {cls.__name__: cls for cls in (Detector, EfficientViT)}


def build_detector(spec: dict[str, Any], weights: str | None = "none") -> Detector:
    """Rebuild a detector from its `spec` (as stored in checkpoints and exports)."""
    spec = dict(spec)
    arch = spec.pop("arch", None)
    if arch not in DETECTORS:
        raise ValueError(f"unknown detector architecture {arch!r}; known: {sorted(DETECTORS)}")
    return DETECTORS[arch](weights=weights, **spec)


def _is_frozen(module: nn.Module) -> bool:
    params = list(module.parameters(recurse=False))
    return bool(params) and not any(p.requires_grad for p in params)
