"""A model directory for the BitMind gasbench harness: model_config.yaml, model.safetensors and
a self-contained model.py (the `gasbench_model.py` template with the architecture filled in).

gasbench wants two logits ordered [real, synthetic]; fakeguard's detectors give one logit z of
P(fake). The conversion happens here, at the boundary: the head's last Linear(features, 1)
becomes `classifier`, Linear(features, 2) with rows -w/2 and w/2 (biases -b/2, b/2), so the
logits are [-z/2, z/2] and their softmax[:, 1] = sigmoid(z).

The template mirrors each detector architecture by hand (its `MIRRORS`, keyed like
`fakeguard.models.detectors.DETECTORS`); an architecture without a mirror is refused, and
tests/export checks every registered architecture against its mirror.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import yaml
from safetensors.torch import save_file

from fakeguard.errors import UserError
from fakeguard.export.gasbench_model import MIRRORS
from fakeguard.export.inputs import random_pixels
from fakeguard.export.sidecar import cpu_state
from fakeguard.models.detectors import Detector

TEMPLATE = Path(__file__).with_name("gasbench_model.py")
MARKED = re.compile(
    r"(# --- exported architecture ---\n).*?(# --- end of exported architecture)", re.S
)
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# What gasbench's static analyser allows model.py to import, and the calls it refuses.
ALLOWED_IMPORTS = frozenset(
    {
        "torch", "torchvision", "timm", "safetensors", "numpy", "PIL", "cv2", "math",
        "functools", "typing", "collections", "dataclasses", "enum", "abc", "pathlib",
    }
)  # fmt: skip
BLOCKED_CALLS = frozenset(
    {"eval", "exec", "compile", "__import__", "getattr", "setattr", "delattr", "globals",
     "locals", "vars", "open", "breakpoint", "input"}
)  # fmt: skip
BLOCKED_MODULES = ("torch.utils.cpp_extension", "torch.jit", "numpy.ctypeslib")


def check_mirrored(arch: str) -> None:
    """Refuse an architecture the template has no mirror of, saying where to add one."""
    if arch not in MIRRORS:
        raise UserError(
            f"{TEMPLATE} has no mirror of the {arch} architecture: add one there (a class "
            "registered in its MIRRORS, tensor name for tensor name) to export it for gasbench"
        )


def model_source(detector: Detector) -> str:
    """The template with the detector's architecture and normalisation written in."""
    check_mirrored(detector.spec["arch"])
    values = (
        f"SPEC: dict[str, Any] = {dict(detector.spec)!r}\n"
        f"MEAN: list[float] = {detector.mean.flatten().tolist()!r}\n"
        f"STD: list[float] = {detector.std.flatten().tolist()!r}\n"
    )
    source, count = MARKED.subn(lambda m: m.group(1) + values + m.group(2), TEMPLATE.read_text())
    if count != 1:
        raise RuntimeError(f"{TEMPLATE} lost its exported-architecture markers")
    return source


def two_class_state(detector: Detector) -> dict[str, torch.Tensor]:
    """The detector's tensors with its last Linear(features, 1) as `classifier` [-z/2, z/2]."""
    state = cpu_state(detector)
    last = f"head.{len(detector.head) - 1}"
    weight, bias = state.pop(f"{last}.weight"), state.pop(f"{last}.bias")
    state["classifier.weight"] = torch.cat([-weight / 2, weight / 2])
    state["classifier.bias"] = torch.cat([-bias / 2, bias / 2])
    return state


def model_config(detector: Detector, name: str, version: str, dtype: str) -> dict[str, Any]:
    size = detector.spec["img_size"]
    return {
        "name": name,
        "version": str(version),
        "modality": "image",
        "dtype": dtype,
        "preprocessing": {"resize": [size, size]},
        "model": {"num_classes": 2, "weights_file": "model.safetensors"},
    }


def write_gasbench_dir(
    detector: Detector, out: str | Path, name: str, version: str, dtype: str = "float32"
) -> Path:
    """Write the three files into `out` (created; existing files are replaced)."""
    if dtype not in DTYPES:
        raise UserError(f"gasbench.dtype={dtype} is not one of {sorted(DTYPES)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"out={out} exists and is not a directory")
    source = model_source(detector)
    problems = check_model_source(source)
    if problems:
        raise RuntimeError(f"model.py breaks gasbench's rules: {problems}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.py").write_text(source)
    save_file(two_class_state(detector), str(out / "model.safetensors"))
    config = model_config(detector, name, version, dtype)
    (out / "model_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def check_model_source(source: str) -> list[str]:
    """Every import outside ALLOWED_IMPORTS, blocked submodule and blocked call in `source`."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""] if not node.level else ["(relative import)"]
        for module in modules:
            if module.split(".")[0] not in ALLOWED_IMPORTS or module.startswith(BLOCKED_MODULES):
                problems.append(f"line {node.lineno}: import {module}")
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called in BLOCKED_CALLS:
                problems.append(f"line {node.lineno}: call {called}()")
    return problems


def import_model_py(folder: str | Path, module_name: str = "custom_model") -> ModuleType:
    """Import `folder/model.py` as a standalone module, the way the harness does."""
    path = Path(folder) / "model.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_like_harness(folder: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """(model, config) as gasbench gets them: model.py's `load_model` with the config's
    weights file and model settings, then the module cast to the config's dtype."""
    folder = Path(folder)
    config = yaml.safe_load((folder / "model_config.yaml").read_text())
    settings = dict(config["model"])
    weights = folder / settings.pop("weights_file", "model.safetensors")
    model = import_model_py(folder).load_model(str(weights), **settings)
    model.to(dtype=DTYPES[config.get("dtype", "float32")])
    return model, config


@torch.inference_mode()
def gasbench_max_diff(detector: Detector, folder: str | Path, batch: int = 3) -> float:
    """Max |softmax(gasbench logits)[:, 1] - P(fake)| on random uint8 images, the directory
    loaded as the harness loads it."""
    model, config = load_like_harness(folder)
    size = config["preprocessing"]["resize"][0]  # square: fakeguard detectors are
    x = random_pixels("uint8", batch, size)
    logits = model(x)
    if tuple(logits.shape) != (batch, 2):
        raise RuntimeError(f"gasbench model returns {tuple(logits.shape)}, not ({batch}, 2)")
    theirs = torch.softmax(logits.float(), dim=1)[:, 1]
    ours = torch.sigmoid(detector.eval()(x.float() / 255.0).float())
    return float((theirs - ours).abs().max())
