"""Exports rebuild the detector they came from: safetensors + sidecar, ONNX, gasbench."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
import yaml
from helpers import FLOAT32_NOISE, ROOT, assert_gasbench_mirrors, tiny_detector, write_checkpoint

from fakeguard.errors import UserError
from fakeguard.export.gasbench import (
    Packaging,
    check_model_source,
    load_like_harness,
    write_gasbench_dir,
)
from fakeguard.export.inputs import random_pixels
from fakeguard.export.onnx_graph import export_onnx, onnx_max_diff
from fakeguard.export.run import export
from fakeguard.export.sidecar import load_safetensors, save_safetensors
from fakeguard.models.detectors import DETECTORS, Detector

ARCHS = sorted(DETECTORS)  # every registered architecture, at its small example spec


@pytest.fixture(params=ARCHS, scope="module")
def detector(request) -> Detector:
    return tiny_detector(request.param)


def size_of(detector: Detector) -> int:
    return detector.spec["img_size"]


def p_fake(detector: Detector, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return torch.sigmoid(detector(x))


def test_safetensors_pair_rebuilds_identical_outputs(detector, tmp_path):
    weights, sidecar = save_safetensors(detector, tmp_path / "model.safetensors")
    assert sidecar.name == "model.json"
    rebuilt = load_safetensors(weights)
    assert type(rebuilt) is type(detector) and not rebuilt.training
    x = torch.rand(3, 3, size_of(detector), size_of(detector))
    with torch.inference_mode():  # separate tensors: the kernels may round them differently
        torch.testing.assert_close(rebuilt(x), detector(x), **FLOAT32_NOISE)


def test_a_safetensors_file_without_its_sidecar_is_a_clear_error(tmp_path):
    weights, sidecar = save_safetensors(tiny_detector("Detector"), tmp_path / "m.safetensors")
    sidecar.unlink()
    with pytest.raises(UserError, match=r"m\.json"):
        load_safetensors(weights)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:100]), "(damaged safetensors file: "),
        (lambda p: p.write_text("not weights"), "(not a safetensors file: text starting"),
    ],
    ids=["truncated", "text"],
)
def test_a_damaged_safetensors_export_is_a_clear_error(damage, expected, tmp_path):
    weights, _ = save_safetensors(tiny_detector("Detector"), tmp_path / "m.safetensors")
    damage(weights)
    with pytest.raises(
        UserError, match=re.escape(f"{weights} is not a safetensors export {expected}")
    ):
        load_safetensors(weights)


@pytest.mark.parametrize("kind", ["float", "uint8"])
def test_onnx_matches_pytorch_within_1e_4(detector, kind, tmp_path):
    import onnxruntime as ort

    path = export_onnx(detector, tmp_path / "model.onnx", kind)
    assert onnx_max_diff(detector, path, kind, batch=5) <= 1e-4
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (pixels,) = session.get_inputs()
    assert pixels.type == f"tensor({'float' if kind == 'float' else 'uint8'})"
    assert pixels.shape == ["batch", 3, size_of(detector), size_of(detector)]


def test_gasbench_directory_loads_as_the_harness_loads_it(detector, tmp_path):
    folder = write_gasbench_dir(detector, tmp_path / "gas", Packaging(input="crops"))
    assert sorted(p.name for p in folder.iterdir()) == [
        "model.py",
        "model.safetensors",
        "model_config.yaml",
    ]
    config = yaml.safe_load((folder / "model_config.yaml").read_text())
    assert config["modality"] == "image" and config["model"]["num_classes"] == 2
    assert config["preprocessing"]["resize"] == [size_of(detector)] * 2

    model, _ = load_like_harness(folder)
    assert not model.training
    x = random_pixels("uint8", 4, size_of(detector))
    with torch.inference_mode():
        logits = model(x)
    assert logits.shape == (4, 2)
    ours = p_fake(detector, x.float() / 255)
    assert ours.min() > 0.01 and ours.max() < 0.99  # not saturated: the comparison means something
    torch.testing.assert_close(torch.softmax(logits, 1)[:, 1], ours, atol=1e-6, rtol=0)
    # gasbench reads the penultimate features at `classifier`, a Linear to the two classes
    assert isinstance(model.classifier, torch.nn.Linear) and model.classifier.out_features == 2


def test_gasbench_model_casts_uint8_to_the_configured_dtype(tmp_path):
    detector = tiny_detector("Detector")
    packaging = Packaging(input="crops", dtype="bfloat16")
    folder = write_gasbench_dir(detector, tmp_path / "gas", packaging)
    model, config = load_like_harness(folder)
    assert config["dtype"] == "bfloat16"
    x = random_pixels("uint8", 2, size_of(detector))
    with torch.inference_mode():
        probs = torch.softmax(model(x).float(), 1)[:, 1]
    torch.testing.assert_close(probs, p_fake(detector, x.float() / 255), atol=0.05, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_gasbench_model_py_mirrors_every_registered_detector(arch, tmp_path):
    """The hand mirror in gasbench_model.py, run in a clean process without fakeguard, gives
    the detector's logit on random weights; a registered architecture with no mirror fails
    here, saying to add one to the template."""
    assert_gasbench_mirrors(arch, tmp_path)


def test_model_py_imports_only_allowed_modules_and_calls_nothing_blocked(detector, tmp_path):
    folder = write_gasbench_dir(detector, tmp_path / "gas")  # whole frames, the face finder in
    assert check_model_source((folder / "model.py").read_text()) == []


@pytest.mark.parametrize(
    "line",
    [
        "import os",
        "from subprocess import run",
        "import importlib.util",
        "from torch.jit import script",
        "x = getattr(object, 'y')",
        "setattr(object, 'y', 1)",
        "eval('1')",
        "model.eval()",
        "from . import sibling",
    ],
)
def test_the_static_check_catches_each_blocked_construct(line):
    assert check_model_source(f"import torch\n{line}\n")


def test_export_command_verifies_onnx_and_prints_the_difference(make_cfg, tmp_path, capsys):
    ckpt = write_checkpoint(tmp_path / "best.ckpt", tiny_detector("Detector"))
    overrides = [f"ckpt_path={ckpt}", "format=onnx", f"out={tmp_path}/m.onnx"]
    result = export(make_cfg("export", overrides))
    assert 0 <= result["max_abs_diff"] <= 1e-4
    assert "onnxruntime vs PyTorch: max abs diff" in capsys.readouterr().out
    assert (tmp_path / "m.onnx").is_file()


def test_export_command_rejects_an_unknown_format(make_cfg, tmp_path):
    ckpt = write_checkpoint(tmp_path / "best.ckpt", tiny_detector("Detector"))
    cfg = make_cfg("export", [f"ckpt_path={ckpt}", "format=tflite", f"out={tmp_path}/m"])
    with pytest.raises(UserError, match="format=tflite is not one of"):
        export(cfg)


def test_export_from_the_command_line(tmp_path):
    ckpt = write_checkpoint(tmp_path / "best.ckpt", tiny_detector("Detector"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fakeguard.export",
            f"ckpt_path={ckpt}",
            "format=gasbench",
            f"out={tmp_path}/gas",
            f"paths.log_dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "loaded as gasbench does (float32): max |softmax[:, 1] - P(fake)|" in result.stdout
    assert (tmp_path / "gas" / "model.safetensors").is_file()


def test_the_harness_loader_takes_short_dtype_names_and_drops_settings_load_model_lacks(
    tmp_path,
):
    detector = tiny_detector("Detector")
    folder = write_gasbench_dir(detector, tmp_path / "gas", Packaging(input="crops"))
    config = yaml.safe_load((folder / "model_config.yaml").read_text())
    config["dtype"] = "bf16"
    config["model"]["normalize"] = {"mean": [0.5] * 3}  # not a load_model argument: dropped
    (folder / "model_config.yaml").write_text(yaml.safe_dump(config))
    model, _ = load_like_harness(folder)
    assert next(model.parameters()).dtype == torch.bfloat16
    config["dtype"] = "int8"
    (folder / "model_config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(UserError, match="dtype 'int8'"):
        load_like_harness(folder)
