"""Every checkpoint on every track, over one list of samples in one order.

The loop runs track -> batch -> checkpoint: a batch's crops are read and degraded once (the
suite's cache holds them across runs), and every checkpoint scores the same degraded crops.
Each checkpoint then resizes them to its own input size, and attack tracks attack that input
white box, so only attacked inputs differ between checkpoints. An adaptive track's attack sees
the checkpoint behind the platform's stand-in (`Through(detector, platform)`).
"""

from __future__ import annotations

import time
import zlib
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.progress import Progress

from fakeguard.attacks.registry import Attack, pinned_attack
from fakeguard.attacks.through import through
from fakeguard.attacks.unet import UNetAttack, UNetAttacker
from fakeguard.data.samples import FaceSample
from fakeguard.models.detectors import Detector
from fakeguard.robustness.degrade import DegradedSamples
from fakeguard.robustness.eot import platform
from fakeguard.robustness.tensors import recompress
from fakeguard.scoring.inputs import digests, source_images, to_tensor
from fakeguard.scoring.predict import p_fake
from fakeguard.scoring.tracks import EvalTrack

PARTS = ("read", "codec", "resize", "attack", "model")


@dataclass
class Candidate:
    """A checkpoint to score: its detector and the U-Nets that attack it on `unet` tracks:
    `attacker` on `unet` and `unet+<codec>`, `fitted[codec]` (fitted through that codec's
    stand-in, evaluate.py `attacker=train`) on `unet:<codec>`."""

    name: str
    path: str
    detector: Detector
    attacker: UNetAttacker | None = None
    attacker_source: str = ""  # "own", another checkpoint's path, "fitted", or "" (none)
    input_size: int | None = None  # None: the size in the detector's spec
    fitted: dict[str, UNetAttacker] = field(default_factory=dict)

    def unet(self, platform: str | None) -> UNetAttacker | None:
        """The U-Net of a `unet` track optimised through `platform` (None: no platform)."""
        return self.attacker if platform is None else self.fitted.get(platform)

    @property
    def image_size(self) -> int:
        """The input size the checkpoint was trained at: its own preprocessing."""
        return self.input_size or int(self.detector.spec["img_size"])


class Timings:
    """Seconds per track and part (read, codec, resize, attack, model)."""

    def __init__(self) -> None:
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(PARTS, 0.0))

    @contextmanager
    def part(self, track: str, part: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[track][part] += time.perf_counter() - start

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {track: dict(parts) for track, parts in self.seconds.items()}


@dataclass
class Scores:
    """Per-sample P(fake) for each checkpoint and track, and what could not be scored."""

    predictions: pd.DataFrame
    skipped_samples: dict[str, int]  # track -> samples it could not read or degrade
    unavailable: dict[str, dict[str, str]]  # checkpoint -> track -> reason
    timings: Timings = field(default_factory=Timings)


def seed_attack(seed: int, track: str, batch: int) -> None:
    """The same random state for every checkpoint on a batch: random starts do not depend on
    which other checkpoints run, or in which order."""
    value = (seed * 1_000_003 + zlib.crc32(track.encode()) + batch) % 2**32
    torch.manual_seed(value)
    np.random.seed(value)  # ART draws its random starts from numpy


class TrackInputs:
    """A track's model input for one checkpoint: source crop -> its resize -> attack (through
    the track's platform) -> codec.

    `attacks` overrides the registry's pinned attack of a track's `attack` name with a
    configured one (the training callback's cheap PGD at the experiment's eps). `eot` is the
    platform distribution of attacks through `eot` (evaluate.yaml's `eot` group)."""

    def __init__(
        self,
        timings: Timings | None = None,
        seed: int = 0,
        attacks: Mapping[str, Attack] | None = None,
        eot: Mapping[str, Any] | None = None,
    ) -> None:
        self.timings = timings or Timings()
        self.seed = seed
        self.eot = dict(eot or {})
        self._pinned: dict[str, Attack] = dict(attacks or {})
        self._platforms: dict[str, torch.nn.Module] = {}

    def attack_for(self, track: EvalTrack, candidate: Candidate) -> Attack | None:
        if track.attack is None:
            return None
        if track.attack == "unet":
            unet = candidate.unet(track.through)
            return UNetAttack(unet) if unet is not None else None
        if track.attack not in self._pinned:
            self._pinned[track.attack] = pinned_attack(track.attack)
        return self._pinned[track.attack]

    def platform_for(self, name: str | None) -> torch.nn.Module | None:
        """The stand-in an attack is optimised through (built once per name)."""
        if name is not None and name not in self._platforms:
            self._platforms[name] = platform(name, self.eot)
        return self._platforms.get(name) if name is not None else None

    def unavailable(self, track: EvalTrack, candidate: Candidate) -> str | None:
        """Why `candidate` cannot be scored on `track`, or None."""
        if track.attack != "unet" or candidate.unet(track.through) is not None:
            return None
        if track.through is not None:
            return f"no U-Net fitted through {track.through} (set attacker=train)"
        return "no U-Net attacker in the checkpoint (set attacker=<training checkpoint> or train)"

    def __call__(
        self,
        track: EvalTrack,
        candidate: Candidate,
        images: Sequence[np.ndarray],
        labels: torch.Tensor,
        batch: int = 0,
    ) -> torch.Tensor:
        device = next(candidate.detector.parameters()).device
        with self.timings.part(track.name, "resize"):
            x = to_tensor(images, candidate.image_size).to(device)
        attack = self.attack_for(track, candidate)
        if attack is not None:
            seed_attack(self.seed, track.name, batch)
            # a U-Net ignores the model; its platform was in its fit
            target = through(candidate.detector, self.platform_for(track.through))
            with self.timings.part(track.name, "attack"):
                x = attack(target, x, labels.to(device))
        if track.after is not None:
            with self.timings.part(track.name, "codec"):
                x = recompress(x, track.after)
        return x


def score(
    candidates: Sequence[Candidate],
    tracks: Sequence[EvalTrack],
    samples: Sequence[FaceSample],
    degraded: DegradedSamples,
    batch_size: int = 32,
    seed: int = 0,
    progress: Progress | None = None,
    ids: Sequence[int] | None = None,
    attacks: Mapping[str, Attack] | None = None,
    eot: Mapping[str, Any] | None = None,
) -> Scores:
    """P(fake) of every sample under every track for every checkpoint, as one long table
    (checkpoint, track, index, sample, video_id, method, label, prob, digest). `index` is
    `ids[i]` for the i-th sample (its place in the split), else i. `attacks` replaces pinned
    attacks by name, `eot` is the EOT platform's settings (see `TrackInputs`)."""
    ids = list(range(len(samples))) if ids is None else list(ids)
    inputs = TrackInputs(Timings(), seed, attacks, eot)
    rows: list[pd.DataFrame] = []
    skipped: dict[str, int] = {}
    unavailable: dict[str, dict[str, str]] = defaultdict(dict)
    starts = range(0, len(samples), batch_size)
    track_bar = progress.add_task("tracks", total=len(tracks)) if progress else None
    batch_bar = progress.add_task("batches", total=len(starts)) if progress else None
    for track in tracks:
        if progress:
            progress.reset(batch_bar, total=len(starts), description=f"  {track.name}")
        ready = []
        for candidate in candidates:
            reason = inputs.unavailable(track, candidate)
            if reason:
                unavailable[candidate.name][track.name] = reason
            else:
                ready.append(candidate)
        skipped[track.name] = 0
        for number, start in enumerate(starts):
            if ready:
                batch = samples[start : start + batch_size]
                batch_ids = ids[start : start + batch_size]
                scored, missed = _score_batch(
                    track, ready, batch, batch_ids, number, degraded, inputs
                )
                rows += scored
                skipped[track.name] += missed
            if progress:
                progress.advance(batch_bar)
        if progress:
            progress.advance(track_bar)
    predictions = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return Scores(predictions, skipped, dict(unavailable), inputs.timings)


def _score_batch(
    track: EvalTrack,
    candidates: Sequence[Candidate],
    batch: Sequence[FaceSample],
    ids: Sequence[int],
    number: int,
    degraded: DegradedSamples,
    inputs: TrackInputs,
) -> tuple[list[pd.DataFrame], int]:
    """One batch on one track for every checkpoint: rows, and how many samples were skipped."""
    with inputs.timings.part(track.name, "read" if track.suite == "clean" else "codec"):
        images = source_images(track.suite, batch, degraded)
    keep = [i for i, image in enumerate(images) if image is not None]
    if not keep:
        return [], len(batch)
    kept = [batch[i] for i in keep]
    labels = torch.tensor([s.label for s in kept], dtype=torch.float32)
    rows = []
    for candidate in candidates:
        x = inputs(track, candidate, [images[i] for i in keep], labels, number)
        with inputs.timings.part(track.name, "model"):
            prob = p_fake(candidate.detector, x)
        frame = prediction_rows(candidate.name, track.name, kept, [ids[i] for i in keep], prob)
        rows.append(frame.assign(digest=digests(x)))
    return rows, len(batch) - len(keep)


def prediction_rows(
    checkpoint: str,
    track: str,
    samples: Sequence[FaceSample],
    indices: Sequence[int],
    prob: np.ndarray,
) -> pd.DataFrame:
    """The engine's rows for one checkpoint and track: one per sample."""
    return pd.DataFrame(
        {
            "checkpoint": checkpoint,
            "track": track,
            "index": indices,
            "sample": [s.path or f"#{i}" for s, i in zip(samples, indices, strict=True)],
            "video_id": [s.video_id for s in samples],
            "method": [s.method for s in samples],
            "label": [s.label for s in samples],
            "prob": prob.astype(np.float64),
        }
    )
