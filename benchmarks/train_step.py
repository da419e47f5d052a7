"""Median training-step time of clean, FGSM-RS, PGD-10, PGD-10 + U-Net training, and PGD-10
through a platform (attack.through: the jpeg50 stand-in, the EOT distribution).

Runs the real DetectorModule under a Lightning Trainer on a fixed batch and resolution, with
clean training as the baseline in the same process, and prints each mode's time ratio to clean
next to the number of detector forward+backward passes it needs. A ratio well above its pass
count would mean wasted work. The platform rows also give their ratio to plain PGD-10: the cost
of compression-aware hardening (the real codec forward on CPU and its stand-in's backward, in
each of PGD's steps and once more for the detector's adversarial term). Compare them with
--channels-last: the platforms return channels_last tensors (their numpy HWC round trip), in
which the detector runs ~2x faster on CPU, so in the default layout they look cheaper than
plain PGD.

    python benchmarks/train_step.py [--batch 16] [--size 128] [--steps 8] [--device cpu]
        [--precision 32-true] [--channels-last]
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from fakeguard.attacks.pgd import FGSM, PGD
from fakeguard.attacks.unet import UNetAttacker
from fakeguard.models.detectors import Detector
from fakeguard.training.adversary import Adversary
from fakeguard.training.module import DetectorModule

EPS = 8 / 255
THROUGH = ("jpeg50", "eot")  # the platforms of the attack.through rows


class StepTimer(L.Callback):
    """Wall time of every training batch (synchronised on GPU)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def _sync(self, module: L.LightningModule) -> None:
        if module.device.type == "cuda":
            torch.cuda.synchronize()

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._sync(module)
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self._sync(module)
        self.times.append(time.perf_counter() - self.start)


def adversaries() -> dict[str, Adversary | None]:
    adam = partial(torch.optim.Adam, lr=1e-3)
    return {
        "clean": None,
        "fgsm-rs": Adversary(attack=FGSM(EPS)),
        "pgd-10": Adversary(attack=PGD(EPS, 2 / 255, 10)),
        "pgd-10+unet": Adversary(
            attack=PGD(EPS, 2 / 255, 10),
            unet=UNetAttacker(EPS, conditioned=True),
            unet_optimizer=adam,
        ),
        **{
            f"pgd-10:{platform}": Adversary(attack=PGD(EPS, 2 / 255, 10), through=platform)
            for platform in THROUGH
        },
    }


def median_step(adversary: Adversary | None, args: argparse.Namespace) -> float:
    torch.manual_seed(0)
    net = Detector(weights="lite0", img_size=args.size)
    module = DetectorModule(net, partial(torch.optim.AdamW, lr=1e-4), adversary=adversary)
    if args.channels_last:
        module = module.to(memory_format=torch.channels_last)
    images = torch.rand(args.batch * (args.steps + 2), 3, args.size, args.size)
    labels = torch.arange(len(images)).remainder(2).float()
    loader = DataLoader(
        [{"image": x, "label": y} for x, y in TensorDataset(images, labels)],
        batch_size=args.batch,
    )
    timer = StepTimer()
    trainer = L.Trainer(
        accelerator=args.device,
        devices=1,
        precision=args.precision,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(module, train_dataloaders=loader)
    return statistics.median(timer.times[2:])  # the first steps warm up allocators and caches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args()
    print(
        f"batch {args.batch} x 3 x {args.size} x {args.size}, {args.device}, "
        f"{args.precision}{', channels_last' if args.channels_last else ''}, "
        f"median of {args.steps} steps, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    head = f"{'mode':<14}{'step (s)':>10}{'ratio':>8}{'passes':>8}{'ratio/passes':>14}"
    print(f"{head}{'to pgd-10':>11}")
    steps: dict[str, float] = {}
    for name, adversary in adversaries().items():
        steps[name] = step = median_step(adversary, args)
        passes = adversary.passes() if adversary is not None else 1
        ratio = step / steps["clean"]
        row = f"{name:<14}{step:>10.3f}{ratio:>8.2f}{passes:>8d}{ratio / passes:>14.2f}"
        through = adversary is not None and adversary.through is not None
        print(row + (f"{step / steps['pgd-10']:>11.2f}" if through else ""))


if __name__ == "__main__":
    main()
