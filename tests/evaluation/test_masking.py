"""The gradient-masking check: Square's AUC against the white-box attacks', per checkpoint,
at one eps and one codec suffix at a time; and when the report names the AutoAttack set."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from fakeguard.evaluation.masking import (
    AUTOATTACK_SET,
    attack_group,
    gradient_masking,
    has_autoattack_set,
    report_lines,
)

HONEST = {"clean": 0.99, "pgd": 0.10, "pgd-strong": 0.05, "apgd-ce": 0.04, "square": 0.30}


def test_square_above_or_near_the_white_box_attacks_is_no_flag():
    assert gradient_masking({"model": HONEST}) == []
    # below the white-box AUC, but by less than the tolerance (0.05)
    assert gradient_masking({"model": {"pgd": 0.40, "square": 0.36}}) == []
    assert gradient_masking({"model": {"pgd": 0.40, "square": 0.351}}) == []


def test_square_beating_every_white_box_attack_by_more_than_the_tolerance_is_flagged():
    masked = {"clean": 0.99, "pgd": 0.80, "pgd-strong": 0.75, "apgd-ce": 0.70, "square": 0.20}
    flags = gradient_masking({"honest": HONEST, "masked": masked})
    assert len(flags) == 1
    flag = flags[0]
    assert flag.startswith("masked: likely gradient masking: the black-box Square attack beats")
    assert "square AUC 0.200" in flag and "L-inf 8/255" in flag
    assert "pgd 0.800, pgd-strong 0.750, apgd-ce 0.700" in flag
    assert gradient_masking({"masked": masked}, tolerance=0.6) == []


def test_only_the_lowest_white_box_auc_counts():
    # pgd alone would flag (0.5 > 0.3 + 0.05); apgd-ce at 0.32 is within the tolerance
    assert gradient_masking({"m": {"pgd": 0.5, "apgd-ce": 0.32, "square": 0.3}}) == []


def test_tracks_compare_at_the_same_eps_and_codec_only():
    auc = {
        "pgd": 0.10,
        "square": 0.30,  # fine against pgd
        "pgd@4": 0.60,
        "apgd-ce@4": 0.55,
        "square@4": 0.40,  # beats the 4/255 white-box attacks, not the 8/255 ones
        "pgd+jpeg50": 0.90,
        "square+jpeg50": 0.50,  # beats pgd+jpeg50
        "pgd:jpeg50": 0.30,
        "square:jpeg50": 0.45,  # adaptive: only against pgd:jpeg50, which is lower
        "square+social": 0.01,  # no white-box track with +social: nothing to compare
        "pgd+h264-like": 0.8,
        "square+h264_c23": 0.6,  # an alias and its suite track are one codec
        "unet": 0.99,  # a trained attacker is neither white nor black box
        "jpeg50": 0.95,
    }
    flags = gradient_masking({"c": auc})
    assert len(flags) == 3
    assert ["at L-inf 4/255:" in f for f in flags] == [True, False, False]
    assert "square@4 AUC 0.400" in flags[0] and "pgd@4 0.600, apgd-ce@4 0.550" in flags[0]
    assert "square+jpeg50 AUC 0.500" in flags[1] and "(pgd+jpeg50 0.900)" in flags[1]
    assert "square+h264_c23 AUC 0.600" in flags[2] and "(pgd+h264-like 0.800)" in flags[2]


def test_unknown_and_nan_aucs_are_left_out():
    assert gradient_masking({"c": {"pgd": math.nan, "square": 0.1}}) == []
    assert gradient_masking({"c": {"pgd": 0.9, "square": math.nan}}) == []
    assert gradient_masking({}) == []


@pytest.mark.parametrize(
    ("track", "group"),
    [
        ("square", (8.0, "")),
        ("pgd@8", (8.0, "")),
        ("apgd-ce@0.5", (0.5, "")),
        ("pgd@4+jpeg50", (4.0, "+jpeg50")),
        ("pgd:social", (8.0, ":social")),
        ("pgd+h264-like", (8.0, "+h264_c23")),
    ],
)
def test_a_track_s_group_is_its_eps_and_codec(track, group):
    assert attack_group(track)[1] == group


@pytest.mark.parametrize("track", ["clean", "jpeg50", "h264-like", "unet", "unet+jpeg50", "x"])
def test_tracks_without_a_budgeted_attack_have_no_group(track):
    assert attack_group(track) is None


def test_the_report_names_the_autoattack_set_when_apgd_ce_and_square_share_an_eps():
    assert AUTOATTACK_SET == "custom AutoAttack: APGD-CE + Square"
    assert has_autoattack_set(["clean", "pgd", "apgd-ce", "square"])
    assert has_autoattack_set(iter(["apgd-ce@4", "square@4", "pgd"]))
    assert not has_autoattack_set(["apgd-ce@4", "square"])
    assert not has_autoattack_set(["apgd-ce", "pgd", "unet"])
    assert not has_autoattack_set(["apgd-ce", "square+jpeg50"])


def test_the_report_warns_on_masking_and_names_the_autoattack_set():
    rows = [
        ("robust", "apgd-ce", 0.80),
        ("robust", "square", 0.40),
        ("plain", "apgd-ce", 0.10),
        ("plain", "square", 0.12),
    ]
    results = pd.DataFrame(
        [(c, t, "frame", "auc", v) for c, t, v in rows],
        columns=["checkpoint", "track", "level", "metric", "value"],
    )
    flags, notes = report_lines(results, ["clean", "apgd-ce", "square"])
    assert len(flags) == 1 and flags[0].startswith("robust: likely gradient masking")
    assert any(AUTOATTACK_SET in note for note in notes)
    honest = results[results.checkpoint == "plain"]
    flags, notes = report_lines(honest, ["clean", "apgd-ce", "square"])
    assert not flags and any("no black-box track (square)" in note for note in notes)
