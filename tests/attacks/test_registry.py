"""The evaluation-attack registry: what it holds, and that a new attack needs nothing else.

A new attack is one module of `fakeguard.attacks` with its class and its `register` call;
the toy below is registered the same way (on a monkeypatched registry), and the track parser,
the report titles and the report notes pick it up with no other change.
"""

from __future__ import annotations

import pytest
import torch

from fakeguard.attacks import registry
from fakeguard.attacks.registry import (
    AttackSpec,
    at_eps,
    attacks,
    budget,
    canonical,
    check_budgets,
    describe,
    get,
    pinned_attack,
    register,
    variant,
)
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
    assert list(found) == ["apgd-ce", "pgd", "pgd-eot", "pgd-strong", "square", "unet"]
    assert [s.white_box for s in found.values()] == [True, True, True, True, False, False]
    assert [s.trained for s in found.values()] == [False] * 5 + [True]
    assert [s.eps for s in found.values()] == [8 / 255] * 5 + [None]
    assert [s.through for s in found.values()] == [None, None, "eot", None, None, None]
    assert all(spec.title and spec.description for spec in found.values())
    assert found["apgd-ce"].report_note.startswith("AutoAttack's DLR attacks")
    assert found["square"].settings == {"queries": 1000}
    assert "gradients are likely masked" in found["square"].report_note


def test_a_name_is_registered_once(toy):
    with pytest.raises(ValueError, match="twice"):
        register("toy", TOY)
    with pytest.raises(ValueError, match="separates"):
        register("toy+jpeg50", TOY)
    with pytest.raises(ValueError, match="separates an attack from its budget"):
        register("toy@4", TOY)


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


def test_a_toy_without_a_budget_takes_no_at(toy):
    with pytest.raises(ValueError, match="'toy' is pinned: it takes no @<eps>"):
        parse_track("toy@4")


def test_budgets_in_255ths_scale_every_step_with_eps():
    pgd4 = pinned_attack("pgd@4")
    assert (pgd4.eps, pgd4.step_size, pgd4.steps) == (4 / 255, 1 / 255, 10)
    assert pinned_attack("pgd@0.5").step_size == pytest.approx(0.125 / 255)
    strong = pinned_attack("pgd-strong@2")
    assert strong.attack.eps == 2 / 255 and strong.attack.step_size == pytest.approx(0.5 / 255)
    assert pinned_attack("apgd-ce@4").eps == 4 / 255
    pinned = pinned_attack("pgd@8")
    assert (pinned.eps, pinned.step_size) == (8 / 255, 2 / 255)  # exactly the pinned pgd


def test_names_titles_and_notes_say_the_budget():
    assert canonical("pgd@8") == "pgd" and canonical("pgd@04.0") == "pgd@4"
    assert at_eps("apgd-ce", 8) == "apgd-ce" and at_eps("apgd-ce", 0.5) == "apgd-ce@0.5"
    assert budget(0.5 / 255) == "L-inf 0.5/255" and budget(8 / 255) == "L-inf 8/255"
    assert title("pgd@4") == "PGD white box, 4/255"
    assert title("pgd") == "PGD white box"
    assert title("pgd@4+jpeg50") == "PGD 4/255 + JPEG 50"
    assert title("apgd-ce@2") == "APGD-CE, 2/255"
    notes = track_notes(parse_tracks(["pgd@4", "apgd-ce@4", "apgd-ce"]))
    assert notes[0] == "pgd@4: L-inf 4/255, 10 steps of 1/255, random start."
    assert notes[1].startswith("apgd-ce@4: Auto-PGD") and "L-inf 4/255" in notes[1]
    assert sum("DLR" in n for n in notes) == 1  # one note per attack, whatever its budgets
    assert describe(names=["pgd@8", "pgd@2"]) == {
        "pgd": "L-inf 8/255, 10 steps of 2/255, random start",
        "pgd@2": "L-inf 2/255, 10 steps of 0.5/255, random start",
    }


def test_work_budgets_reach_the_factories_and_the_descriptions():
    budgets = {"apgd-ce": {"iterations": 20, "restarts": 3}, "pgd-strong": {"steps": 7}}
    apgd = pinned_attack("apgd-ce@4", budgets)
    assert apgd.restarts == 3 and apgd.attack.iterations == 20 and apgd.attack.eps == 4 / 255
    strong = pinned_attack("pgd-strong", budgets)
    assert strong.attack.steps == 7 and strong.restarts == 5
    said = describe(budgets)
    assert "20 iterations" in said["apgd-ce"] and "3 random starts" in said["apgd-ce"]
    assert "7 steps" in said["pgd-strong"] and "5 random starts" in said["pgd-strong"]
    assert "apgd-ce: Auto-PGD" in track_notes(parse_tracks(["apgd-ce"]), budgets)[0]
    assert "20 iterations" in track_notes(parse_tracks(["apgd-ce"]), budgets)[0]
    assert variant("apgd-ce").settings() == {"iterations": 100, "restarts": 1}


@pytest.mark.parametrize(
    ("budgets", "message"),
    [
        ({"apgd-ce": {"steps": 3}}, r"apgd-ce has settings \['iterations', 'restarts'\]"),
        ({"pgd": {"steps": 3}}, "pgd has no adjustable settings"),
        ({"apgd-ce": {"iterations": 0}}, "whole number >= 1"),
        ({"apgd-ce": {"iterations": 2.5}}, "whole number >= 1"),
        ({"fgsm": {"steps": 1}}, "no attack 'fgsm'"),
    ],
)
def test_bad_work_budgets_are_clear_errors(budgets, message):
    with pytest.raises(ValueError, match=message):
        check_budgets(budgets)
