"""ONNX export with a dynamic batch axis, verified against PyTorch with onnxruntime."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from fakeguard.errors import UserError
from fakeguard.export.inputs import PixelInput, random_pixels
from fakeguard.models.detectors import Detector

INPUT_NAME, OUTPUT_NAME = "pixels", "logit"
MISSING = 'ONNX export needs onnx and onnxruntime: pip install -e ".[onnx]"'


class ParityError(UserError):
    """onnxruntime and PyTorch disagree by more than the tolerance."""


def export_onnx(detector: Detector, path: str | Path, kind: str = "float", opset: int = 17) -> Path:
    """Write `detector` (eval mode) as an ONNX graph taking (batch, 3, S, S) pixels of `kind`
    ("float" in [0, 1] or "uint8") and returning (batch,) logits of P(fake)."""
    _require_onnx()
    path = Path(path)
    if path.suffix != ".onnx":
        raise UserError(f"out={path} must end in .onnx")
    path.parent.mkdir(parents=True, exist_ok=True)
    model = PixelInput(detector.eval(), kind).eval()
    example = random_pixels(kind, 2, detector.spec["img_size"])
    with warnings.catch_warnings():
        # The traced graph is specialised to the input size (EfficientViT's positional
        # embedding check); only the batch axis is dynamic, as declared.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,  # the TorchScript exporter: no onnxscript dependency
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset,
        )
    return path


def onnx_max_diff(
    detector: Detector, path: str | Path, kind: str = "float", batch: int = 3, seed: int = 1
) -> float:
    """Max |onnxruntime - PyTorch| over the logits of `batch` random inputs (a batch size the
    graph was not traced with, so the dynamic axis is exercised too)."""
    _require_onnx()
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = random_pixels(kind, batch, detector.spec["img_size"], seed)
    (ours,) = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
    with torch.inference_mode():
        reference = PixelInput(detector.eval(), kind)(x).numpy()
    if ours.shape != reference.shape:
        raise ParityError(f"ONNX output shape {ours.shape} != PyTorch {reference.shape}")
    return float(np.abs(ours - reference).max())


def check_parity(max_diff: float, tolerance: float) -> None:
    if not max_diff <= tolerance:  # NaN fails too
        raise ParityError(
            f"onnxruntime differs from PyTorch by {max_diff:.3g} (> {tolerance:g}); "
            "the ONNX file was written but should not be used"
        )


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise UserError(MISSING) from None
