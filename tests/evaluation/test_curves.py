"""evaluate.py's attack settings: curve plans, work budgets, scores merged across sample sets."""

from __future__ import annotations

import pandas as pd
import pytest
from omegaconf import OmegaConf

from fakeguard.errors import UserError
from fakeguard.evaluation.budgets import attack_budgets, configured_attacks, merge_scores
from fakeguard.evaluation.curves import curve_plan, curve_rows, curve_tracks, eps_columns
from fakeguard.scoring.engine import Scores, Timings
from fakeguard.scoring.tracks import parse_tracks


def plan_of(**values):
    return curve_plan(OmegaConf.create(values))


def test_a_curve_plan_names_one_track_per_attack_and_eps():
    plan = plan_of(attacks=["pgd", "apgd-ce", "pgd"], eps=[1, 2, 4, 8, 0.5])
    assert plan["pgd"] == {1.0: "pgd@1", 2.0: "pgd@2", 4.0: "pgd@4", 8.0: "pgd", 0.5: "pgd@0.5"}
    assert list(plan) == ["pgd", "apgd-ce"]
    assert curve_tracks(plan)[-5:] == [
        "apgd-ce@1",
        "apgd-ce@2",
        "apgd-ce@4",
        "apgd-ce",
        "apgd-ce@0.5",
    ]
    assert eps_columns(plan) == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0]
    assert plan_of(attacks=[], eps=[1]) == {} and curve_plan(None) == {}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"attacks": ["unet"], "eps": [1]}, "unet takes no other budget"),
        ({"attacks": ["fgsm"], "eps": [1]}, "no attack 'fgsm'"),
        ({"attacks": ["pgd"], "eps": [0]}, r"out of \(0, 255\]"),
        ({"attacks": ["pgd"], "eps": ["four"]}, "no number"),
    ],
)
def test_bad_curve_settings_are_user_errors(values, message):
    with pytest.raises(UserError, match=message):
        plan_of(**values)


def test_the_curve_table_has_a_row_per_checkpoint_and_attack():
    plan = plan_of(attacks=["pgd"], eps=[2, 8])
    curves = pd.DataFrame(
        [
            {"checkpoint": "a", "attack": "pgd", "eps": 0.0, "auc": 0.9, "acc": 0.8},
            {"checkpoint": "a", "attack": "pgd", "eps": 2.0, "auc": float("nan"), "acc": 0.5},
            {"checkpoint": "a", "attack": "pgd", "eps": 8.0, "auc": 0.1, "acc": 0.0},
        ]
    )
    head, rows = curve_rows(curves, ["a", "b"], plan)
    assert head == ["Checkpoint", "Attack", "clean", "2/255", "8/255"]
    assert rows == [
        ["a", "pgd", "0.900 (0.800)", "— (0.500)", "0.100 (0.000)"],
        ["b", "pgd", "—", "—", "—"],
    ]


def test_work_budgets_come_from_the_config_and_reach_the_attacks():
    cfg = OmegaConf.create({"apgd-ce": {"iterations": 5, "restarts": 2}})
    budgets = attack_budgets(cfg)
    assert budgets == {"apgd-ce": {"iterations": 5, "restarts": 2}}
    attacks = configured_attacks(parse_tracks(["apgd-ce@4+jpeg50", "unet", "pgd"]), budgets)
    assert list(attacks) == ["apgd-ce@4", "pgd"]  # the U-Net comes from checkpoints
    assert attacks["apgd-ce@4"].restarts == 2 and attacks["apgd-ce@4"].attack.iterations == 5
    assert attack_budgets(None) == {}
    with pytest.raises(UserError, match="attack_budgets.apgd-ce.steps"):
        attack_budgets(OmegaConf.create({"apgd-ce": {"steps": 5}}))


def test_scores_of_two_sample_sets_merge():
    def run(track, n, reason=None):
        timings = Timings()
        timings.seconds[track]["model"] = 1.0
        frame = pd.DataFrame({"checkpoint": "a", "track": track, "index": range(n)})
        unavailable = {"a": {track: reason}} if reason else {}
        return Scores(frame, {track: 0}, unavailable, timings)

    merged = merge_scores([run("clean", 4), run("pgd", 2, "why"), run("unet", 0, "none")])
    assert merged.predictions.groupby("track").size().to_dict() == {"clean": 4, "pgd": 2}
    assert merged.skipped_samples == {"clean": 0, "pgd": 0, "unet": 0}
    assert merged.unavailable == {"a": {"pgd": "why", "unet": "none"}}
    assert merged.timings.as_dict()["pgd"]["model"] == 1.0
