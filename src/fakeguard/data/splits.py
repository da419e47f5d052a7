"""Deterministic splits by source id: a source and everything made from it share one split."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping

SPLITS = ("train", "val", "test")


def split_of(source_id: str, val_fraction: float, test_fraction: float, salt: str = "") -> str:
    """Assign `source_id` to train/val/test from a stable hash (same on every machine and run)."""
    if not (val_fraction >= 0 and test_fraction >= 0 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"need 0 <= val_fraction, test_fraction and a sum < 1; got {val_fraction}, "
            f"{test_fraction}"
        )
    digest = hashlib.sha1(f"{salt}{source_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def assign_splits(
    strata: Mapping[str, Hashable], val_fraction: float, test_fraction: float, salt: str = ""
) -> dict[str, str]:
    """Split a fixed set of sources in exact proportions (e.g. FF++'s 720/140/140).

    `strata` maps each source id to its stratum, e.g. the set of labels it has: each stratum
    is split on its own, so every split gets its share of real-and-fake sources and of
    fake-only ones. Sources are ordered by a stable hash, so the result is the same on every
    machine and in every shard. A stratum of three or more sources gives at least one to each
    split with a non-zero fraction, so a small dataset still trains, validates and tests.
    """
    split_of("", val_fraction, test_fraction)  # validates the fractions
    groups: dict[Hashable, list[str]] = {}
    for source, stratum in strata.items():
        groups.setdefault(stratum, []).append(source)
    result = {}
    for sources in groups.values():
        sources.sort(key=lambda s: hashlib.sha1(f"{salt}{s}".encode()).digest())
        n = len(sources)
        n_test, n_val = round(n * test_fraction), round(n * val_fraction)
        if n >= 3:
            n_test = max(n_test, int(test_fraction > 0))
            n_val = max(n_val, int(val_fraction > 0))
        names = ["test"] * n_test + ["val"] * n_val
        result.update({s: names[i] if i < len(names) else "train" for i, s in enumerate(sources)})
    return result
