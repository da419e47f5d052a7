"""What the BitMind gasbench harness does with a model directory and a file: how it loads the
model, reads an image or a clip, turns it into the model's input, augments it, and reads
P(fake) from the output. `fakeguard.export.benchmark` scores folders with it. What it
reproduces was read from gasbench's own code (newest stored versions; paths under
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
Not reproduced: dataset sampling and weighting (`score_composition`, holdouts), the augmented
pass on a subset (`n_aug_per_dataset`: every file here), multiclass scoring, random crops and
augmentation levels (off by default), embeddings, caches and checkpoints.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import av.error
import cv2
import numpy as np
import torch
import yaml
from av.video.reformatter import Colorspace
from PIL import Image

from fakeguard import settings
from fakeguard.data.frames import MediaReadError
from fakeguard.errors import MissingFileError, UserError
from fakeguard.export.gasbench import load_like_harness
from fakeguard.robustness.codecs import h264_frames
from fakeguard.robustness.standins import social_size
from fakeguard.robustness.suite import social

log = logging.getLogger(__name__)

MODALITIES = ("image", "video")
DEFAULT_RESIZE = (224, 224)  # the harness's input size when the config gives none
DEFAULT_NUM_FRAMES = 16
MAX_NUM_FRAMES = 64
VIDEO_CRF, VIDEO_FPS = 23, 25
VIDEO_KEYS = ("num_frames", "max_frames", "frame_rate")


@dataclass(frozen=True)
class HarnessInput:
    """What the harness feeds a model directory: modality, [H, W], and for video the clip."""

    modality: str
    size: tuple[int, int]
    num_frames: int = DEFAULT_NUM_FRAMES
    frame_rate: float | None = None
    notes: tuple[str, ...] = ()


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
