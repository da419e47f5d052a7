"""A model directory for the BitMind gasbench harness: model_config.yaml, model.safetensors and
a self-contained model.py (the `gasbench_model.py` template with the architecture filled in and
`gasbench_faces.py` written into it).

With `input="frames"` (the default) the model takes whole frames and finds the faces itself,
with prepare's MTCNN (its P/R/O-net weights go into model.safetensors under `faces.`); with
`input="crops"` it takes face crops as fakeguard's datasets hold them. `modality="video"`
makes it take clips [B, T, 3, H, W] and says how many frames, at what rate, in the config.

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
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import yaml
from safetensors.torch import save_file

from fakeguard import settings
from fakeguard.data.extract import check_extract_settings
from fakeguard.data.faces import FaceDetector, check_detector_settings
from fakeguard.errors import SettingError, UserError
from fakeguard.export.gasbench_model import MIRRORS
from fakeguard.export.inputs import random_pixels
from fakeguard.export.sidecar import cpu_state
from fakeguard.models.detectors import Detector

TEMPLATE = Path(__file__).with_name("gasbench_model.py")
FACE_FINDER = Path(__file__).with_name("gasbench_faces.py")
MARKED = re.compile(
    r"(# --- exported architecture ---\n).*?(# --- end of exported architecture)", re.S
)
FACES_MARKED = re.compile(r"(# --- face finder ---\n).*?(# --- end of face finder)", re.S)
INPUTS = ("frames", "crops")
MODALITIES = ("image", "video")
FACE_SCORES = ("max", "largest")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
HARNESS_DTYPES = {**DTYPES, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
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


@dataclass(frozen=True)
class Packaging:
    """How the directory is packaged (export.yaml's `gasbench` group)."""

    name: str = "fakeguard-detector"
    version: str = "1.0.0"
    dtype: str = "float32"
    input: str = "frames"
    modality: str = "image"
    frame_size: int = 512  # preprocessing.resize for whole frames: faces need the pixels
    num_frames: int = 16
    frame_rate: float = 8.0
    face_score: str = "max"
    margin: float = 0.3
    min_face_size: int = 20
    thresholds: list[float] = field(default_factory=lambda: [0.85, 0.95, 0.95])

    def faces(self) -> dict[str, Any]:
        """FACES in model.py: how faces are found, cut and combined."""
        return {
            "thresholds": [float(t) for t in self.thresholds],
            "min_face_size": int(self.min_face_size),
            "margin": float(self.margin),
            "face_score": self.face_score,
            "video_threshold": 0.8,  # the DFDC winner's, as fakeguard.scoring.video uses
        }


def model_source(detector: Detector, packaging: Packaging = Packaging()) -> str:
    """The template with the detector's architecture, normalisation and input written in, and
    the face finder's source in place of its import."""
    check_mirrored(detector.spec["arch"])
    values = (
        f"SPEC: dict[str, Any] = {dict(detector.spec)!r}\n"
        f"MEAN: list[float] = {detector.mean.flatten().tolist()!r}\n"
        f"STD: list[float] = {detector.std.flatten().tolist()!r}\n"
        f"INPUT: str = {packaging.input!r}\n"
        f"FACES: dict[str, Any] = {packaging.faces()!r}\n"
    )
    source = _fill(MARKED, TEMPLATE.read_text(), values, "exported-architecture")
    return _fill(FACES_MARKED, source, FACE_FINDER.read_text() + "\n", "face-finder")


def _fill(markers: re.Pattern, source: str, body: str, what: str) -> str:
    filled, count = markers.subn(lambda m: m.group(1) + body + m.group(2), source)
    if count != 1:
        raise RuntimeError(f"{TEMPLATE} lost its {what} markers")
    return filled


def two_class_state(detector: Detector) -> dict[str, torch.Tensor]:
    """The detector's tensors with its last Linear(features, 1) as `classifier` [-z/2, z/2]."""
    state = cpu_state(detector)
    last = f"head.{len(detector.head) - 1}"
    weight, bias = state.pop(f"{last}.weight"), state.pop(f"{last}.bias")
    state["classifier.weight"] = torch.cat([-weight / 2, weight / 2])
    state["classifier.bias"] = torch.cat([-bias / 2, bias / 2])
    return state


def frame_model_state(detector: Detector) -> dict[str, torch.Tensor]:
    """The whole-frame model's tensors: the detector's under `detector.`, prepare's MTCNN
    P/R/O-nets (facenet-pytorch's weights) under `faces.`."""
    state = {f"detector.{k}": v for k, v in two_class_state(detector).items()}
    mtcnn = FaceDetector().mtcnn
    for net in ("pnet", "rnet", "onet"):
        for key, value in cpu_state(getattr(mtcnn, net)).items():
            state[f"faces.{net}.{key}"] = value
    return state


def model_config(detector: Detector, packaging: Packaging = Packaging()) -> dict[str, Any]:
    side = packaging.frame_size if packaging.input == "frames" else detector.spec["img_size"]
    preprocessing: dict[str, Any] = {"resize": [side, side]}
    if packaging.modality == "video":
        preprocessing.update(
            num_frames=packaging.num_frames,
            max_frames=packaging.num_frames,
            frame_rate=packaging.frame_rate,
        )
    return {
        "name": packaging.name,
        "version": str(packaging.version),
        "modality": packaging.modality,
        "dtype": packaging.dtype,
        "preprocessing": preprocessing,
        "model": {"num_classes": 2, "weights_file": "model.safetensors"},
    }


def check_packaging(packaging: Packaging) -> None:
    """Each packaging choice, with the setting's name in the error."""
    settings.one_of("gasbench.dtype", packaging.dtype, tuple(DTYPES))
    settings.one_of("gasbench.input", packaging.input, INPUTS)
    settings.one_of("gasbench.modality", packaging.modality, MODALITIES)
    settings.one_of("gasbench.face_score", packaging.face_score, FACE_SCORES)
    settings.whole_number("gasbench.frame_size", packaging.frame_size, 32, " px")
    settings.whole_number("gasbench.num_frames", packaging.num_frames, 1)
    settings.positive_number("gasbench.frame_rate", packaging.frame_rate)
    check_extract_settings({"margin": packaging.margin}, "gasbench.")
    check_detector_settings(
        {"thresholds": packaging.thresholds, "min_face_size": packaging.min_face_size},
        "gasbench.",
    )
    if packaging.modality == "video" and packaging.input != "frames":
        raise SettingError("gasbench.modality=video needs gasbench.input=frames")


def write_gasbench_dir(
    detector: Detector, out: str | Path, packaging: Packaging = Packaging()
) -> Path:
    """Write the three files into `out` (created; existing files are replaced)."""
    check_packaging(packaging)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"out={out} exists and is not a directory")
    source = model_source(detector, packaging)
    problems = check_model_source(source)
    if problems:
        raise RuntimeError(f"model.py breaks gasbench's rules: {problems}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.py").write_text(source)
    frames = packaging.input == "frames"
    state = frame_model_state(detector) if frames else two_class_state(detector)
    save_file(state, str(out / "model.safetensors"))
    config = model_config(detector, packaging)
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
    weights file and model settings (only `num_classes` when the others do not fit its
    signature, as the harness retries), then the module cast to the config's dtype (the
    harness's short names fp32/fp16/bf16 too)."""
    folder = Path(folder)
    config = yaml.safe_load((folder / "model_config.yaml").read_text())
    settings = dict(config["model"])
    weights = str(folder / settings.pop("weights_file", "model.safetensors"))
    load_model = import_model_py(folder).load_model
    try:
        inspect.signature(load_model).bind(weights, **settings)
    except TypeError:
        settings = {"num_classes": settings.get("num_classes", 2)}
    model = load_model(weights, **settings)
    dtype = config.get("dtype", "float32")
    if dtype not in HARNESS_DTYPES:
        raise UserError(
            f"{folder}/model_config.yaml: dtype {dtype!r} is not one of {sorted(HARNESS_DTYPES)}"
        )
    model.to(dtype=HARNESS_DTYPES[dtype])
    return model, config


@torch.inference_mode()
def gasbench_max_diff(detector: Detector, folder: str | Path, batch: int = 3) -> float:
    """Max |softmax(gasbench logits)[:, 1] - P(fake)| on random uint8 face crops, the
    directory loaded as the harness loads it (for a whole-frame model, its detector part;
    its face finder is checked against prepare's in tests/export). A whole-frame model also
    runs once on a random input of the harness's shape, which must give [B, 2] logits."""
    model, config = load_like_harness(folder)
    x = random_pixels("uint8", batch, detector.spec["img_size"])
    scorer = getattr(model, "detector", model)
    theirs = torch.softmax(scorer(x).float(), dim=1)[:, 1]
    ours = torch.sigmoid(detector.eval()(x.float() / 255.0).float())
    if scorer is not model:
        side = config["preprocessing"]["resize"][0]
        shape = (1, 2, 3, side, side) if config["modality"] == "video" else (1, 3, side, side)
        logits = model(torch.randint(0, 256, shape, dtype=torch.uint8))
        if tuple(logits.shape) != (1, 2) or not torch.isfinite(logits).all():
            raise RuntimeError(f"gasbench model gives {logits} for one input, not [1, 2] logits")
    return float((theirs - ours).abs().max())
