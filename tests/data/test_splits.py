"""Splits are stable and group by source id."""

from __future__ import annotations

import pytest

from fakeguard.data.splits import split_of


def test_split_is_stable_and_roughly_proportional():
    names = [split_of(f"id{i}", 0.1, 0.2) for i in range(5000)]
    assert names == [split_of(f"id{i}", 0.1, 0.2) for i in range(5000)]
    assert names.count("test") / 5000 == pytest.approx(0.2, abs=0.02)
    assert names.count("val") / 5000 == pytest.approx(0.1, abs=0.02)


def test_impossible_fractions_are_refused():
    with pytest.raises(ValueError):
        split_of("x", 0.6, 0.5)
