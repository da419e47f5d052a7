"""The entry points as a user runs them: mistakes give one clear line, not a traceback."""

from __future__ import annotations

import subprocess
import sys

from helpers import ROOT, TINY_DEMO


def run(script: str, *overrides: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            script,
            *overrides,
            f"paths.log_dir={tmp_path}",
            f"paths.cache_dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_missing_data_directory_is_one_error_line(tmp_path):
    missing = tmp_path / "no_such_faces"
    result = run("train.py", "data=folders", f"data.root={missing}", tmp_path=tmp_path)
    assert result.returncode == 2
    assert f"error: data directory not found: {missing}" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_checkpoint_is_one_error_line(tmp_path):
    result = run("evaluate.py", f"ckpt_path={tmp_path}/nope.ckpt", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "error: checkpoint not found" in result.stderr and "Traceback" not in result.stderr


def test_fast_dev_run_from_the_command_line(tmp_path):
    result = run("train.py", *TINY_DEMO, "debug=fdr", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fakeguard train" in result.stdout


def test_unknown_experiment_lists_the_available_choices(tmp_path):
    result = run("train.py", "experiment=effvit_typo", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "Available options" in result.stderr and "effvit_clean" in result.stderr


def test_a_required_setting_left_out_is_one_error_line(tmp_path):
    result = run("train.py", "data=folders", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "error: data.root must be set" in result.stderr and "Traceback" not in result.stderr
