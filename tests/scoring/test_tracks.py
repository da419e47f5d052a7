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
