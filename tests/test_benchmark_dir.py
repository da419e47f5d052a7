"""python -m fakeguard.benchmark_dir end to end: an exported demo checkpoint scores a folder of
generated images as the gasbench harness would, and bad input is one clear error."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import ROOT, compose_config, face_image, tiny_detector, user_error, write_checkpoint
from hydra.core.global_hydra import GlobalHydra

from fakeguard.export.benchmark import benchmark
from fakeguard.export.run import export

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny demo detector, exported with `python -m fakeguard.export format=gasbench`."""
    folder = tmp_path_factory.mktemp("export")
    ckpt = write_checkpoint(folder / "best.ckpt", tiny_detector("Detector"))
    overrides = [f"ckpt_path={ckpt}", "format=gasbench", f"out={folder / 'gas'}"]
    export(compose_config("export", overrides, folder))
    GlobalHydra.instance().clear()
    return folder / "gas"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """real/ and fake/ with three images each (sizes vary), a corrupt JPEG and a text file."""
    folder = tmp_path_factory.mktemp("media")
    for name, shift in (("real", 0), ("fake", 40)):
        (folder / name).mkdir()
        for i, (h, w) in enumerate([(120, 90), (96, 160), (300, 300)]):
            image = np.roll(cv2.resize(face_image(160), (w, h)), shift + 5 * i, axis=0)
            cv2.imwrite(str(folder / name / f"{i}.jpg"), image[..., ::-1])
    (folder / "fake" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (folder / "real" / "README.txt").write_text("not media")
    return folder


def test_the_config_composes_with_the_harness_defaults(make_cfg):
    cfg = make_cfg("benchmark_dir", ["model_dir=m", "root=r"])
    assert cfg.aug_weight == 0.2 and cfg.batch_size is None and cfg.max_files is None
    assert cfg.out.endswith("results.json")


def test_an_exported_checkpoint_scores_a_folder_in_both_passes(
    make_cfg, model_dir, root, tmp_path, capsys
):
    out = tmp_path / "bench" / "results.json"
    cfg = make_cfg(
        "benchmark_dir", [f"model_dir={model_dir}", f"root={root}", "batch_size=4", f"out={out}"]
    )
    result = benchmark(cfg)
    printed = capsys.readouterr().out
    for line in ("clean", "augmented", "sn34 = 0.8 * clean + 0.2 * augmented:", "skipped: 2"):
        assert line in printed
    saved = json.loads(out.read_text())
    assert saved["modality"] == "image" and saved["input"]["resize"] == result["input"]["resize"]
    clean, augmented = saved["passes"]["clean"], saved["passes"]["augmented"]
    assert clean["n"] == augmented["n"] == 6
    for metrics in (clean, augmented):
        assert {"mcc", "brier", "sn34", "acc", "auc"} <= set(metrics)
    assert saved["sn34"] == pytest.approx(0.8 * clean["sn34"] + 0.2 * augmented["sn34"])
    reasons = {Path(skip["path"]).name: skip["reason"] for skip in saved["skipped"]}
    assert reasons["README.txt"] == "not an image or video file"
    assert reasons["corrupt.jpg"].startswith("not a readable image")
    with (out.parent / "predictions.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 6 and sorted(int(row["label"]) for row in rows) == [0, 0, 0, 1, 1, 1]
    assert all(0 <= float(row["p_fake_augmented"]) <= 1 for row in rows)


@pytest.mark.slow  # ~10 s, the start of a process; the test above runs the same path in-process
def test_from_the_command_line(model_dir, root, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fakeguard.benchmark_dir",
            f"model_dir={model_dir}",
            f"root={root}",
            "max_files=2",
            "device=cpu",
            f"paths.log_dir={tmp_path}",
            f"out={tmp_path}/results.json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sn34 = 0.8 * clean + 0.2 * augmented:" in result.stdout
    assert json.loads((tmp_path / "results.json").read_text())["selected"] == {
        "real": 2,
        "fake": 2,
    }


def test_a_root_without_fake_is_one_clear_error(make_cfg, model_dir, tmp_path, capsys):
    (tmp_path / "only" / "real").mkdir(parents=True)
    cfg = make_cfg("benchmark_dir", [f"model_dir={model_dir}", f"root={tmp_path / 'only'}"])
    message = user_error(benchmark, cfg, capsys)
    assert "needs a real/ and a fake/ folder (missing: fake/)" in message


def test_a_model_dir_without_model_config_is_one_clear_error(make_cfg, root, tmp_path, capsys):
    cfg = make_cfg("benchmark_dir", [f"model_dir={tmp_path}", f"root={root}"])
    assert "has no model_config.yaml" in user_error(benchmark, cfg, capsys)


@pytest.mark.parametrize(
    ("override", "expected"),
    [("aug_weight=1.5", "aug_weight=1.5 must lie in [0, 1]"), ("max_files=0", "max_files=0")],
)
def test_bad_settings_are_one_clear_error(make_cfg, model_dir, root, capsys, override, expected):
    cfg = make_cfg("benchmark_dir", [f"model_dir={model_dir}", f"root={root}", override])
    assert expected in user_error(benchmark, cfg, capsys)


def test_a_folder_where_nothing_reads_is_one_clear_error(make_cfg, model_dir, tmp_path, capsys):
    for name in ("real", "fake"):
        (tmp_path / "bad" / name).mkdir(parents=True)
        (tmp_path / "bad" / name / "x.png").write_bytes(b"not a png")
    cfg = make_cfg("benchmark_dir", [f"model_dir={model_dir}", f"root={tmp_path / 'bad'}"])
    message = user_error(benchmark, cfg, capsys)
    assert message.startswith("no file could be scored: all 2 were skipped, e.g. ")
    assert "real/x.png: not a readable image" in message
