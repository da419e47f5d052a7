"""What an evaluate.py run spends on attacks: the attacks' work budgets (`attack_budgets`),
the samples attack tracks score (`attack_samples`), and scoring each kind of track on its own
samples.

Attack tracks cost tens to hundreds of forward-backward passes per image and checkpoint (see
evaluate.yaml), suite tracks one forward pass: `attack_samples` lets attack tracks score a
seeded subset of the samples the suite tracks score, so paired drops against clean still hold
on that subset.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf
from rich.progress import Progress

from fakeguard.attacks.registry import Attack, check_budgets, pinned_attack, variant
from fakeguard.data.samples import FaceSample
from fakeguard.errors import UserError
from fakeguard.robustness.degrade import DegradedSamples
from fakeguard.scoring.engine import Candidate, Scores, Timings, score
from fakeguard.scoring.samples import attack_subset
from fakeguard.scoring.tracks import EvalTrack


def attack_budgets(value: Any) -> dict[str, dict[str, int]]:
    """evaluate.yaml's `attack_budgets` ({attack: {setting: n}}), checked: a UserError names
    an unknown attack or setting, or a value that is not a whole number >= 1."""
    if value is None:
        return {}
    container = (
        OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value
    )
    if not isinstance(container, Mapping):
        raise UserError(
            "attack_budgets must map attacks to settings, e.g. apgd-ce: {iterations: 100}"
        )
    try:
        return check_budgets(value)
    except ValueError as error:
        raise UserError(str(error)) from None


def configured_attacks(
    tracks: Sequence[EvalTrack], budgets: Mapping[str, Mapping[str, int]]
) -> dict[str, Attack]:
    """The built attack of every attack track, at its budget, with `budgets` applied
    (for `score(..., attacks=)`); trained attackers (`unet`) come from the checkpoints or a fit."""
    names = dict.fromkeys(t.attack for t in tracks if t.attack is not None)
    return {n: pinned_attack(n, budgets) for n in names if not variant(n).spec.trained}


def score_tracks(
    candidates: Sequence[Candidate],
    tracks: Sequence[EvalTrack],
    samples: Sequence[FaceSample],
    ids: Sequence[int],
    degraded: DegradedSamples,
    batch_size: int,
    seed: int,
    progress: Progress | None,
    attacks: Mapping[str, Attack],
    attack_samples: int | None,
    eot: Mapping[str, Any] | None = None,
) -> tuple[Scores, int]:
    """Suite tracks on every sample, attack tracks on a seeded subset of `attack_samples` of
    them (all when null); the merged scores and how many samples the attack tracks used.
    `eot`: the EOT platform's settings for attacks through `eot`."""
    positions = attack_subset(len(samples), attack_samples, seed)
    attacked = [t for t in tracks if t.is_attack]
    if len(positions) == len(samples) or not attacked:
        run = score(
            candidates, tracks, samples, degraded, batch_size, seed, progress, ids, attacks, eot
        )
        return run, len(samples)
    suite = [t for t in tracks if not t.is_attack]
    runs = [
        score(candidates, suite, samples, degraded, batch_size, seed, progress, ids, attacks),
        score(
            candidates,
            attacked,
            [samples[i] for i in positions],
            degraded,
            batch_size,
            seed,
            progress,
            [ids[i] for i in positions],
            attacks,
            eot,
        ),
    ]
    return merge_scores(runs), len(positions)


def merge_scores(runs: Sequence[Scores]) -> Scores:
    """One `Scores` of runs over disjoint sets of tracks."""
    frames = [r.predictions for r in runs if not r.predictions.empty]
    predictions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    unavailable: dict[str, dict[str, str]] = defaultdict(dict)
    timings = Timings()
    for run in runs:
        for checkpoint, reasons in run.unavailable.items():
            unavailable[checkpoint].update(reasons)
        for track, parts in run.timings.as_dict().items():
            timings.seconds[track].update(parts)
    skipped = {t: n for run in runs for t, n in run.skipped_samples.items()}
    return Scores(predictions, skipped, dict(unavailable), timings)
