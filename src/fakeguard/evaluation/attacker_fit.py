"""`attacker=train`: a fresh U-Net fitted to each checkpoint, so that a baseline model is
attacked by a U-Net trained against it, not by another model's (a transfer attack).

One U-Net per checkpoint and per platform its `unet` tracks go through: `unet` and
`unet+<codec>` get one fitted on the model input itself, `unet:<codec>` one fitted through the
codec's stand-in (`fakeguard.robustness.eot.platform`). The detector is frozen; the U-Net
learns on crops of `attacker_fit.split` (the training split: the test crops it attacks are new
to it, as they would be to a real attacker's generator).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from fakeguard import settings
from fakeguard.attacks.unet_fit import fit_unet
from fakeguard.data.datamodule import FaceDataModule
from fakeguard.data.splits import SPLITS
from fakeguard.robustness.eot import platform
from fakeguard.scoring.engine import Candidate
from fakeguard.scoring.inputs import read_crop, to_tensor
from fakeguard.scoring.samples import samples_to_score
from fakeguard.scoring.tracks import EvalTrack

log = logging.getLogger(__name__)


def platforms_to_fit(tracks: Sequence[EvalTrack]) -> list[str | None]:
    """The platforms the set's `unet` tracks go through (None: the model input itself)."""
    return list(dict.fromkeys(t.through for t in tracks if t.attack == "unet"))


def check_fit_settings(fit: DictConfig) -> None:
    settings.whole_number("attacker_fit.steps", fit.steps, 1)
    settings.whole_number("attacker_fit.batch_size", fit.batch_size, 1)
    settings.whole_number("attacker_fit.max_samples", fit.max_samples, 2)
    settings.positive_number("attacker_fit.lr", fit.lr)
    settings.one_of("attacker_fit.split", fit.split, SPLITS)
    settings.number_in("attacker_fit.eps", fit.eps, 0, 1, low_open=True)


def fit_batches(
    datamodule: FaceDataModule, split: str, image_size: int, fit: DictConfig, seed: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Up to `fit.max_samples` seeded crops of `split`, at the checkpoint's input size, in
    batches of `fit.batch_size` (labels as floats)."""
    samples, _, _ = samples_to_score(datamodule.split(split), fit.max_samples, seed)
    pairs = [(read_crop(s), s.label) for s in samples]
    pairs = [(image, label) for image, label in pairs if image is not None]
    order = np.random.default_rng(seed).permutation(len(pairs))
    batches = []
    for start in range(0, len(order), fit.batch_size):
        chosen = [pairs[i] for i in order[start : start + fit.batch_size]]
        x = to_tensor([image for image, _ in chosen], image_size)
        batches.append((x, torch.tensor([label for _, label in chosen], dtype=torch.float32)))
    return batches


def fit_attackers(
    candidates: Sequence[Candidate],
    tracks: Sequence[EvalTrack],
    datamodule: FaceDataModule,
    fit: DictConfig,
    eot: Mapping[str, Any] | None,
    seed: int,
) -> list[str]:
    """Fit the U-Nets the `unet` tracks need, into each candidate (`attacker` for the plain
    tracks, `fitted[codec]` for the adaptive ones); the report's notes on each fit. The
    runner checks `fit` first (`check_fit_settings`)."""
    names = platforms_to_fit(tracks)
    notes: list[str] = []
    for candidate in candidates if names else []:
        device = next(candidate.detector.parameters()).device
        batches = [
            (x.to(device), y.to(device))
            for x, y in fit_batches(datamodule, fit.split, candidate.image_size, fit, seed)
        ]
        for name in names:
            unet, summary = fit_unet(
                candidate.detector,
                batches,
                eps=float(fit.eps),
                steps=int(fit.steps),
                lr=float(fit.lr),
                platform=platform(name, eot) if name else None,
                seed=seed,
            )
            if name is None:
                candidate.attacker = unet
            else:
                candidate.fitted[name] = unet
            candidate.attacker_source = "fitted (attacker=train)"
            notes.append(_note(candidate.name, name, fit, summary))
            log.info(notes[-1])
    return notes


def _note(checkpoint: str, name: str | None, fit: DictConfig, summary: Mapping) -> str:
    where = f"through {name}" if name else "on the model input"
    parts = ", ".join(
        f"{key} {value:.3f}" if isinstance(value, float) else f"{key} {value}"
        for key, value in summary.items()
    )
    return (
        f"U-Net fitted to {checkpoint} {where}: {fit.steps} steps at lr {fit.lr:g} on up to "
        f"{fit.max_samples} {fit.split} crops, eps {fit.eps * 255:.3g}/255 ({parts})"
    )
