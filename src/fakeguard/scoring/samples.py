"""Which samples of a split get scored: those with a crop, or a seeded subset of them."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from fakeguard.data.samples import FaceSample
from fakeguard.scoring.inputs import missing_crops

log = logging.getLogger(__name__)


def samples_to_score(
    samples: Sequence[FaceSample], max_samples: int | None = None, seed: int = 0
) -> tuple[list[FaceSample], list[int], list[str]]:
    """The samples whose crop exists (or a subset of `max_samples` of them, drawn with `seed`),
    their places in `samples`, and the crop files that are missing."""
    missing = set(missing_crops(samples))
    if missing:
        log.warning("%d crop files are missing; they are skipped", len(missing))
    ids = [i for i in range(len(samples)) if i not in missing]
    if max_samples is not None and len(ids) > max_samples:
        chosen = np.random.default_rng(seed).choice(len(ids), max_samples, replace=False)
        ids = [ids[i] for i in sorted(chosen.tolist())]
    return [samples[i] for i in ids], ids, [samples[i].path for i in sorted(missing)]


def attack_subset(count: int, attack_samples: int | None, seed: int = 0) -> list[int]:
    """Positions (in order) of the samples the attack tracks score: a seeded subset of
    `attack_samples` of the `count` samples the suite tracks score, or all of them (null, or
    not fewer). A subset of the suite's samples, so paired drops against clean hold on it; its
    own random stream, so it does not move when `max_samples` draws from the same seed."""
    if attack_samples is None or attack_samples >= count:
        return list(range(count))
    chosen = np.random.default_rng([seed, 1]).choice(count, attack_samples, replace=False)
    return sorted(chosen.tolist())
