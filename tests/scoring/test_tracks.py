"""Track names: suite tracks, the h264-like alias, attacks, attack-then-compress."""

from __future__ import annotations

import pytest
from helpers import CONFIGS
from omegaconf import OmegaConf

from fakeguard.errors import UserError
from fakeguard.scoring.tracks import EvalTrack, parse_track, parse_tracks, per_epoch_tracks


def test_suite_tracks_attacks_and_composites_parse():
    assert parse_track("jpeg50") == EvalTrack("jpeg50", suite="jpeg50")
    assert parse_track("h264-like") == EvalTrack("h264-like", suite="h264_c23")
    assert parse_track("pgd") == EvalTrack("pgd", attack="pgd")
    assert parse_track("unet+h264-like") == EvalTrack(
        "unet+h264-like", attack="unet", after="h264_c23"
    )


@pytest.mark.parametrize("name", ["jpeg_50", "unet+clean", "pgd+pgd", "+jpeg50", "fgsm"])
def test_unknown_names_fail_listing_the_choices(name):
    with pytest.raises(ValueError, match="no track .* choose from"):
        parse_track(name)


def test_clean_always_comes_first_once():
    assert [t.name for t in parse_tracks(["pgd", "clean", "pgd"])] == ["clean", "pgd"]


@pytest.mark.parametrize("path", sorted((CONFIGS / "tracks").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_track_set_parses(path):
    parse_tracks(OmegaConf.load(path).names)


def test_the_training_callback_skips_attack_tracks_and_resolves_aliases():
    seed = OmegaConf.load(CONFIGS / "tracks" / "seed.yaml").names
    assert per_epoch_tracks(seed) == ["clean", "jpeg50", "h264_c23"]


def test_the_training_callback_refuses_a_set_of_attacks_only():
    attacks = OmegaConf.load(CONFIGS / "tracks" / "attacks.yaml").names
    with pytest.raises(UserError, match="evaluate.py"):
        per_epoch_tracks(attacks)


@pytest.mark.parametrize(
    ("name", "track"),
    [
        ("pgd@4", EvalTrack("pgd@4", attack="pgd@4")),
        ("pgd@4.0", EvalTrack("pgd@4", attack="pgd@4")),
        ("pgd@0.5", EvalTrack("pgd@0.5", attack="pgd@0.5")),
        ("apgd-ce@4", EvalTrack("apgd-ce@4", attack="apgd-ce@4")),
        ("pgd-strong@2", EvalTrack("pgd-strong@2", attack="pgd-strong@2")),
        ("pgd@8", EvalTrack("pgd", attack="pgd")),  # the pinned budget: the same track
        ("pgd@4+jpeg50", EvalTrack("pgd@4+jpeg50", attack="pgd@4", after="jpeg50")),
        ("pgd@8+h264-like", EvalTrack("pgd+h264-like", attack="pgd", after="h264_c23")),
    ],
)
def test_attacks_at_other_budgets_parse_to_one_name(name, track):
    assert parse_track(name) == track


def test_an_attack_at_its_pinned_budget_is_scored_once():
    assert [t.name for t in parse_tracks(["pgd@8", "pgd", "pgd@4", "pgd@4.0"])] == [
        "clean",
        "pgd",
        "pgd@4",
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("unet@4", "trained attacker"),
        ("unet@4+jpeg50", "trained attacker"),
        ("pgd@0", "in 255ths"),
        ("pgd@-2", "in 255ths"),
        ("pgd@four", "in 255ths"),
        ("pgd@nan", "in 255ths"),
        ("fgsm@4", "no track 'fgsm@4'"),
    ],
)
def test_a_budget_an_attack_cannot_take_is_a_clear_error(name, message):
    with pytest.raises(ValueError, match=message):
        parse_track(name)


def test_the_4_255_attacks_are_in_the_attack_sets():
    for name in ("attacks", "all"):
        names = [
            t.name for t in parse_tracks(OmegaConf.load(CONFIGS / "tracks" / f"{name}.yaml").names)
        ]
        assert {"pgd@4", "apgd-ce@4"} <= set(names), name
