"""Robustness suite speed: images/s per track on one core, and the callback's training cost.

1. Each suite v1 track on a photo at 1024 x 1024 and 320 x 320, with OpenCV on one thread,
   next to a straightforward per-step Pillow/OpenCV `social` chain (files re-opened with
   `Image.open`, colour converted at every step) as the baseline.
2. The demo run (`python train.py`, tracks=fast) for two epochs: the RobustnessCallback's time
   as a share of the rest of each epoch, cold (first epoch: degrading and caching) and warm
   (second epoch: cache hits, model only).

    python benchmarks/suite.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import cv2
import lightning as L
import numpy as np
from hydra import compose, initialize_config_dir
from PIL import Image
from skimage import data

from fakeguard.robustness import suite
from fakeguard.training.callbacks import RobustnessCallback
from fakeguard.training.run import train

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def naive_social(image: np.ndarray) -> np.ndarray:
    """The chain as one would write it step by step: PIL round trips through files in memory."""
    h, w = image.shape[:2]
    sh, sw = max(256, int(round(h * 0.5))), max(256, int(round(w * 0.5)))
    if sh < h and sw < w:
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        image = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    steps = [
        ("JPEG", {"quality": 55, "subsampling": 2}),
        ("WEBP", {"quality": 75, "method": 4}),
        ("JPEG", {"quality": 80, "subsampling": 2}),
    ]
    for fmt, options in steps:
        buffer = io.BytesIO()
        Image.fromarray(image).convert("RGB").save(buffer, format=fmt, **options)
        buffer.seek(0)
        image = np.array(Image.open(buffer).convert("RGB"))
    return image


def rate(fn, image: np.ndarray, repeats: int) -> float:
    fn(image)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn(image)
    return repeats / (time.perf_counter() - start)


def track_rates(repeats: int) -> None:
    cv2.setNumThreads(1)
    photo = data.astronaut()
    for size, n in ((1024, repeats), (320, repeats * 10)):
        image = cv2.resize(photo, (size, size), interpolation=cv2.INTER_CUBIC)
        base = rate(naive_social, image, n)
        print(f"{size} px  {'naive social (baseline)':24s} {base:8.1f} images/s")
        for name in suite.TRACKS:
            r = rate(suite.TRACKS[name].image, image, n)
            print(f"{size} px  {name:24s} {r:8.1f} images/s  x{r / base:.2f}")
    cv2.setNumThreads(-1)


class EpochTimer(L.Callback):
    """Wall time of each training epoch (its validation included)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_epoch_start(self, trainer, module) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, module) -> None:
        self.times.append(time.perf_counter() - self.start)


class TimedRobustness(RobustnessCallback):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.times: list[float] = []

    def on_validation_epoch_end(self, trainer, module) -> None:
        start = time.perf_counter()
        super().on_validation_epoch_end(trainer, module)
        if not trainer.sanity_checking:
            self.times.append(time.perf_counter() - start)


def callback_overhead() -> None:
    """Two demo epochs; the configured callback is replaced by a timed one on the same tracks."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        initialize_config_dir(str(CONFIGS), version_base="1.3"),
    ):
        overrides = ["trainer.max_epochs=2", "test=false", "logger=none", "tracks=none",
                     f"paths.output_dir={tmp}", f"paths.cache_dir={tmp}/cache"]  # fmt: skip
        cfg = compose("train", overrides)
        tracks = list(compose("train", ["tracks=fast"]).tracks.names)
        epochs, robustness = EpochTimer(), TimedRobustness(tracks=tracks, cache_dir=f"{tmp}/cache")
        train(cfg, extra_callbacks=[epochs, robustness])
    print(f"demo training, tracks {tracks} on the whole validation set")
    for label, total, cb in zip(("cold", "warm"), epochs.times, robustness.times, strict=True):
        share = cb / (total - cb)
        print(f"{label}: epoch {total:6.1f} s, callback {cb:5.1f} s = {share:6.1%} of the rest")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    track_rates(args.repeats)
    if not args.skip_training:
        callback_overhead()


if __name__ == "__main__":
    main()
