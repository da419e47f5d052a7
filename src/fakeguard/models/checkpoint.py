"""Rebuild detectors from fakeguard checkpoints, safely and with clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fakeguard.models.detectors import Detector, build_detector
from fakeguard.models.safe_load import load_torch_file
from fakeguard.models.weights import IncompatibleCheckpointError, check_compatible

SPEC_KEY = "fakeguard_detector"  # where a checkpoint stores the detector's `spec`


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True`: a checkpoint never executes code.

    A missing file is a `MissingFileError`; one that is not a checkpoint (empty, text, damaged,
    or a pickle that would import code) an `UnreadableCheckpointError` saying which.
    """
    path = Path(path)
    checkpoint = load_torch_file(path, "checkpoint")
    if not isinstance(checkpoint, dict):
        raise IncompatibleCheckpointError(
            f"{path} is not a fakeguard checkpoint (it holds a {type(checkpoint).__name__}, "
            "not a dict)"
        )
    return checkpoint


def detector_state(checkpoint: dict[str, Any], prefix: str = "net.") -> dict[str, torch.Tensor]:
    """The detector's tensors from a Lightning checkpoint (the module holds it as `net`)."""
    state = checkpoint.get("state_dict", {})
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def load_detector(path: str | Path) -> Detector:
    """Rebuild the detector stored in a fakeguard training checkpoint, in eval mode."""
    checkpoint = read_checkpoint(path)
    spec = checkpoint.get(SPEC_KEY)
    if spec is None:
        raise IncompatibleCheckpointError(
            f"{path} is not a fakeguard checkpoint (no '{SPEC_KEY}' entry)"
        )
    try:
        detector = build_detector(spec)
    except (TypeError, ValueError) as error:  # a spec this version cannot build
        raise IncompatibleCheckpointError(
            f"{path} holds a detector this version of fakeguard cannot build: {error}"
        ) from None
    state = detector_state(checkpoint)
    check_compatible(detector, state, str(path))
    detector.load_state_dict(state)
    return detector.eval()
