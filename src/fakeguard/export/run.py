"""`export(cfg)`: what `python -m fakeguard.export` runs (configs/export.yaml)."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from fakeguard import settings
from fakeguard.errors import UserError
from fakeguard.export.gasbench import (
    Packaging,
    check_packaging,
    gasbench_max_diff,
    write_gasbench_dir,
)
from fakeguard.export.inputs import INPUTS
from fakeguard.export.onnx_graph import check_parity, export_onnx, onnx_max_diff
from fakeguard.export.sidecar import load_safetensors, save_safetensors
from fakeguard.models.checkpoint import load_detector

log = logging.getLogger(__name__)
FORMATS = ("safetensors", "onnx", "gasbench")
SUFFIXES = {"safetensors": ".safetensors", "onnx": ".onnx"}  # gasbench writes a directory


def opset_range() -> tuple[int, int]:
    """The opsets torch's TorchScript ONNX exporter writes (private constants; a safe guess
    if they move)."""
    try:
        from torch.onnx import _constants

        return _constants.ONNX_MIN_OPSET, _constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET
    except (ImportError, AttributeError):  # pragma: no cover - depends on the torch version
        return 7, 17


def check_settings(cfg: DictConfig) -> None:
    """Every export setting, before the checkpoint is read: one `SettingError` naming it."""
    settings.one_of("format", cfg.format, FORMATS)
    suffix = SUFFIXES.get(cfg.format)
    if suffix and Path(cfg.out).suffix != suffix:
        raise UserError(f"out={cfg.out} must end in {suffix}")
    if cfg.format == "onnx":
        settings.one_of("onnx.input", cfg.onnx.input, INPUTS)
        low, high = opset_range()
        settings.whole_number("onnx.opset", cfg.onnx.opset, low, maximum=high)
        settings.positive_number("onnx.tolerance", cfg.onnx.tolerance)
    if cfg.format == "gasbench":
        check_packaging(packaging(cfg))


def packaging(cfg: DictConfig) -> Packaging:
    """export.yaml's `gasbench` group; a key that is no setting of it is named."""
    values = OmegaConf.to_container(cfg.gasbench, resolve=True)
    settings.group(
        "gasbench.", values, {key: lambda name, v: v for key in Packaging.__dataclass_fields__}
    )
    return Packaging(**values)


def export(cfg: DictConfig) -> dict[str, float]:
    """Export the checkpoint's detector to `cfg.out` in `cfg.format`, check the result the way
    a user would load it, print what was written and the check's figure."""
    check_settings(cfg)
    detector = load_detector(cfg.ckpt_path)
    out = Path(cfg.out).expanduser()
    spec = detector.spec
    print(f"{spec['arch']} ({spec['backbone']}, {spec['img_size']} px) from {cfg.ckpt_path}")
    if cfg.format == "safetensors":
        weights, sidecar = save_safetensors(detector, out)
        rebuilt = load_safetensors(weights)
        same = all(
            (a == b).all()
            for a, b in zip(
                detector.state_dict().values(), rebuilt.state_dict().values(), strict=True
            )
        )
        print(f"wrote {weights} and {sidecar}; rebuilt from the pair: identical tensors {same}")
        return {}
    if cfg.format == "onnx":
        export_onnx(detector, out, cfg.onnx.input, cfg.onnx.opset)
        diff = onnx_max_diff(detector, out, cfg.onnx.input)
        print(f"wrote {out} ({cfg.onnx.input} input, dynamic batch)")
        print(f"onnxruntime vs PyTorch: max abs diff {diff:.3g} (tolerance {cfg.onnx.tolerance:g})")
        check_parity(diff, cfg.onnx.tolerance)
        return {"max_abs_diff": diff}
    packed = packaging(cfg)
    write_gasbench_dir(detector, out, packed)
    diff = gasbench_max_diff(detector, out)
    print(f"wrote {out}/{{model_config.yaml,model.py,model.safetensors}}")
    takes = "whole frames, faces found inside" if packed.input == "frames" else "face crops"
    print(f"{packed.modality} model taking {takes}")
    print(f"loaded as gasbench does ({packed.dtype}): max |softmax[:, 1] - P(fake)| {diff:.3g}")
    return {"max_abs_diff": diff}
