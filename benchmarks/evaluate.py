"""evaluate.py speed on CPU: samples/s per track for the demo model, and where the time goes.

Trains a small demo checkpoint against PGD + the U-Net attacker (or takes --ckpt), then runs
`evaluate` on a seeded subset of its test split twice, on the same tracks:

1. cold: an empty suite cache, so every degraded crop is encoded;
2. warm: the cache from run 1 (what a second checkpoint or a later run sees), so the suite
   tracks cost only a PNG read.

For each track: samples/s (samples x checkpoints / the track's time) and the share of its time
spent reading crops, in codecs (the suite, and recompression after an attack), resizing, in the
attack, and in the model's scoring pass.

    python benchmarks/evaluate.py [--samples 16] [--tracks all] [--ckpt path/to/best.ckpt]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from fakeguard.evaluation.runner import evaluate
from fakeguard.scoring.engine import PARTS
from fakeguard.training.run import train

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DEMO = ["data.num_identities=100", "data.image_size=128"]


def train_demo(folder: Path) -> Path:
    overrides = [
        *DEMO,
        "attack=pgd_unet",
        "trainer.max_epochs=1",
        "tracks=none",
        "test=false",
        "logger=none",
        f"paths.output_dir={folder}",
        f"paths.cache_dir={folder}/cache",
    ]
    train(compose("train", overrides))
    return folder / "checkpoints" / "best.ckpt"


def timed_evaluate(ckpt: Path, tracks: str, samples: int, out: Path, cache: Path) -> dict:
    overrides = [
        *DEMO,
        f"ckpt_path={ckpt}",
        f"tracks={tracks}",
        f"max_samples={samples}",
        "gradcam.samples=0",
        "plots=false",
        "device=cpu",
        f"paths.output_dir={out}",
        f"cache_dir={cache}",
    ]
    start = time.perf_counter()
    evaluate(compose("evaluate", overrides))
    payload = json.loads((out / "results.json").read_text())
    payload["wall_s"] = time.perf_counter() - start
    return payload


def print_rates(label: str, payload: dict) -> None:
    checkpoints = len(payload["checkpoints"])
    print(f"\n{label}: {payload['wall_s']:.1f} s wall in all (loading and report included)")
    print(f"{'track':16s} {'samples/s':>10s} " + " ".join(f"{p:>7s}" for p in PARTS))
    totals = dict.fromkeys(PARTS, 0.0)
    for track, parts in payload["timings_s"].items():
        seconds = sum(parts.values())
        scored = payload["samples"][track]["scored"] * checkpoints
        shares = " ".join(f"{parts[p] / seconds:7.1%}" for p in PARTS)
        print(f"{track:16s} {scored / seconds:10.1f} {shares}")
        for p in PARTS:
            totals[p] += parts[p]
    everything = sum(totals.values())
    shares = " ".join(f"{totals[p] / everything:7.1%}" for p in PARTS)
    print(f"{'all tracks':16s} {'':10s} {shares}   ({everything:.1f} s)")
    attack, codec, model = totals["attack"], totals["codec"], totals["model"]
    print(
        f"share of time: attacks {attack / everything:.1%}, codecs {codec / everything:.1%}, "
        f"model (scoring pass) {model / everything:.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--tracks", default="all")
    parser.add_argument("--ckpt", type=Path, default=None)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        initialize_config_dir(str(CONFIGS), version_base="1.3"),
    ):
        tmp = Path(tmp)
        ckpt = args.ckpt or train_demo(tmp / "train")
        print(f"checkpoint {ckpt}; tracks={args.tracks}; {args.samples} test samples; CPU")
        cache = tmp / "cache"
        cold = timed_evaluate(ckpt, args.tracks, args.samples, tmp / "cold", cache)
        warm = timed_evaluate(ckpt, args.tracks, args.samples, tmp / "warm", cache)
    print_rates("cold suite cache", cold)
    print_rates("warm suite cache", warm)


if __name__ == "__main__":
    main()
