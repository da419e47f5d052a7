"""Detector weights as safetensors plus a JSON sidecar: rebuildable anywhere, no pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from fakeguard.errors import MissingFileError, UserError
from fakeguard.models.detectors import Detector, build_detector
from fakeguard.models.safe_load import load_safetensors_file
from fakeguard.models.weights import check_compatible

FORMAT = "fakeguard-detector"
VERSION = 1


def sidecar_path(weights: str | Path) -> Path:
    """`model.safetensors` -> `model.json` beside it."""
    return Path(weights).with_suffix(".json")


def describe(detector: Detector) -> dict[str, Any]:
    """What a reader needs besides the weights: the architecture `spec`, the input it takes
    and the normalisation the model applies itself (informative: it is inside the model)."""
    size = detector.spec["img_size"]
    return {
        "format": FORMAT,
        "version": VERSION,
        "spec": dict(detector.spec),
        "input": {"shape": [None, 3, size, size], "dtype": "float32", "range": [0.0, 1.0]},
        "input_colour": "RGB",
        "normalization": {
            "mean": detector.mean.flatten().tolist(),
            "std": detector.std.flatten().tolist(),
            "inside_model": True,
        },
        "output": "one logit per image; sigmoid(logit) = P(fake), 1 = fake",
    }


def save_safetensors(detector: Detector, weights: str | Path) -> tuple[Path, Path]:
    """Write `weights` (.safetensors) and its sidecar (.json); return both paths."""
    weights = Path(weights)
    if weights.suffix != ".safetensors":
        raise UserError(f"out={weights} must end in .safetensors")
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file(cpu_state(detector), str(weights), metadata={"format": FORMAT})
    sidecar = sidecar_path(weights)
    sidecar.write_text(json.dumps(describe(detector), indent=2) + "\n")
    return weights, sidecar


def load_safetensors(weights: str | Path) -> Detector:
    """Rebuild a detector, in eval mode, from a .safetensors file and its .json sidecar."""
    weights, sidecar = Path(weights), sidecar_path(weights)
    for path in (weights, sidecar):
        if not path.is_file():
            raise MissingFileError(f"export file not found: {path}")
    try:
        info = json.loads(sidecar.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{sidecar} is not a fakeguard detector sidecar ({error})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT or info.get("version") != VERSION:
        raise UserError(f"{sidecar} is not a fakeguard detector sidecar (version {VERSION})")
    state = load_safetensors_file(weights, "safetensors export")
    detector = build_detector(info["spec"])
    check_compatible(detector, state, str(weights))
    detector.load_state_dict(state)  # strict: every tensor must match
    return detector.eval()


def cpu_state(detector: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict as safetensors wants it: CPU, contiguous, no shared storage."""
    return {k: v.detach().cpu().contiguous() for k, v in detector.state_dict().items()}
