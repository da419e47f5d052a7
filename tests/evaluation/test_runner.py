"""evaluate.py end to end: demo checkpoints trained here, every track of a set, the report.

Two checkpoints are trained once per module (TINY_DEMO, one epoch, a few seconds each): a
clean one and one trained against PGD + the U-Net attacker (which stores its U-Net).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import TINY_DEMO, compose_config, make_manifest, write_checkpoint
from hydra.core.global_hydra import GlobalHydra

from fakeguard.data.datamodule import DemoDataModule
from fakeguard.errors import UserError
from fakeguard.evaluation.markdown import title
from fakeguard.evaluation.runner import check_split, checkpoint_names, evaluate
from fakeguard.models.detectors import Detector
from fakeguard.models.weights import IncompatibleCheckpointError
from fakeguard.scoring.inputs import to_tensor
from fakeguard.training.run import train

# the training run's samples (size from the checkpoint), given explicitly: checkpoints made by
# write_checkpoint record no data of their own
DEMO_DATA = ["data=demo", "data.num_identities=40"]
SEED_TRACKS = ["clean", "jpeg50", "h264-like", "pgd", "unet", "unet+jpeg50", "unet+h264-like"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("trained")
    common = [*TINY_DEMO, "trainer.max_epochs=1", "tracks=none"]
    runs = {
        "clean": common,
        # PGD-2 keeps the fixture quick; evaluation always attacks with the pinned PGD-10.
        "adv": [*common, "attack=pgd_unet", "attack.steps=2", "test=false"],
    }
    out = {}
    for name, overrides in runs.items():
        train(compose_config("train", overrides, root / name))
        out[name] = root / name / "checkpoints" / "best.ckpt"
        out[f"{name}_summary"] = root / name / "summary.json"
    GlobalHydra.instance().clear()
    return out


@pytest.fixture(scope="module")
def seed_run(checkpoints, tmp_path_factory) -> tuple[dict[str, float], Path]:
    """Both checkpoints on tracks=paper; the robust model's U-Net attacks both."""
    out = tmp_path_factory.mktemp("seed_eval")
    overrides = [
        *DEMO_DATA,
        f"ckpt_path=[{checkpoints['clean']},{checkpoints['adv']}]",
        f"attacker={checkpoints['adv']}",
        "tracks=paper",
    ]
    metrics = evaluate(compose_config("evaluate", overrides, out))
    GlobalHydra.instance().clear()
    return metrics, out


def table(report: str, heading: str) -> pd.DataFrame:
    """The markdown table of report.md under the `## heading...` line, as strings."""
    section = report.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return pd.DataFrame(cells[2:], columns=cells[0])


def run_eval(make_cfg, tmp_path: Path, overrides: list[str]) -> tuple[dict, Path]:
    out = tmp_path / "eval"
    metrics = evaluate(make_cfg("evaluate", overrides, out))
    return metrics, out


def test_round_trip_every_row_and_column_of_the_seed_report_is_present_and_finite(
    checkpoints, seed_run
):
    metrics, out = seed_run
    report = (out / "report.md").read_text()
    frame = table(report, "Frame level")
    assert frame["Track"].tolist() == [title(t) for t in SEED_TRACKS]
    columns = [f"{c} {m}" for c in ("clean", "adv") for m in ("acc", "AUC")]
    assert frame.columns.tolist() == ["Track", *columns]
    for column in columns:
        values = frame[column].astype(float)
        assert values.map(math.isfinite).all() and values.between(0, 1).all(), column
    drops = table(report, "Paired drop in P(correct class) against clean, frame level")
    assert drops.drop(columns="Track").astype(float).map(math.isfinite).all().all()
    assert "## Video level" not in report  # the demo has no video ids, and says so
    assert "no video ids" in report

    # The clean track is the test loop Lightning ran after training: the same AUC.
    summary = json.loads(checkpoints["clean_summary"].read_text())
    assert metrics["clean/clean/frame/auc"] == pytest.approx(summary["test/auc"], abs=1e-5)
    # PGD white box at 8/255 hurts the clean model.
    assert metrics["clean/pgd/frame/drop_mean"] > 0.05

    results = pd.read_csv(out / "results.csv")
    assert results.columns.tolist() == ["checkpoint", "track", "level", "metric", "value"]
    payload = json.loads((out / "results.json").read_text())
    assert len(payload["results"]) == len(results) and payload["split"] == "test"
    for name in ["auc_per_track.png", "gradcam_clean.png", "gradcam_adv.png"]:
        assert (out / name).stat().st_size > 1000, name
    assert len(list(out.glob("roc_*.png"))) == len(SEED_TRACKS)


def test_two_checkpoints_score_the_same_samples_and_the_same_inputs_but_white_box_ones(
    seed_run,
):
    """Same samples in the same order on every track; identical inputs on the suite tracks
    and under the shared (fixed) U-Net, also when compressed after it; white-box PGD is per
    model by definition, so its inputs differ between the models and from clean."""
    predictions = pd.read_csv(seed_run[1] / "predictions.csv")
    by = {key: f.set_index("index") for key, f in predictions.groupby(["checkpoint", "track"])}
    assert len(by) == 2 * len(SEED_TRACKS)
    reference = by["clean", "clean"].index.tolist()
    assert len(reference) == 14
    for frame in by.values():
        assert frame.index.tolist() == reference
    for track in ["clean", "jpeg50", "h264-like", "unet", "unet+jpeg50", "unet+h264-like"]:
        assert (by["clean", track]["digest"] == by["adv", track]["digest"]).all(), track
    for track in SEED_TRACKS[1:]:
        assert (by["clean", track]["digest"] != by["clean", "clean"]["digest"]).all(), track
    assert (by["clean", "pgd"]["digest"] != by["adv", "pgd"]["digest"]).all()


@pytest.mark.slow
def test_the_attacks_set_runs_every_attack_and_notes_why_dlr_is_absent(
    checkpoints, make_cfg, tmp_path
):
    ckpts = f"ckpt_path=[{checkpoints['clean']},{checkpoints['adv']}]"
    overrides = [
        *DEMO_DATA,
        ckpts,
        "tracks=attacks",
        "max_samples=4",
        "gradcam.samples=2",
        "attack_budgets.square.queries=30",
    ]
    metrics, out = run_eval(make_cfg, tmp_path, overrides)
    report = (out / "report.md").read_text()
    frame = table(report, "Frame level")
    attacks = ["pgd", "pgd-strong", "apgd-ce", "square", "pgd@4", "apgd-ce@4"]
    assert frame["Track"].tolist() == ["Clean", *map(title, attacks)]
    assert "DLR attacks need 3 or more classes" in report
    assert "custom AutoAttack: APGD-CE + Square" in report
    payload = json.loads((out / "results.json").read_text())
    assert "gradient_masking" in payload and "30 queries" in payload["attacks"]["square"]
    for checkpoint in ("clean", "adv"):  # fifty white-box steps raise the loss
        strong = metrics[f"{checkpoint}/pgd-strong/frame/log_loss"]
        assert strong >= metrics[f"{checkpoint}/clean/frame/log_loss"]


def test_adaptive_tracks_and_u_nets_fitted_to_each_checkpoint(checkpoints, make_cfg, tmp_path):
    """attacker=train fits one U-Net per checkpoint and platform (unet: none; unet:jpeg50:
    the JPEG stand-in), so the clean model, which has no U-Net, is scored on both; adaptive
    PGD and pgd-eot run beside them and the report says what each is."""
    ckpts = f"ckpt_path=[{checkpoints['clean']},{checkpoints['adv']}]"
    tracks = ["unet", "unet:jpeg50", "pgd:jpeg50", "pgd-eot+jpeg50"]
    overrides = [
        *DEMO_DATA,
        ckpts,
        f"tracks.names=[{','.join(tracks)}]",
        "max_samples=4",
        "gradcam.samples=0",
        "attacker=train",
        "attacker_fit.steps=2",
        "attacker_fit.max_samples=8",
        "attack_budgets.pgd-eot.samples=1",
    ]
    metrics, out = run_eval(make_cfg, tmp_path, overrides)
    for checkpoint in ("clean", "adv"):
        for track in tracks:
            assert math.isfinite(metrics[f"{checkpoint}/{track}/frame/log_loss"]), track
    report = (out / "report.md").read_text()
    assert table(report, "Frame level")["Track"].tolist() == ["Clean", *map(title, tracks)]
    assert "U-Net fitted to clean through jpeg50: 2 steps" in report
    assert "U-Net fitted to adv on the model input" in report
    assert "Attack:codec tracks are adaptive" in report
    assert "fitted (attacker=train)" in report


def test_robustness_curves_sample_budgets_and_work_budgets(checkpoints, make_cfg, tmp_path):
    """curves.* adds <attack>@<eps> tracks and a curve table everywhere; attack tracks score
    attack_samples of the suite's samples; attack_budgets reach the attacks and the notes."""
    ckpts = f"ckpt_path=[{checkpoints['clean']},{checkpoints['adv']}]"
    overrides = [
        *DEMO_DATA,
        ckpts,
        "tracks.names=[clean,jpeg50,pgd@8]",
        "max_samples=10",
        "attack_samples=6",
        "curves.attacks=[pgd,apgd-ce]",
        "curves.eps=[2,8]",
        "attack_budgets.apgd-ce.iterations=3",
        "gradcam.samples=2",
    ]
    metrics, out = run_eval(make_cfg, tmp_path, overrides)
    predictions = pd.read_csv(out / "predictions.csv")
    counts = predictions[predictions["checkpoint"] == "clean"].groupby("track").size()
    assert counts.to_dict() == {
        "clean": 10,
        "jpeg50": 10,
        "pgd": 6,
        "pgd@2": 6,
        "apgd-ce@2": 6,
        "apgd-ce": 6,
    }
    attacked = set(predictions.loc[predictions["track"] == "pgd", "index"])
    assert attacked < set(predictions.loc[predictions["track"] == "clean", "index"])

    report = (out / "report.md").read_text()
    frame = table(report, "Frame level")
    assert frame["Track"].tolist() == [
        "Clean",
        "JPEG 50",
        "PGD white box",
        "PGD white box, 2/255",
        "APGD-CE, 2/255",
        "APGD-CE",
    ]
    samples = table(report, "Samples").set_index("Track")["scored"]
    assert samples["Clean"] == "10" and samples["APGD-CE, 2/255"] == "6"
    assert "a seeded subset of 6 of these 10 samples" in report
    assert "apgd-ce: Auto-PGD" in report and "3 iterations" in report
    assert "apgd-ce@2: Auto-PGD" in report and "L-inf 2/255" in report

    curves = table(report, "Robustness curves")
    assert curves.columns.tolist() == ["Checkpoint", "Attack", "clean", "2/255", "8/255"]
    assert curves[["Checkpoint", "Attack"]].values.tolist() == [
        ["clean", "pgd"],
        ["clean", "apgd-ce"],
        ["adv", "pgd"],
        ["adv", "apgd-ce"],
    ]
    csv = pd.read_csv(out / "curves.csv")
    assert csv.columns.tolist() == ["checkpoint", "attack", "eps", "track", "auc", "acc", "n"]
    assert len(csv) == 2 * 2 * 3 and (csv["n"] == 6).all()
    point = csv.query("checkpoint == 'clean' and attack == 'pgd' and eps == 8").iloc[0]
    assert point["auc"] == pytest.approx(metrics["clean/pgd/frame/auc"])
    payload = json.loads((out / "results.json").read_text())
    assert len(payload["curves"]) == len(csv)
    assert payload["sample_budgets"] == {"suite_tracks": 10, "attack_tracks": 6}
    assert payload["samples"]["pgd"]["scored"] == 6
    assert "3 iterations" in payload["attacks"]["apgd-ce"]
    assert "L-inf 2/255" in payload["attacks"]["pgd@2"]
    assert (out / "auc_vs_eps.png").stat().st_size > 1000


def test_a_checkpoint_without_an_attacker_is_reported_not_scored_on_unet_tracks(
    checkpoints, make_cfg, tmp_path
):
    ckpts = f"ckpt_path=[{checkpoints['clean']},{checkpoints['adv']}]"
    overrides = [*DEMO_DATA, ckpts, "tracks.names=[unet]", "max_samples=6", "gradcam.samples=0"]
    _, out = run_eval(make_cfg, tmp_path, overrides)
    predictions = pd.read_csv(out / "predictions.csv")
    assert set(predictions.loc[predictions["track"] == "unet", "checkpoint"]) == {"adv"}
    report = (out / "report.md").read_text()
    assert "clean not scored on unet: no U-Net attacker in the checkpoint" in report
    assert table(report, "Frame level").set_index("Track").loc["Learned U-Net", "clean AUC"] == "—"


def test_a_missing_crop_is_reported_and_skipped_and_videos_and_methods_are_scored(
    checkpoints, make_cfg, tmp_path
):
    manifest = make_manifest(tmp_path / "faces")
    gone = tmp_path / "faces" / "crops" / "Deepfakes" / "test0" / "000005_0.png"
    gone.unlink()
    overrides = [
        "data=faces",
        f"data.manifest={manifest}",
        f"ckpt_path={checkpoints['clean']}",
        "tracks=ffpp",
        "gradcam.samples=2",
    ]
    _, out = run_eval(make_cfg, tmp_path, overrides)
    payload = json.loads((out / "results.json").read_text())
    assert payload["missing_crops"] == {"count": 1, "paths": [str(gone)]}
    predictions = pd.read_csv(out / "predictions.csv")
    assert str(gone) not in set(predictions["sample"])
    assert predictions.groupby("track").size().tolist() == [11, 11, 11]
    report = (out / "report.md").read_text()
    assert re.search(r"11 samples .*; 1 missing crop files skipped", report)
    for heading in ["Video level, mean of frames", "Video level, confident strategy (DFDC winner)"]:
        videos = table(report, heading)
        assert videos["Track"].tolist() == ["Clean", "H.264 CRF 23 (c23)", "H.264 CRF 40 (c40)"]
    assert "### Deepfakes" in report and "### FaceSwap" in report
    results = pd.read_csv(out / "results.csv")
    n_videos = results.query("level == 'video_mean' and metric == 'n' and track == 'clean'")
    assert n_videos["value"].tolist() == [6.0]  # 2 sources x (real, Deepfakes, FaceSwap)


def test_the_training_split_needs_an_explicit_flag(make_cfg):
    with pytest.raises(UserError, match="allow_train_split=true"):
        evaluate(make_cfg("evaluate", ["ckpt_path=any.ckpt", "split=train"]))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["tracks.names=[jpeg_50]"], "no track 'jpeg_50'"),
        (["gradcam.track=pgd+pgd"], r"no track 'pgd\+pgd'"),
        (["split=dev"], "not a split"),
        (["tracks.names=[unet@4]"], "trained attacker"),
        (["tracks.names=['pgd>jpeg50']"], "is written pgd:jpeg50"),
        (["attacker=train", "attacker_fit.steps=0"], "attacker_fit.steps"),
        (["curves.attacks=[unet]"], "unet takes no other budget"),
        (["+attack_budgets.apgd-ce.steps=3"], "apgd-ce has settings"),
        (["attack_samples=0"], "attack_samples"),
        (["ckpt_path=[a.ckpt,b.ckpt]", "ckpt_names=[one]"], "2 distinct names"),
    ],
)
def test_bad_settings_are_one_line_user_errors(make_cfg, overrides, message):
    with pytest.raises(UserError, match=message):
        evaluate(make_cfg("evaluate", ["ckpt_path=a.ckpt", *overrides]))


def test_an_attacker_checkpoint_without_a_u_net_is_refused(checkpoints, make_cfg):
    overrides = [f"ckpt_path={checkpoints['clean']}", f"attacker={checkpoints['clean']}"]
    with pytest.raises(UserError, match="holds no U-Net attacker"):
        evaluate(make_cfg("evaluate", overrides))


def test_a_checkpoint_without_a_detector_spec_is_a_clear_error(make_cfg, tmp_path):
    path = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"net.w": torch.zeros(1)}}, path)
    with pytest.raises(IncompatibleCheckpointError, match="not a fakeguard checkpoint"):
        evaluate(make_cfg("evaluate", [f"ckpt_path={path}"]))


def test_checkpoint_names_come_from_run_folders_and_stay_unique():
    paths = ["logs/a/checkpoints/best.ckpt", "logs/b/checkpoints/best.ckpt", "x/model.ckpt"]
    assert checkpoint_names(paths, None) == ["a", "b", "model"]
    assert checkpoint_names(["r/checkpoints/best.ckpt"] * 2, None) == ["r#1", "r#2"]


def test_each_checkpoint_gets_its_own_input_size_from_the_checkpoint(make_cfg, tmp_path):
    torch.manual_seed(0)
    nets = {
        "at64": Detector(weights="none", img_size=64),
        "at48": Detector(weights="none", img_size=48),
    }
    paths = [write_checkpoint(tmp_path / f"{name}.ckpt", net.eval()) for name, net in nets.items()]
    overrides = [
        *DEMO_DATA,
        f"ckpt_path=[{paths[0]},{paths[1]}]",
        "ckpt_names=[at64,at48]",
        "tracks.names=[clean]",
        "max_samples=4",
        "gradcam.samples=0",
        "plots=false",
    ]
    _, out = run_eval(make_cfg, tmp_path, overrides)
    predictions = pd.read_csv(out / "predictions.csv")
    # The demo renders at the first checkpoint's size; the second resizes the same crops.
    demo = DemoDataModule(num_identities=40, image_size=64)
    demo.setup()
    picked = predictions[predictions["checkpoint"] == "at48"]
    crops = [demo.splits["test"][i].image for i in picked["index"]]
    for name, size in (("at64", 64), ("at48", 48)):
        with torch.no_grad():
            expected = torch.sigmoid(nets[name](to_tensor(crops, size))).numpy()
        got = predictions.loc[predictions["checkpoint"] == name, "prob"].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_the_training_split_is_scored_only_when_allowed():
    assert check_split("train", allow_train_split=True) == "train"
    assert check_split("test", allow_train_split=False) == "test"
