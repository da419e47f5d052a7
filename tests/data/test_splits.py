"""Splits are stable and group by source id."""

from __future__ import annotations

from collections import Counter

import pytest

from fakeguard.data.splits import assign_splits, split_of


def test_split_is_stable_and_roughly_proportional():
    names = [split_of(f"id{i}", 0.1, 0.2) for i in range(5000)]
    assert names == [split_of(f"id{i}", 0.1, 0.2) for i in range(5000)]
    assert names.count("test") / 5000 == pytest.approx(0.2, abs=0.02)
    assert names.count("val") / 5000 == pytest.approx(0.1, abs=0.02)


def test_impossible_fractions_are_refused():
    with pytest.raises(ValueError):
        split_of("x", 0.6, 0.5)


def test_a_fixed_set_of_sources_is_split_in_exact_proportions():
    splits = assign_splits({f"id{i}": "both" for i in range(1000)}, 0.14, 0.14)
    assert Counter(splits.values()) == {"train": 720, "val": 140, "test": 140}
    assert splits == assign_splits({f"id{i}": "both" for i in range(1000)}, 0.14, 0.14)


def test_each_stratum_is_split_on_its_own_so_every_split_gets_both_classes():
    strata = {"004": (0, 1), "519": (0, 1), "634": (0, 1), "750": (1,)}
    splits = assign_splits(strata, 0.14, 0.14)
    both = {splits[s] for s in ("004", "519", "634")}
    assert both == {"train", "val", "test"}
    assert splits["750"] == "train"  # a stratum of one cannot be split
