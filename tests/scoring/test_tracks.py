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
    paper = OmegaConf.load(CONFIGS / "tracks" / "paper.yaml").names
    assert per_epoch_tracks(paper) == ["clean", "jpeg50", "h264_c23"]


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


@pytest.mark.parametrize(
    ("name", "track"),
    [
        ("pgd:jpeg50", EvalTrack("pgd:jpeg50", attack="pgd", after="jpeg50", through="jpeg50")),
        (
            "pgd@4:social",
            EvalTrack("pgd@4:social", attack="pgd@4", after="social", through="social"),
        ),
        ("pgd@8:jpeg50", EvalTrack("pgd:jpeg50", attack="pgd", after="jpeg50", through="jpeg50")),
        (
            "unet:h264-like",
            EvalTrack("unet:h264-like", attack="unet", after="h264_c23", through="h264_c23"),
        ),
        ("pgd+jpeg50", EvalTrack("pgd+jpeg50", attack="pgd", after="jpeg50")),
        ("pgd-eot", EvalTrack("pgd-eot", attack="pgd-eot", through="eot")),
        (
            "pgd-eot+jpeg50",
            EvalTrack("pgd-eot+jpeg50", attack="pgd-eot", after="jpeg50", through="eot"),
        ),
    ],
)
def test_an_adaptive_track_goes_through_its_codec_and_a_plain_one_does_not(name, track):
    """`<attack>:<codec>` is optimised through the codec's stand-in, then compressed for real;
    `<attack>+<codec>` only compresses afterwards; pgd-eot brings its own platform."""
    assert parse_track(name) == track


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("pgd-eot:jpeg50", "its own platform"),
        ("pgd:clean", "no track"),
        ("pgd:webp", "no track"),
        ("pgd:jpeg50:social", "no track"),
        ("unet@4:jpeg50", "trained attacker"),
    ],
)
def test_an_adaptive_track_that_cannot_exist_is_a_clear_error(name, message):
    with pytest.raises(ValueError, match=message):
        parse_track(name)


def test_the_adaptive_set_is_in_all_and_paper_is_the_former_seed_set():
    adaptive = parse_tracks(OmegaConf.load(CONFIGS / "tracks" / "adaptive.yaml").names)
    everything = parse_tracks(OmegaConf.load(CONFIGS / "tracks" / "all.yaml").names)
    assert {t.name for t in adaptive} <= {t.name for t in everything}
    assert all(t.through for t in adaptive if t.name != "clean")
    assert not (CONFIGS / "tracks" / "seed.yaml").exists()
