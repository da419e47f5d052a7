"""Grad-CAM panels: where a detector looks for "fake", on clean and attacked inputs.

The map is taken on the backbone's final feature map (`forward_features`), the grid both
detector families share, with the logit of P(fake) as the target for every sample. Hardening
that works tends to move the evidence from the face border (blending seams) to the inner face.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from pytorch_grad_cam import GradCAM  # noqa: E402
from pytorch_grad_cam.utils.image import show_cam_on_image  # noqa: E402
from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget  # noqa: E402
from torch import nn  # noqa: E402

from fakeguard.models.detectors import Detector  # noqa: E402


class _FeatureTap(nn.Module):
    """The detector with an identity layer on its final feature map, for Grad-CAM's hooks."""

    def __init__(self, detector: Detector) -> None:
        super().__init__()
        self.detector = detector
        self.features = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.detector.forward_head(self.features(self.detector.forward_features(x)))


def cam_maps(detector: Detector, x: torch.Tensor) -> np.ndarray:
    """(N, H, W) Grad-CAM maps in [0, 1] for the P(fake) logit."""
    tap = _FeatureTap(detector)
    flags = {m: m.training for m in detector.modules()}
    try:
        with GradCAM(model=tap, target_layers=[tap.features]) as cam:
            maps = cam(input_tensor=x, targets=[BinaryClassifierOutputTarget(1)] * len(x))
    finally:
        detector.zero_grad(set_to_none=True)  # Grad-CAM backpropagates into the weights
        for m, training in flags.items():
            m.training = training
    return maps


def panel(
    detector: Detector,
    columns: Sequence[tuple[str, torch.Tensor]],
    labels: Sequence[int],
    path: Path,
    title: str,
) -> Path:
    """Rows: samples; per named input batch, the image and its Grad-CAM overlay."""
    n, k = len(labels), len(columns)
    fig, axes = plt.subplots(n, 2 * k, figsize=(2.2 * 2 * k, 2.3 * n), squeeze=False)
    for c, (name, x) in enumerate(columns):
        maps = cam_maps(detector, x)
        with torch.no_grad():
            probs = torch.sigmoid(detector(x).float().flatten()).cpu().numpy()
        images = x.detach().float().cpu().permute(0, 2, 3, 1).numpy().clip(0, 1)
        for r in range(n):
            truth = "fake" if labels[r] == 1 else "real"
            axes[r, 2 * c].imshow(images[r])
            axes[r, 2 * c].set_title(f"{name} ({truth})\nP(fake) {probs[r]:.2f}", fontsize=8)
            overlay = show_cam_on_image(images[r].astype(np.float32), maps[r], use_rgb=True)
            axes[r, 2 * c + 1].imshow(overlay)
            axes[r, 2 * c + 1].set_title(f"Grad-CAM, {name}", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def panel_samples(labels: Sequence[int], count: int) -> list[int]:
    """Fixed sample indices for the panels: the first reals and fakes in order, alternating."""
    reals = [i for i, y in enumerate(labels) if y == 0][: (count + 1) // 2]
    fakes = [i for i, y in enumerate(labels) if y == 1][: count // 2]
    return sorted(reals + fakes)
