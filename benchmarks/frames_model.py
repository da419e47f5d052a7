"""A gasbench model that takes whole frames against `fakeguard.predict`'s face-crop path.

Exports the checkpoint with `input=frames` (faces found inside the model) and scores the same
sampled frames of each video two ways, in one process:

1. baseline: predict's path (MTCNN on the frame, prepare's crop, the evaluation resize), the
   mean of the per-frame P(fake), as `fakeguard.predict` aggregates;
2. ours: the exported model.py, loaded as the harness loads it, fed the whole frame
   ("native"), and fed the frame as the harness feeds it (centre crop, resized to the
   config's `preprocessing.resize`: "harness");

and prints per video the mean P(fake) of each, the largest difference, the share of frames
where the model found a face, and the time per frame of each path.

    python benchmarks/frames_model.py --ckpt <best.ckpt> [--videos ../shared/data/ffpp_sample]
        [--frames 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fakeguard.data.extract import ExtractSettings, load_media, pick_faces
from fakeguard.data.faces import FaceDetector, crop_box
from fakeguard.data.images import VIDEO_SUFFIXES
from fakeguard.export.gasbench import Packaging, load_like_harness, write_gasbench_dir
from fakeguard.export.harness import center_crop_resize
from fakeguard.inference.ensemble import Ensemble
from fakeguard.inference.faces import media_item
from fakeguard.models.checkpoint import load_detector

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ffpp_sample"


def sampled_frames(path: Path, count: int) -> list[np.ndarray]:
    media = load_media(media_item(path), count)
    return [media.frames[i] for i in sorted(media.frames)]


def predict_path(frames: list[np.ndarray], faces: FaceDetector, ensemble: Ensemble) -> list:
    """P(fake) of each face crop predict would cut (the main face of each frame)."""
    detected, _ = pick_faces(faces.detect(frames), ExtractSettings())
    crops = []
    for frame, found in zip(frames, detected, strict=True):
        for face in found:
            x1, y1, x2, y2 = crop_box(face.box, *frame.shape[:2], 0.3)
            crops.append(frame[y1:y2, x1:x2])
    return list(ensemble.predict(crops)) if crops else []


def model_path(model: torch.nn.Module, frames: list[np.ndarray]) -> np.ndarray:
    batch = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()
    with torch.inference_mode():
        return torch.softmax(model(batch).float(), 1)[:, 1].numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--videos", type=Path, default=SHARED)
    parser.add_argument("--frames", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    detector = load_detector(args.ckpt)
    ensemble, faces = Ensemble([detector]), FaceDetector()
    with tempfile.TemporaryDirectory() as folder:
        write_gasbench_dir(detector, Path(folder) / "gas", Packaging())
        model, config = load_like_harness(Path(folder) / "gas")
    side = tuple(config["preprocessing"]["resize"])
    videos = sorted(p for p in args.videos.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    print(f"{len(videos)} videos, {args.frames} frames each; model input {side[1]}x{side[0]}")
    print(f"{'video':<48} {'predict':>8} {'native':>8} {'harness':>8} {'|diff|':>7} {'faces':>6}")
    times, worst = {"predict": 0.0, "native": 0.0, "harness": 0.0}, 0.0
    total = 0
    for path in videos:
        frames = sampled_frames(path, args.frames)
        total += len(frames)
        start = time.perf_counter()
        crops_p = predict_path(frames, faces, ensemble)
        times["predict"] += time.perf_counter() - start
        seen, whole = int(model.frames_seen), int(model.frames_whole)
        start = time.perf_counter()
        native = model_path(model, frames)
        times["native"] += time.perf_counter() - start
        found = 1 - (int(model.frames_whole) - whole) / (int(model.frames_seen) - seen)
        start = time.perf_counter()
        harness = model_path(model, [center_crop_resize(f, side) for f in frames])
        times["harness"] += time.perf_counter() - start
        baseline = float(np.mean(crops_p)) if crops_p else float("nan")
        diff = max(abs(native.mean() - baseline), abs(harness.mean() - baseline))
        worst = max(worst, diff)
        name = str(path.relative_to(args.videos))[-48:]
        print(
            f"{name:<48} {baseline:8.3f} {native.mean():8.3f} {harness.mean():8.3f} "
            f"{diff:7.3f} {found:6.0%}"
        )
    print(f"largest |mean P(fake) difference| per video: {worst:.3f}")
    print(f"whole-frame fallback rate: {model.fallback_rate:.1%} of {int(model.frames_seen)}")
    per = {k: 1000 * v / total for k, v in times.items()}
    print(
        f"ms per frame: predict {per['predict']:.0f}, in-model native {per['native']:.0f} "
        f"({per['native'] / per['predict']:.2f}x), in-model harness-size {per['harness']:.0f} "
        f"({per['harness'] / per['predict']:.2f}x)"
    )


if __name__ == "__main__":
    main()
