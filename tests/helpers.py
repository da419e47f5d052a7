"""Helpers shared by the tests: paths, tiny demo settings, composing the real configs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from fakeguard.cli import reports_user_errors
from fakeguard.data.manifest import COLUMNS, manifest_frame, write_manifest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SHARED_DATA = ROOT.parent / "shared" / "data"

# Two float32 computations of the same value that may round differently: another batching,
# another kernel (a CPU picks convolution algorithms by its instruction set and by the
# buffers' alignment), or another order of the same sums. Relative error grows with depth
# from ~6e-8 per op; 1e-5 leaves room for a network, 1e-6 absolute for values near zero.
FLOAT32_NOISE = {"rtol": 1e-5, "atol": 1e-6}

# Tiny, fast settings for the embedded demo: a few seconds per Lightning run on 2 cores.
TINY_DEMO = [
    "data.num_identities=40",
    "data.image_size=64",
    "data.batch_size=8",
    "logger=csv",
]


def compose_config(name: str, overrides: list[str], run_dir: Path) -> DictConfig:
    """Compose `configs/<name>.yaml` as the entry point would, writing under `run_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        cfg.paths.log_dir = str(run_dir)
        cfg.paths.cache_dir = str(run_dir / "cache")
        del cfg.hydra
    return cfg


def assert_one_error_line(stderr: str, expected: str) -> None:
    """The last stderr line is `error: <expected>...`, the only `error:` line, with no traceback
    and no advice to load with weights_only=False."""
    assert stderr.strip().splitlines()[-1].startswith(f"error: {expected}"), stderr[-2000:]
    assert stderr.count("error:") == 1
    assert "Traceback" not in stderr and "weights_only" not in stderr


def user_error(command, cfg: DictConfig, capsys: pytest.CaptureFixture[str]) -> str:
    """Run `command(cfg)` behind the entry points' wrapper (in process): it must exit with
    status 2 and print one line, `error: <message>`, and nothing else. Returns the message."""
    with pytest.raises(SystemExit) as exited:
        reports_user_errors(command)(cfg)
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert_one_error_line(stderr, "")
    (line,) = stderr.strip().splitlines()
    return line.removeprefix("error: ")


def face_image(size: int = 160) -> np.ndarray:
    """A real photographed face (skimage's astronaut), cropped loosely and resized: uint8 RGB."""
    from skimage import data

    return cv2.resize(data.astronaut()[20:260, 100:340], (size, size), interpolation=cv2.INTER_AREA)


def write_face_video(path: Path, frames: int = 12, size: tuple[int, int] = (320, 240)) -> Path:
    """An H.264 clip of `face_image()` sliding across a grey frame (width, height = size)."""
    import av

    width, height = size
    face = face_image(min(height, width) // 2)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            canvas = np.full((height, width, 3), 120, np.uint8)
            x = int(i * (width - face.shape[1]) / max(frames - 1, 1))
            y = (height - face.shape[0]) // 2
            canvas[y : y + face.shape[0], x : x + face.shape[1]] = face
            container.mux(stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")))
        container.mux(stream.encode())
    return path


MANIFEST_METHODS = ("real", "Deepfakes", "FaceSwap")


def make_manifest(root: Path, videos_per_split: int = 2) -> Path:
    """Per split, real videos and one fake per method made from each, 2 crops per video."""
    crop = face_image(64)
    rows = []
    for split in ("train", "val", "test"):
        for v in range(videos_per_split):
            source = f"{split}{v}"
            for method in MANIFEST_METHODS:
                video_id = f"{method}/{source}"
                for frame in (0, 5):
                    path = f"crops/{video_id}/{frame:06d}_0.png"
                    (root / path).parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(root / path), crop[..., ::-1])
                    rows.append(
                        {
                            **dict.fromkeys(COLUMNS, ""),
                            "path": path,
                            "label": int(method != "real"),
                            "method": method,
                            "compression": "c23",
                            "dataset": "ffpp",
                            "video_id": video_id,
                            "source_id": source,
                            "split": split,
                            "frame": frame,
                            "face": 0,
                            "face_track": 0,
                            "landmarks": [20, 25, 44, 25, 32, 35, 24, 45, 40, 45],
                        }
                    )
    write_manifest(root / "manifest.parquet", manifest_frame(rows))
    return root / "manifest.parquet"


def write_checkpoint(path: Path, net) -> Path:
    """A training checkpoint of `net` as `DetectorModule` saves one (spec + `net.` weights)."""
    import torch

    from fakeguard.models.checkpoint import SPEC_KEY

    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save({SPEC_KEY: dict(net.spec), "state_dict": state, "epoch": 0}, path)
    return path


def tiny_detector(arch: str, seed: int = 0):
    """A small `arch` from the `DETECTORS` registry (its `example_spec()`), with seeded
    random weights, in eval mode."""
    import torch

    from fakeguard.models.detectors import DETECTORS, build_detector

    torch.manual_seed(seed)
    return build_detector(DETECTORS[arch].example_spec()).eval()


def assert_checkpoint_round_trip(arch: str, folder: Path):
    """spec -> `build_detector` -> training checkpoint -> `load_detector` gives the same
    architecture, tensors and outputs. Returns the loaded detector."""
    import torch

    from fakeguard.models.checkpoint import load_detector
    from fakeguard.models.detectors import DETECTORS

    net = tiny_detector(arch)
    loaded = load_detector(write_checkpoint(folder / f"{arch}.ckpt", net))
    assert type(loaded) is DETECTORS[arch] and not loaded.training
    assert loaded.spec == net.spec
    ours, theirs = net.state_dict(), loaded.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    x = torch.rand(2, 3, net.spec["img_size"], net.spec["img_size"])
    with torch.inference_mode():  # separate tensors: the kernels may round them differently
        torch.testing.assert_close(loaded(x), net(x), **FLOAT32_NOISE)
    return loaded


# Runs the exported model.py as the harness would, with every fakeguard import failing.
_CLEAN_GASBENCH_RUN = """\
import importlib.util, sys
sys.modules["fakeguard"] = None
folder, inputs, outputs = sys.argv[1:]
spec = importlib.util.spec_from_file_location("custom_model", f"{folder}/model.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
import torch
from safetensors.torch import load_file, save_file
model = module.load_model(f"{folder}/model.safetensors", num_classes=2)
with torch.inference_mode():
    save_file({"logits": model(load_file(inputs)["x"]).contiguous()}, outputs)
"""


def clean_gasbench_logits(export: Path, x: torch.Tensor, folder: Path) -> torch.Tensor:
    """The exported model.py's logits for `x`, loaded in a clean process where fakeguard
    cannot be imported, as the harness loads it."""
    import subprocess
    import sys

    from safetensors.torch import load_file, save_file

    save_file({"x": x.contiguous()}, str(folder / "x.safetensors"))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _CLEAN_GASBENCH_RUN,
            str(export),
            str(folder / "x.safetensors"),
            str(folder / "logits.safetensors"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return load_file(str(folder / "logits.safetensors"))["logits"]


def assert_gasbench_mirrors(arch: str, folder: Path) -> None:
    """A small `arch` with random weights, exported for gasbench, gives the same logit from
    the exported model.py, loaded in a clean process without fakeguard, as in fakeguard.

    An architecture that `gasbench_model.py` does not mirror fails the export with a
    `UserError` saying to add it there."""
    from fakeguard.export.gasbench import Packaging, write_gasbench_dir
    from fakeguard.export.inputs import random_pixels

    detector = tiny_detector(arch)
    packaging = Packaging(name=f"tiny-{arch}", input="crops")
    export = write_gasbench_dir(detector, folder / "gasbench", packaging)
    x = random_pixels("uint8", 4, detector.spec["img_size"])
    logits = clean_gasbench_logits(export, x, folder)
    assert logits.shape == (4, 2)  # [real, synthetic] = [-z/2, z/2]
    with torch.inference_mode():
        z = detector(x.float() / 255)
    torch.testing.assert_close(logits[:, 1] - logits[:, 0], z, **FLOAT32_NOISE)
    torch.testing.assert_close(torch.softmax(logits, 1)[:, 1], torch.sigmoid(z), **FLOAT32_NOISE)


class MeanBrightness(torch.nn.Module):
    """A detector whose worst case is known: logit = 20 * (mean pixel - 0.5), so darker
    images look real and brighter ones fake."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 20 * (x.mean(dim=(1, 2, 3)) - 0.5)


def tiny_conv_net() -> torch.nn.Module:
    """A seeded one-conv detector (one logit per image), in eval mode, for attack tests."""
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 1),
        nn.Flatten(0),
    ).eval()


def random_batch(n: int = 6, size: int = 16, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded pixels in [0.1, 0.9] (an eps-ball fits inside [0, 1]) and alternating labels."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=generator) * 0.8 + 0.1
    return x, torch.tensor([i % 2 for i in range(n)], dtype=torch.float32)


def two_conv_net(*, flags: bool = False) -> torch.nn.Module:
    """A seeded two-conv detector, less linear than `tiny_conv_net` (the attacks differ on it),
    in eval mode; `flags` adds a BatchNorm and a Dropout, whose modes an attack must restore."""
    torch.manual_seed(3)
    nn = torch.nn
    norm = [nn.BatchNorm2d(16)] if flags else []
    dropout = [nn.Dropout(0.5)] if flags else []
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        *norm,
        nn.Tanh(),
        nn.Conv2d(16, 16, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        *dropout,
        nn.Linear(16, 1),
        nn.Flatten(0),
    ).eval()


def noise(height: int, width: int, frames: int | None = None, seed: int = 0) -> np.ndarray:
    """Seeded uint8 RGB noise: an image (H, W, 3), or a clip (T, H, W, 3) with `frames`."""
    shape = (height, width, 3) if frames is None else (frames, height, width, 3)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
