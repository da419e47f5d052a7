"""A fakeguard deepfake detector for the BitMind gasbench harness (Bittensor subnet 34).

Written by `python -m fakeguard.export format=gasbench`; self-contained: it needs torch,
torchvision, timm and safetensors, not fakeguard. `load_model(weights_path)` returns an
eval-mode module whose forward takes uint8 RGB images [B, 3, H, W] (or, for a video model,
clips [B, T, 3, H, W]) in 0-255 and returns logits [B, 2] ordered [real, synthetic]:
fakeguard's one logit z of P(fake) as [-z/2, z/2], so softmax(logits)[:, 1] = sigmoid(z).

With INPUT = "frames" the input is whole frames: the faces in them are found and cut as
`fakeguard.prepare` cut the training data (MTCNN, margin, resize and pad), each is scored,
and a frame's score is its highest face score (FACES["face_score"] = "largest" takes the
largest face's). A frame without a face is scored whole; `fallback_rate` counts how often.
A clip's frame scores are combined with the DFDC winner's confident strategy.
With INPUT = "crops" the input is already a face crop, as fakeguard's datasets hold them.
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
INPUT: str = "frames"
FACES: dict[str, Any] = {
    "thresholds": [0.85, 0.95, 0.95], "min_face_size": 20, "margin": 0.3,
    "face_score": "max", "video_threshold": 0.8,
}  # fmt: skip
# --- end of exported architecture ---

# fakeguard.export replaces these lines with the source of fakeguard/export/gasbench_faces.py.
# --- face finder ---
from fakeguard.export.gasbench_faces import FaceFinder, crop_box, resize_and_pad  # noqa: E402

# --- end of face finder ---


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


class FrameModel(nn.Module):
    """Whole frames or clips in, [real, synthetic] logits out: `detector` on the faces that
    `faces` finds, the whole frame where it finds none. Its tensors: `detector.*`, `faces.*`."""

    def __init__(self, detector: FakeguardDetector, settings: dict[str, Any]) -> None:
        super().__init__()
        if settings["face_score"] not in ("max", "largest"):
            raise ValueError(f"face_score must be max or largest, not {settings['face_score']}")
        self.detector = detector
        self.faces = FaceFinder(settings["thresholds"], settings["min_face_size"])
        self.settings = dict(settings)
        self.side = int(SPEC["img_size"])
        # counters the user can read: frames scored, and those scored whole (no face found)
        self.register_buffer("frames_seen", torch.zeros((), dtype=torch.long), persistent=False)
        self.register_buffer("frames_whole", torch.zeros((), dtype=torch.long), persistent=False)

    @property
    def fallback_rate(self) -> float:
        """The share of frames scored so far in which no face was found."""
        return float(self.frames_whole) / max(int(self.frames_seen), 1)

    def crops(self, frame: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        """A frame [3, H, W] and its faces [n, 5] -> detector inputs [n, 3, S, S], or the
        whole frame [1, 3, S, S] when there is no face (counted)."""
        _, h, w = frame.shape
        boxes = [crop_box(box, h, w, self.settings["margin"]) for box in faces]
        self.frames_seen += 1
        if not boxes:
            self.frames_whole += 1
            return resize_and_pad(frame, self.side).unsqueeze(0)
        cut = [resize_and_pad(frame[:, y1:y2, x1:x2], self.side) for x1, y1, x2, y2 in boxes]
        return torch.stack(cut)

    def frame_logits(self, frames: torch.Tensor, batch: int = 64) -> torch.Tensor:
        """uint8 frames [N, 3, H, W] -> fakeguard's logit z of P(fake) per frame [N]: faces
        found in all frames at once, every crop scored in batches of `batch`."""
        pixels = frames.float()
        found = self.faces(pixels)
        crops = [self.crops(frame, faces) for frame, faces in zip(pixels, found, strict=True)]
        inputs = torch.cat(crops)
        z = torch.cat(
            [
                self.detector.classifier(self.detector.embed(inputs[i : i + batch]))[:, 1] * 2
                for i in range(0, len(inputs), batch)
            ]
        )
        scores = []
        for part in z.split([len(c) for c in crops]):
            scores.append(part.max() if self.settings["face_score"] == "max" else part[0])
        return torch.stack(scores).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 5:  # clips [B, T, 3, H, W]
            b, t = x.shape[:2]
            probs = torch.sigmoid(self.frame_logits(x.flatten(0, 1))).view(b, t)
            p = torch.stack(
                [confident_mean(row, self.settings["video_threshold"]) for row in probs]
            )
            z = torch.logit(p.clamp(1e-6, 1 - 1e-6))
        else:
            z = self.frame_logits(x)
        return torch.stack([-z / 2, z / 2], dim=1).to(self.detector.mean.dtype)


def confident_mean(probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """`fakeguard.scoring.video.confident_mean`: the mean of the confidently fake frames
    when there are enough, else of the confidently real ones when they dominate, else of all."""
    fakes = probs[probs > threshold]
    if len(fakes) > len(probs) / 2.5 and len(fakes) > 11:
        return fakes.mean()
    reals = probs[probs < 0.2]
    if len(reals) > 0.9 * len(probs):
        return reals.mean()
    return probs.mean()


# The mirror of each architecture in fakeguard's `DETECTORS`, under the same name. An
# architecture missing here cannot be exported; tests/export checks every registered one.
MIRRORS: dict[str, type[FakeguardDetector]] = {
    "Detector": FakeguardDetector,
    "EfficientViT": FakeguardEfficientViT,
}


def build_model(input_kind: str = INPUT) -> nn.Module:
    """The exported model without weights: the detector alone for face crops, or the detector
    behind the face finder for whole frames."""
    if SPEC["arch"] not in MIRRORS:
        raise ValueError(f"this model.py has no mirror of fakeguard's {SPEC['arch']}")
    detector = MIRRORS[SPEC["arch"]](SPEC, MEAN, STD)
    return FrameModel(detector, FACES) if input_kind == "frames" else detector


def load_model(weights_path: str, num_classes: int = 2) -> nn.Module:
    """The model with its weights, in eval mode (the gasbench entry point)."""
    if num_classes != 2:
        raise ValueError(f"this detector has 2 classes [real, synthetic], not {num_classes}")
    model = build_model()
    model.load_state_dict(load_file(weights_path))
    model.train(False)
    return model
