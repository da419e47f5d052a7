"""Face extraction speed: fakeguard's pipeline against a naive baseline, in one process.

Both sample 32 evenly spaced frames per video of ../shared/data/ffpp_sample and run MTCNN
(thresholds 0.85/0.95/0.95) on them. The baseline decodes every frame with OpenCV, keeps the
sampled ones, halves them and detects each video's batch. fakeguard decodes with PyAV (seeking,
converting only sampled frames, the next video decoded while this one is detected), rescales by
frame size, and also writes the PNG crops and the manifest. Prints sampled frames per second,
the share of sampled frames with a face, and the ratio.

    python benchmarks/prepare.py [--root ../shared/data/ffpp_sample] [--frames 32] [--workers 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir

from fakeguard.data.faces import DEFAULT_THRESHOLDS
from fakeguard.data.frames import sample_indices
from fakeguard.data.prepare import prepare
from fakeguard.data.sources import ffpp_items

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def naive(paths: list[str], frames: int) -> tuple[int, int]:
    """(sampled frames, frames with a face) for the decode-everything baseline."""
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(keep_all=True, thresholds=list(DEFAULT_THRESHOLDS), device="cpu")
    sampled = with_face = 0
    for path in paths:
        capture = cv2.VideoCapture(path)
        every = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            every.append(frame)
        capture.release()
        batch = [
            cv2.cvtColor(cv2.resize(every[i], None, fx=0.5, fy=0.5), cv2.COLOR_BGR2RGB)
            for i in sample_indices(len(every), frames)
        ]
        boxes, _ = mtcnn.detect(np.stack(batch))
        sampled += len(batch)
        with_face += sum(b is not None for b in boxes)
    return sampled, with_face


def ours(root: Path, frames: int, workers: int) -> tuple[int, int]:
    """(sampled frames, frames with a face) for `fakeguard.data.prepare`."""
    with (
        tempfile.TemporaryDirectory() as out,
        initialize_config_dir(str(CONFIGS), version_base="1.3"),
    ):
        cfg = compose(
            "prepare",
            [
                f"root={root}",
                f"out={out}",
                f"extract.frames={frames}",
                f"workers={workers}",
                "progress=false",
                "paths.log_dir=/tmp",
            ],
        )
        prepare(cfg)
        manifest = pd.read_parquet(Path(out) / "manifest.parquet")
        failures = pd.read_csv(Path(out) / "failures.csv")
    faceless = failures[failures["reason"] == "no face detected"]
    with_face = manifest.groupby(["video_id", "frame"]).ngroups
    return with_face + len(faceless), with_face


def timed(fn, *args) -> tuple[float, tuple[int, int]]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_root = Path(__file__).resolve().parents[2] / "shared" / "data" / "ffpp_sample"
    parser.add_argument("--root", type=Path, default=default_root)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    paths = [item.path for item in ffpp_items(args.root)]
    print(f"{len(paths)} videos under {args.root}, {args.frames} sampled frames each")

    rows = {}
    rows["naive (OpenCV all frames, 0.5x)"] = timed(naive, paths, args.frames)
    rows["fakeguard prepare"] = timed(ours, args.root, args.frames, args.workers)
    base = None
    for name, (seconds, (sampled, with_face)) in rows.items():
        fps = sampled / seconds
        base = base or fps
        print(
            f"{name:34s} {seconds:7.2f} s  {fps:6.1f} sampled frames/s  "
            f"faces in {with_face}/{sampled} ({with_face / sampled:.1%})  x{fps / base:.2f}"
        )


if __name__ == "__main__":
    main()
