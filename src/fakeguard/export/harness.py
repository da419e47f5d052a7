"""Score a folder of real and fake media the way the BitMind gasbench harness scores it.

`python -m fakeguard.benchmark_dir` (configs/benchmark_dir.yaml) runs `benchmark(cfg)`. What
it reproduces was read from gasbench's own code (newest stored versions; paths under
`src/gasbench/`), re-implemented here, nothing copied:

- **Loading** (`benchmarks/utils/custom_model_loader.py`, `benchmarks/utils/pytorch_session.py`):
  `model_config.yaml`'s `model:` settings, less `weights_file` (default `model.safetensors`),
  go to `model.py`'s `load_model(weights_path, **settings)`; the module is cast to the
  top-level `dtype` and put in eval mode; inputs arrive as uint8, uncast; the output (a
  tensor, `.logits`, a tuple's first item or a dict's `logits`) is cast to float32. This is
  `fakeguard.export.gasbench.load_like_harness`, then `.eval()` on the device.
- **Images** (`processing/media.py` `process_image_sample`): PIL `Image.open(...).convert("RGB")`,
  no EXIF rotation. Read here the same way, not with `fakeguard.data.images.read_rgb`: PIL
  clips a 16-bit image to 255 where fakeguard scales it, and the estimate must see what the
  harness sees.
- **Videos** (`processing/video_decode.py` `decode_video`, called by `media.py`
  `process_video_bytes_sample`): PyAV, the container's best video stream, one decoder thread,
  frames read in order from the first and converted to RGB with the frame's own colour matrix
  and range; quarter-turn rotation metadata is applied (`np.rot90`). It keeps `num_frames`
  frames: every frame, or with a `frame_rate` r every `max(1, round(fps / r))`-th decoded frame
  (fps: the stream's average rate, 30 if unknown), stopping once it has them; a short clip
  repeats its last kept frame. `num_frames` is `preprocessing.num_frames`, else
  `preprocessing.max_frames`, else 16, at most 64; `frame_rate` is `preprocessing.frame_rate`
  (`benchmarks/inputs.py` `video_preprocessing`, `pytorch_session._infer_input_shape`,
  `constants.MAX_VIDEO_NUM_FRAMES`). Keys outside `preprocessing:` are ignored by the harness
  (noted in the output). `fakeguard.data.frames` samples evenly over the whole video and
  converts with PyAV's default matrix, so it is not used here.
- **Model input** (`processing/transforms/spatial.py` `ResizeShortestEdge`, applied by
  `apply_random_augmentations` at level 0 with `crop_prob` 0, the runner's defaults): the
  largest centred crop with the aspect ratio of `preprocessing.resize` [H, W], then
  `cv2.resize` to exactly that size, INTER_LINEAR, up or down; images as [B, 3, H, W] and
  clips as [B, T, 3, H, W], uint8 RGB (`image_bench.py`, `video_bench.py`).
- **Augmented pass, images** (`processing/transforms/image.py`
  `apply_robustness_augmentations`): the `social` chain, `fakeguard.robustness.suite.social`
  (bit-exact), then the same model input.
- **Augmented pass, videos** (`processing/transforms/video.py`
  `apply_video_robustness_augmentations`): each frame resized down with INTER_AREA to half
  size, each side at least 256 px, only when both sides shrink (the rule of `social`, so
  `robustness.standins.social_size`; 700x500 -> 350x256); a trailing odd row or column
  trimmed; libx264 CRF 23, 25 fps, yuv420p, and back; then the same model input. gasbench
  encodes with the ffmpeg CLI (its default thread count) and decodes with OpenCV; here
  `fakeguard.robustness.codecs.h264_frames` (PyAV's libx264, one thread): the same codec and
  settings, not the same bytes.
- **Scoring** (`model/inference.py` `process_model_output`, `docs/Classification-and-Scoring.md`):
  softmax of each sample's logits; binary P(fake) = 1 - p[real]; fake when above 0.5. Per
  pass: MCC, Brier against the 0/1 label, sn34 = sqrt(max(1e-12, mcc_c * brier_c)) with
  mcc_c = clip((MCC + 1) / 2, 0, 1) ** 1.2 and brier_c = max(0, (0.25 - Brier) / 0.25) ** 1.8
  (`fakeguard.scoring.metrics`). The score is the blend (1 - aug_weight) * clean +
  aug_weight * augmented (0.2 by default), the clean score alone when the augmented pass has
  no predictions or aug_weight is 0. A file that cannot be read is a recorded skip, never a
  prediction.

Not reproduced: dataset sampling and weighting (`score_composition`, holdouts), the augmented
pass on a subset (`n_aug_per_dataset`: every file here), multiclass scoring, random crops and
augmentation levels (off by default), embeddings, caches and checkpoints.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import av.error
import cv2
import numpy as np
import torch
import yaml
from av.video.reformatter import Colorspace
from omegaconf import DictConfig
from PIL import Image

from fakeguard import settings, walk
from fakeguard.console import print_table
from fakeguard.data.frames import MediaReadError
from fakeguard.data.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from fakeguard.devices import pick_device
from fakeguard.errors import DataError, MissingFileError, UserError
from fakeguard.export.gasbench import load_like_harness
from fakeguard.files import write_atomically, write_json
from fakeguard.robustness.codecs import h264_frames
from fakeguard.robustness.standins import social_size
from fakeguard.robustness.suite import social
from fakeguard.scoring.metrics import binary_metrics

log = logging.getLogger(__name__)

MODALITIES = ("image", "video")
CLASSES = {"real": 0, "fake": 1}  # root/real, root/fake -> the harness's binary labels
PASSES = ("clean", "augmented")
DEFAULT_RESIZE = (224, 224)  # the harness's input size when the config gives none
DEFAULT_NUM_FRAMES = 16
MAX_NUM_FRAMES = 64
VIDEO_CRF, VIDEO_FPS = 23, 25
DEFAULT_BATCH = {"image": 32, "video": 4}  # the harness's defaults
VIDEO_KEYS = ("num_frames", "max_frames", "frame_rate")


@dataclass(frozen=True)
class HarnessInput:
    """What the harness feeds a model directory: modality, [H, W], and for video the clip."""

    modality: str
    size: tuple[int, int]
    num_frames: int = DEFAULT_NUM_FRAMES
    frame_rate: float | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skip:
    """A file left out of `passes` ("all", or "augmented" when only its augmentation failed)."""

    path: str
    reason: str
    passes: str = "all"


@dataclass
class PassScores:
    """One pass over the folder: each scored file, its label (1 = fake) and P(fake)."""

    paths: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    p_fake: list[float] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        if not self.paths:
            return {"n": 0.0}
        return binary_metrics(np.array(self.labels), np.array(self.p_fake))


@dataclass
class FolderScores:
    spec: HarnessInput
    passes: dict[str, PassScores]
    skipped: list[Skip]
    selected: dict[str, int]  # files of the modality scored per class (after max_files)


# ---- the model directory -------------------------------------------------------------------


def read_model_config(model_dir: str | Path) -> dict[str, Any]:
    """model_config.yaml, after checking the files the harness requires are there."""
    folder = Path(model_dir).expanduser()
    if not folder.is_dir():
        raise MissingFileError(f"model_dir={folder} is not a folder")
    path = folder / "model_config.yaml"
    if not path.is_file():
        raise MissingFileError(
            f"model_dir={folder} has no model_config.yaml: point it at a folder written by "
            "`python -m fakeguard.export format=gasbench`"
        )
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML ({error})") from error
    if not isinstance(config, dict):
        raise UserError(f"{path} must hold a mapping of settings")
    if not isinstance(config.get("model"), dict):
        raise UserError(f"{path} needs a `model:` section (num_classes, weights_file)")
    weights = folder / config["model"].get("weights_file", "model.safetensors")
    for needed in (folder / "model.py", weights):
        if not needed.is_file():
            raise MissingFileError(f"model_dir={folder} has no {needed.name}")
    return config


def harness_input(config: dict[str, Any]) -> HarnessInput:
    """The modality and input the harness derives from a model_config.yaml."""
    modality = config.get("modality")
    if modality not in MODALITIES:
        raise UserError(
            f"model_config.yaml: modality={modality!r}; benchmark_dir scores "
            f"{' or '.join(MODALITIES)} models"
        )
    preprocessing = config.get("preprocessing") or {}
    notes = []
    resize = preprocessing.get("resize")
    if resize is None:
        size = DEFAULT_RESIZE
        notes.append(f"no preprocessing.resize: the harness feeds {size[0]}x{size[1]}")
    else:
        if not isinstance(resize, list | tuple) or len(resize) != 2:
            raise UserError(f"model_config.yaml: preprocessing.resize={resize!r} must be [H, W]")
        size = tuple(settings.whole_number("preprocessing.resize", side, 1) for side in resize)
    ignored = sorted(key for key in VIDEO_KEYS if key in config)
    if ignored:
        notes.append(
            f"model_config.yaml has {', '.join(ignored)} at the top level; the harness reads "
            "them under preprocessing: only"
        )
    if modality == "image":
        return HarnessInput("image", size, notes=tuple(notes))
    frames = preprocessing.get("num_frames", preprocessing.get("max_frames", DEFAULT_NUM_FRAMES))
    if isinstance(frames, bool) or not isinstance(frames, int) or not 1 <= frames <= MAX_NUM_FRAMES:
        raise UserError(
            f"model_config.yaml: preprocessing.num_frames={frames!r}; the harness takes a whole "
            f"number from 1 to {MAX_NUM_FRAMES}"
        )
    rate = preprocessing.get("frame_rate")
    if rate is not None and (
        isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not math.isfinite(rate)
        or rate <= 0
    ):
        raise UserError(f"model_config.yaml: preprocessing.frame_rate={rate!r} must be positive")
    return HarnessInput("video", size, frames, None if rate is None else float(rate), tuple(notes))


def load_harness_model(model_dir: str | Path, device: torch.device) -> torch.nn.Module:
    """The model as the harness runs it: loaded, cast to the config's dtype, on the device, in
    eval mode."""
    model, _ = load_like_harness(Path(model_dir).expanduser())
    return model.to(device).eval()


# ---- the folder ------------------------------------------------------------------------------


def kind_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def list_media(
    root: str | Path, modality: str, max_files: int | None = None, seed: int = 0
) -> tuple[list[tuple[Path, int]], list[Skip], dict[str, int]]:
    """(path, label) of the files of `modality` under root/real and root/fake, in order, with
    at most `max_files` per class (a seeded random subset); every other file is a Skip."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise MissingFileError(f"root={root} is not a folder")
    missing = [f"{name}/" for name in CLASSES if not (root / name).is_dir()]
    if missing:
        raise DataError(
            f"root={root} needs a real/ and a fake/ folder (missing: {', '.join(missing)})"
        )
    items, skipped, selected = [], [], {}
    for name, label in CLASSES.items():
        matching = []
        for path, note in walk.entries(root / name):
            kind = kind_of(path)
            if note:
                skipped.append(Skip(str(path), note))
            elif kind == modality:
                matching.append(path)
            elif kind is None:
                skipped.append(Skip(str(path), "not an image or video file"))
            else:
                article = "an" if kind == "image" else "a"
                skipped.append(
                    Skip(str(path), f"{article} {kind} file; the model takes {modality}s")
                )
        if max_files is not None and len(matching) > max_files:
            rng = np.random.default_rng([seed, label])
            keep = np.sort(rng.choice(len(matching), size=max_files, replace=False))
            matching = [matching[i] for i in keep]
        selected[name] = len(matching)
        items.extend((path, label) for path in matching)
    if not items:
        raise DataError(f"no {modality} files under {root}/real or {root}/fake")
    return items, skipped, selected


# ---- reading media as the harness reads them -----------------------------------------------


def read_image(path: str | Path) -> np.ndarray:
    """uint8 RGB HWC through PIL's convert("RGB"), as the harness decodes an image."""
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise MediaReadError(f"not a readable image ({type(error).__name__}: {error})") from error


def read_clip(path: str | Path, num_frames: int, frame_rate: float | None = None) -> np.ndarray:
    """`num_frames` uint8 RGB frames [T, H, W, 3] from the start of the video, as the harness
    samples them (see the module docstring)."""
    frames = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.best("video")
            if stream is None:
                raise MediaReadError("no video stream")
            stream.codec_context.thread_count = 1
            fps = float(stream.average_rate or 30)
            fps = fps if math.isfinite(fps) and fps > 0 else 30.0
            step = 1 if frame_rate is None else max(1, round(fps / frame_rate))
            for index, frame in enumerate(container.decode(stream)):
                if index % step:
                    continue
                rgb = frame.to_ndarray(
                    format="rgb24",
                    src_colorspace=frame.colorspace,
                    dst_colorspace=Colorspace.DEFAULT,
                    src_color_range=frame.color_range,
                    threads=1,  # swscale's slices would make the conversion machine-dependent
                )
                turn = frame.rotation % 360
                frames.append(np.rot90(rgb, turn // 90) if turn in (90, 180, 270) else rgb)
                if len(frames) == num_frames:
                    break
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise MediaReadError(f"not a readable video ({type(error).__name__}: {error})") from error
    if not frames:
        raise MediaReadError("no frame could be decoded")
    frames.extend([frames[-1]] * (num_frames - len(frames)))
    return np.stack(frames)


# ---- the harness's transforms ----------------------------------------------------------------


def center_crop_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The harness's model input from an HWC image: the largest centred crop with the aspect
    ratio of size = (H, W), resized to exactly that with INTER_LINEAR."""
    height, width = image.shape[:2]
    target_h, target_w = size
    scale = min(height / target_h, width / target_w)
    crop_h = min(int(round(scale * target_h)), height)
    crop_w = min(int(round(scale * target_w)), width)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    crop = image[top : top + crop_h, left : left + crop_w]
    return cv2.resize(crop, (target_w, target_h), interpolation=cv2.INTER_LINEAR)


def downscale_even(frames: np.ndarray) -> np.ndarray:
    """[T, H, W, 3] -> the frames the harness's video augmentation encodes: half size (at
    least 256 px a side, only when both sides shrink, INTER_AREA), then cut to an even width
    and height by dropping the last row / column."""
    size = social_size(*frames.shape[1:3])
    if size is not None:
        frames = np.stack(
            [cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_AREA) for f in frames]
        )
    height, width = frames.shape[1:3]
    even_h, even_w = height - height % 2, width - width % 2
    if (even_h, even_w) != (height, width) and even_h >= 2 and even_w >= 2:
        frames = frames[:, :even_h, :even_w]
    return np.ascontiguousarray(frames)


def augment_video(frames: np.ndarray) -> np.ndarray:
    """The harness's video augmentation before the model input: `downscale_even`, then
    libx264 CRF 23 at 25 fps, yuv420p, and back."""
    return np.stack(h264_frames(list(downscale_even(frames)), VIDEO_CRF, VIDEO_FPS))


def model_input(media: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HWC image -> [3, H, W]; [T, H, W, 3] clip -> [T, 3, H, W]; uint8, resized as the
    harness resizes."""
    if media.ndim == 3:
        return np.ascontiguousarray(center_crop_resize(media, size).transpose(2, 0, 1))
    return np.stack([model_input(frame, size) for frame in media])


def prepare(path: Path, spec: HarnessInput) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """(clean input, augmented input or None, why the augmentation failed) for one file.
    Raises MediaReadError when the file cannot be read."""
    if spec.modality == "image":
        media = read_image(path)
        augment = social
    else:
        media = read_clip(path, spec.num_frames, spec.frame_rate)
        augment = augment_video
    clean = model_input(media, spec.size)
    try:
        return clean, model_input(augment(media), spec.size), None
    except (ValueError, av.error.FFmpegError) as error:  # a codec that is missing stays fatal
        return clean, None, f"augmentation failed ({type(error).__name__}: {error})"


# ---- scoring ---------------------------------------------------------------------------------


def logits_of(output: Any) -> torch.Tensor:
    """The logits in whatever the harness accepts from a model's forward."""
    if hasattr(output, "logits"):
        return output.logits
    if isinstance(output, tuple):
        return output[0]
    if isinstance(output, dict):
        return output.get("logits", output.get("output", next(iter(output.values()))))
    return output


def p_not_real(logits: np.ndarray) -> np.ndarray:
    """Binary P(fake) of [B, K] logits, K >= 2 ordered [real, ...]: 1 - softmax[:, 0]."""
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise UserError(
            f"the model returned logits of shape {tuple(logits.shape)}; gasbench needs "
            "[batch, num_classes] with class 0 = real"
        )
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return 1.0 - exp[:, 0] / exp.sum(axis=1)


@torch.inference_mode()
def predict(model: torch.nn.Module, batch: np.ndarray, device: torch.device) -> np.ndarray:
    """P(fake) of a uint8 batch, handed over as the harness hands it (uint8, on the device)."""
    logits = logits_of(model(torch.from_numpy(batch).to(device)))
    probs = p_not_real(logits.detach().to("cpu", torch.float32).numpy())
    if len(probs) != len(batch):
        raise UserError(f"the model returned {len(probs)} predictions for {len(batch)} inputs")
    return probs.astype(np.float64)


def score_folder(
    model: torch.nn.Module,
    spec: HarnessInput,
    root: str | Path,
    batch_size: int | None = None,
    max_files: int | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> FolderScores:
    """Every file of the modality under root/real and root/fake through the harness's clean
    and augmented passes; unreadable files are recorded skips."""
    device = torch.device(device)
    batch_size = batch_size or DEFAULT_BATCH[spec.modality]
    items, skipped, selected = list_media(root, spec.modality, max_files, seed)
    passes = {name: PassScores() for name in PASSES}
    for start in range(0, len(items), batch_size):
        ready: dict[str, list[tuple[Path, int, np.ndarray]]] = {name: [] for name in PASSES}
        for path, label in items[start : start + batch_size]:
            try:
                clean, augmented, why = prepare(path, spec)
            except MediaReadError as error:
                skipped.append(Skip(str(path), str(error)))
                continue
            ready["clean"].append((path, label, clean))
            if augmented is None:
                skipped.append(Skip(str(path), str(why), "augmented"))
            else:
                ready["augmented"].append((path, label, augmented))
        for name, rows in ready.items():
            if rows:
                probs = predict(model, np.stack([row[2] for row in rows]), device)
                passes[name].paths.extend(str(row[0]) for row in rows)
                passes[name].labels.extend(row[1] for row in rows)
                passes[name].p_fake.extend(probs.tolist())
        log.info("scored %d/%d files", min(start + batch_size, len(items)), len(items))
    return FolderScores(spec, passes, skipped, selected)


def blend(clean: float, augmented: float, aug_weight: float) -> float:
    """The harness's robustness blend of two sn34 scores."""
    return (1 - aug_weight) * clean + aug_weight * augmented


def summary(scores: FolderScores, aug_weight: float) -> dict[str, Any]:
    """Per-pass metrics, the blended sn34 as the harness reports it, the skips."""
    passes = {name: scores.passes[name].metrics() for name in PASSES}
    if not passes["clean"]["n"]:
        first = scores.skipped[0]
        raise DataError(
            f"no file could be scored: all {sum(scores.selected.values())} were skipped, "
            f"e.g. {first.path}: {first.reason}"
        )
    clean = passes["clean"]["sn34"]
    augmented = passes["augmented"].get("sn34")
    blended = clean if augmented is None or aug_weight <= 0 else blend(clean, augmented, aug_weight)
    return {
        "modality": scores.spec.modality,
        "input": {
            "resize": list(scores.spec.size),
            **(
                {"num_frames": scores.spec.num_frames, "frame_rate": scores.spec.frame_rate}
                if scores.spec.modality == "video"
                else {}
            ),
        },
        "notes": list(scores.spec.notes),
        "selected": scores.selected,
        "passes": passes,
        "aug_weight": aug_weight,
        "sn34": blended,
        "augmentation_robustness": (
            augmented / clean if augmented is not None and clean > 0 else float("nan")
        ),
        "skipped": [vars(skip) for skip in scores.skipped],
    }


# ---- the command -----------------------------------------------------------------------------


def check_settings(cfg: DictConfig) -> None:
    if cfg.batch_size is not None:
        settings.whole_number("batch_size", cfg.batch_size, 1)
    settings.optional_whole_number("max_files", cfg.max_files, 1)
    settings.whole_number("seed", cfg.seed, 0)
    settings.number_in("aug_weight", cfg.aug_weight, 0.0, 1.0)
    settings.device("device", cfg.device, auto=True)


def report(result: dict[str, Any], model_dir: str, root: str) -> None:
    rows = []
    for name in PASSES:
        m = result["passes"][name]
        if not m["n"]:
            rows.append([name, "0", "-", "-", "-", "-", "-"])
            continue
        cells = [m["mcc"], m["brier"], m["sn34"], m["acc"], m["auc"]]
        rows.append([name, str(int(m["n"])), *(f"{v:.4f}" for v in cells)])
    print(f"model_dir: {model_dir}\nroot: {root}")
    head = ["pass", "n", "MCC", "Brier", "sn34", "acc", "AUC"]
    print_table(f"gasbench-style score ({result['modality']} model)", head, rows)
    weight = result["aug_weight"]
    print(f"sn34 = {1 - weight:g} * clean + {weight:g} * augmented: {result['sn34']:.4f}")
    robustness = result["augmentation_robustness"]
    print(f"augmentation robustness (augmented / clean sn34): {robustness:.4f}")
    for note in result["notes"]:
        print(f"note: {note}")
    skipped = result["skipped"]
    print(f"skipped: {len(skipped)}" + (" (all listed in results.json)" if skipped else ""))
    for skip in skipped[:10]:
        print(f"  {skip['path']} [{skip['passes']}]: {skip['reason']}")
    if len(skipped) > 10:
        print(f"  ... and {len(skipped) - 10} more")


def write_predictions(path: Path, scores: FolderScores) -> None:
    """One row per scored file: its label and P(fake) in each pass (empty where skipped)."""
    by_pass = {name: dict(zip(p.paths, p.p_fake, strict=True)) for name, p in scores.passes.items()}
    labels = dict(zip(scores.passes["clean"].paths, scores.passes["clean"].labels, strict=True))

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["path", "label", *(f"p_fake_{name}" for name in PASSES)])
            for file, label in labels.items():
                writer.writerow([file, label, *(by_pass[name].get(file, "") for name in PASSES)])

    write_atomically(path, write)


def benchmark(cfg: DictConfig) -> dict[str, Any]:
    """`python -m fakeguard.benchmark_dir`: score cfg.root as gasbench would score the model
    in cfg.model_dir; print the table and write results.json (+ predictions.csv) to cfg.out."""
    check_settings(cfg)
    spec = harness_input(read_model_config(cfg.model_dir))
    list_media(cfg.root, spec.modality)  # a bad root fails before the model loads
    device = pick_device(cfg.device)
    model = load_harness_model(cfg.model_dir, device)
    scores = score_folder(
        model, spec, cfg.root, cfg.batch_size, cfg.max_files, cfg.seed, device=device
    )
    result = {"model_dir": cfg.model_dir, "root": cfg.root, **summary(scores, cfg.aug_weight)}
    report(result, str(cfg.model_dir), str(cfg.root))
    out = Path(cfg.out)
    write_json(out, result)
    write_predictions(out.with_name("predictions.csv"), scores)
    print(f"wrote {out} and {out.with_name('predictions.csv')}")
    return result
