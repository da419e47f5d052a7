"""The evaluation-attack registry: what it holds, and that a new attack needs nothing else.

A new attack is one module of `fakeguard.attacks` with its class and its `register` call;
the toy below is registered the same way (on a monkeypatched registry), and the track parser,
the report titles and the report notes pick it up with no other change.
"""

from __future__ import annotations

import pytest
import torch

from fakeguard.attacks import registry
from fakeguard.attacks.registry import AttackSpec, attacks, describe, get, pinned_attack, register
from fakeguard.evaluation.markdown import title, track_notes
from fakeguard.scoring.tracks import EvalTrack, parse_track, parse_tracks


def darken(model, x, y):
    return (x - 1 / 255).clamp(0, 1)


TOY = AttackSpec(
    factory=lambda: darken,
    title="Toy darkening",
    short_title="Toy",
    description="every pixel one grey level darker",
    white_box=True,
    report_note="The toy attack is a test fixture",
)


@pytest.fixture
def toy(monkeypatch) -> AttackSpec:
    attacks()  # the built-ins first, so the toy is the only change
    monkeypatch.setattr(registry, "ATTACKS", dict(registry.ATTACKS))
    return register("toy", TOY)


def test_every_pinned_attack_is_registered_with_its_report_text():
    found = attacks()
    assert list(found) == ["apgd-ce", "pgd", "pgd-strong", "unet"]
    assert [s.white_box for s in found.values()] == [True, True, True, False]
    assert all(spec.title and spec.description for spec in found.values())
    assert found["apgd-ce"].report_note.startswith("AutoAttack's DLR attacks")


def test_a_name_is_registered_once(toy):
    with pytest.raises(ValueError, match="twice"):
        register("toy", TOY)
    with pytest.raises(ValueError, match="separates"):
        register("toy+jpeg50", TOY)


def test_a_registered_attack_is_a_track_a_title_and_a_note(toy):
    assert parse_track("toy") == EvalTrack("toy", attack="toy")
    assert parse_track("toy+h264-like") == EvalTrack(
        "toy+h264-like", attack="toy", after="h264_c23"
    )
    assert title("toy") == "Toy darkening"
    assert title("toy+jpeg50") == "Toy + JPEG 50"
    notes = track_notes(parse_tracks(["pgd", "toy+jpeg50"]))
    assert notes[:2] == [
        "pgd: L-inf 8/255, 10 steps of 2/255, random start.",
        "toy: every pixel one grey level darker.",
    ]
    assert "The toy attack is a test fixture." in notes
    assert describe()["toy"] == "every pixel one grey level darker"
    x = torch.full((1, 3, 2, 2), 0.5)
    assert torch.equal(pinned_attack("toy")(None, x, None), x - 1 / 255)


def test_without_it_the_name_is_no_track():
    with pytest.raises(ValueError, match="no track 'toy'"):
        parse_track("toy")
    with pytest.raises(ValueError, match="no attack 'toy'"):
        get("toy")
