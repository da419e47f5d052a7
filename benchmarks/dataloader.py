"""Is the training DataLoader fast enough? Augmented images/s against training images/s.

For each augment set (`light`, `dfdc`, `dfdc_sbi`) it times the training DataLoader (2 workers,
as configured) over the demo data, or over prepared face crops with `--manifest`, and next to
it the training step (forward + backward + AdamW) of the demo model on the same machine and
input size. The loader is not the bottleneck while its images/s exceed the model's.

    python benchmarks/dataloader.py [--size 224] [--batch 32] [--workers 2] [--manifest M]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from fakeguard.training.run import build_datamodule

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

SETS = ("light", "dfdc", "dfdc_sbi")


def config(args: argparse.Namespace, augment: str):
    data = ["data=faces", f"data.manifest={args.manifest}"] if args.manifest else ["data=demo"]
    overrides = [
        *data,
        f"augment={augment}",
        f"data.image_size={args.size}",
        f"data.batch_size={args.batch}",
        f"data.num_workers={args.workers}",
        "paths.output_dir=/tmp",
    ]
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        return compose("train", overrides)


def loader_rate(args: argparse.Namespace, augment: str) -> float:
    """Training images per second out of the DataLoader (after one warm-up batch)."""
    datamodule = build_datamodule(config(args, augment))
    loader = datamodule.train_dataloader()
    batches = iter(loader)
    next(batches)  # worker start-up is paid once per run, not per batch
    start, images = time.perf_counter(), 0
    for i, batch in enumerate(batches):
        images += len(batch["image"])
        if i + 1 >= args.batches:
            break
    return images / (time.perf_counter() - start)


def model_rate(args: argparse.Namespace) -> float:
    """Training images per second of the demo model (forward, backward, optimizer step)."""
    module = instantiate(config(args, "light").model)
    optimizer = torch.optim.AdamW(p for p in module.parameters() if p.requires_grad)
    images = torch.rand(args.batch, 3, args.size, args.size)
    labels = torch.randint(0, 2, (args.batch,)).float()
    module.train()
    times = []
    for _ in range(args.steps + 1):
        start = time.perf_counter()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(module(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return args.batch / (sum(times[1:]) / args.steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--manifest", default=None)
    args = parser.parse_args()
    source = args.manifest or "demo data"
    threads = torch.get_num_threads()
    print(
        f"{source}, {args.size} px, batch {args.batch}, {args.workers} workers, {threads} threads"
    )
    model = model_rate(args)
    print(f"{'demo model training step':28s} {model:8.1f} images/s")
    for augment in SETS:
        rate = loader_rate(args, augment)
        name = f"loader augment={augment}"
        print(f"{name:28s} {rate:8.1f} images/s  x{rate / model:.2f} of the model")


if __name__ == "__main__":
    main()
