"""Deterministic splits by source id: a source and everything made from it share one split."""

from __future__ import annotations

import hashlib

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
