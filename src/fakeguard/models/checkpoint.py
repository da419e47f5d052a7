"""What fakeguard puts in a checkpoint, written and read here only; detectors rebuilt from it
safely and with clear errors.

Next to Lightning's own entries, a training checkpoint holds:

- `fakeguard_detector`: the detector's `spec` (architecture arguments), so evaluate/export
  rebuild it with no model config; its weights are `state_dict["net.*"]`;
- `fakeguard_attacker`: the U-Net attacker's `spec`, when one was trained; its weights are
  `state_dict["adversary.unet.*"]`;
- `fakeguard_skipped_steps`: [steps skipped in all, skipped in a row] (non-finite losses);
- `fakeguard_data`: the run's data config (`data=...`, resolved, paths absolute), so evaluate.py
  scores a checkpoint on the data it was trained on unless told otherwise;
- `fakeguard_calibration` (`models.calibration.CALIBRATION_KEY`): a Platt calibration of the
  detector's logit (a plain dict), added after training by `python -m fakeguard.calibrate` or
  `evaluate.py calibrate=true calibration.save=true`; `load_detector` folds it into the
  detector's last layer, the `state_dict` keeps the uncalibrated weights (training resumes
  from those).

The weight prefixes are the attribute paths of `training.module.DetectorModule` (`net`,
`adversary.unet`); `tests/training/test_module.py` checks the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from fakeguard.files import write_atomically
from fakeguard.models.calibration import Calibration, fold_into, read_calibration, store_calibration
from fakeguard.models.detectors import Detector, build_detector
from fakeguard.models.safe_load import load_torch_file
from fakeguard.models.weights import IncompatibleCheckpointError, check_compatible

SPEC_KEY = "fakeguard_detector"  # where a checkpoint stores the detector's `spec`
ATTACKER_SPEC_KEY = "fakeguard_attacker"  # the U-Net attacker's `spec`
BAD_STEPS_KEY = "fakeguard_skipped_steps"  # [skipped in all, skipped in a row]
DATA_KEY = "fakeguard_data"  # the data config the run trained on
# Run folders keep Hydra's composed config here (checkpoints are in <run>/checkpoints/).
RUN_CONFIG = Path(".hydra") / "config.yaml"
DETECTOR_PREFIX = "net."  # the detector's weights in `state_dict`
ATTACKER_PREFIX = "adversary.unet."  # the U-Net attacker's weights in `state_dict`


class HasSpec(Protocol):
    spec: Mapping[str, Any]


def write_specs(
    checkpoint: dict[str, Any], detector: HasSpec, attacker: HasSpec | None = None
) -> None:
    """Store the detector's spec, and the attacker's when there is one, in `checkpoint`: the
    architectures travel with the weights."""
    checkpoint[SPEC_KEY] = dict(detector.spec)
    if attacker is not None:
        checkpoint[ATTACKER_SPEC_KEY] = dict(attacker.spec)


# Data settings that name files: stored absolute, so evaluate.py finds them from any directory.
DATA_PATH_KEYS = ("root", "manifest", "val_root", "test_root")


def data_record(data: Mapping[str, Any]) -> dict[str, Any]:
    """A data config as a checkpoint stores it: plain values, interpolations resolved, paths
    absolute."""
    if isinstance(data, DictConfig):
        data = OmegaConf.to_container(data, resolve=True)
    record = dict(data)
    for key in DATA_PATH_KEYS:
        if isinstance(record.get(key), str) and record[key] not in ("", "???"):
            record[key] = str(Path(record[key]).expanduser().resolve())
    return record


def read_data_config(path: str | Path) -> dict[str, Any] | None:
    """The data config a checkpoint was trained on: stored in it, else (a checkpoint from
    before it was stored) its run folder's Hydra config; None when neither says."""
    stored = read_checkpoint(path).get(DATA_KEY)
    if stored is not None:
        return dict(stored)
    run_config = Path(path).resolve().parent.parent / RUN_CONFIG
    if not run_config.is_file():
        return None
    data = OmegaConf.load(run_config).get("data")
    if data is None:
        return None
    try:
        return OmegaConf.to_container(data, resolve=True)
    except OmegaConfBaseException:  # an interpolation into the rest of that config
        return OmegaConf.to_container(data, resolve=False)


def read_attacker(
    checkpoint: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    """The U-Net attacker's spec and weights (prefix removed), or None when the checkpoint
    holds no attacker. `UNetAttacker(**spec).load_state_dict(weights)` rebuilds it."""
    spec = checkpoint.get(ATTACKER_SPEC_KEY)
    if spec is None:
        return None
    return dict(spec), _weights(checkpoint, ATTACKER_PREFIX)


def _weights(checkpoint: Mapping[str, Any], prefix: str) -> dict[str, torch.Tensor]:
    state = checkpoint.get("state_dict", {})
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


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


def detector_state(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The detector's tensors from a Lightning checkpoint (the module holds it as `net`)."""
    return _weights(checkpoint, DETECTOR_PREFIX)


def load_detector(path: str | Path, calibrated: bool = True) -> Detector:
    """Rebuild the detector stored in a fakeguard training checkpoint, in eval mode.

    When the checkpoint carries a calibration and `calibrated` is true, it is folded into the
    detector's last layer: the detector's logit is then the calibrated one, for every caller.
    `detector.calibration` is the calibration applied (None when none was)."""
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
    calibration = read_calibration(checkpoint, str(path)) if calibrated else None
    if calibration is not None:
        fold_into(detector, calibration)
    detector.calibration = calibration
    return detector.eval()


def stored_calibration(path: str | Path) -> Calibration | None:
    """The calibration a checkpoint file carries, or None."""
    return read_calibration(read_checkpoint(path), str(path))


def save_calibration(
    path: str | Path, calibration: Calibration, out: str | Path | None = None
) -> Path:
    """Store `calibration` in the checkpoint at `path` (replacing an older one), in place or,
    with `out`, as a calibrated copy there; everything else, weights included, is kept as it
    was. Written to a temporary file and renamed: a killed process never leaves half a
    checkpoint. Returns the path written."""
    checkpoint = read_checkpoint(path)
    if SPEC_KEY not in checkpoint:
        raise IncompatibleCheckpointError(
            f"{path} is not a fakeguard checkpoint (no '{SPEC_KEY}' entry)"
        )
    target = Path(out if out is not None else path).expanduser()
    calibrated = store_calibration(checkpoint, calibration)
    write_atomically(target, lambda tmp: torch.save(calibrated, tmp))
    return target
