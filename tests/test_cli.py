"""The entry points as a user runs them: mistakes give one clear line, not a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from bad_files import BUILDERS
from helpers import ROOT, TINY_DEMO, assert_one_error_line

from fakeguard.cli import reports_user_errors
from fakeguard.evaluation.runner import evaluate
from fakeguard.export.run import export
from fakeguard.inference.run import predict
from fakeguard.training.run import train

# How a user starts each command that reads a checkpoint, and what else it needs to get there.
CHECKPOINT_COMMANDS = {
    "evaluate": (["evaluate.py"], evaluate, lambda ckpt, tmp: []),
    "predict": (
        ["-m", "fakeguard.predict"],
        predict,
        lambda ckpt, tmp: [f"input={ckpt}", f"out={tmp}/predictions.csv"],
    ),
    "export": (["-m", "fakeguard.export"], export, lambda ckpt, tmp: [f"out={tmp}/m.safetensors"]),
    # resuming: checked before Lightning (whose own load would be a traceback) or any work
    "train": (["train.py"], train, lambda ckpt, tmp: []),
}
UNSAFE = (
    "is unsafe: loading it would import posix.system; fakeguard never loads code from checkpoints"
)
NOT_CHECKPOINTS = {  # file kind -> what the error says after the path
    "empty": "is not a checkpoint (empty file)",
    "random_bytes": "is not a checkpoint (not a PyTorch/zip file: binary data starting 07 08",
    "text": "is not a checkpoint (not a PyTorch/zip file: text starting 'this is a text",
    "malicious_plain_pickle": UNSAFE,
}


def run(script: str | list[str], *overrides: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            *([script] if isinstance(script, str) else script),
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


@pytest.mark.parametrize("command", sorted(CHECKPOINT_COMMANDS))
def test_a_malicious_checkpoint_is_refused_and_never_runs(command, tmp_path):
    marker = tmp_path / "code_ran"
    ckpt = BUILDERS["malicious"](tmp_path / "evil.ckpt", marker)
    entry, _, extra = CHECKPOINT_COMMANDS[command]
    result = run(entry, f"ckpt_path={ckpt}", *extra(ckpt, tmp_path), tmp_path=tmp_path)
    assert result.returncode == 2
    assert_one_error_line(result.stderr, f"{ckpt} {UNSAFE}")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("kind", "expected"), [pytest.param(k, e, id=k) for k, e in NOT_CHECKPOINTS.items()]
)
@pytest.mark.parametrize("command", sorted(CHECKPOINT_COMMANDS))
def test_a_file_that_is_not_a_checkpoint_is_one_error_line(
    command, kind, expected, make_cfg, tmp_path, capsys
):
    """The commands' own functions behind the entry points' wrapper, in process: the
    subprocess test above shows the wrapper behaves the same under `hydra.main`."""
    marker = tmp_path / "code_ran"
    ckpt = BUILDERS[kind](tmp_path / f"{kind}.ckpt", marker)
    _, function, extra = CHECKPOINT_COMMANDS[command]
    cfg = make_cfg(command, [f"ckpt_path={ckpt}", *extra(ckpt, tmp_path)])
    with pytest.raises(SystemExit) as exited:
        reports_user_errors(function)(cfg)
    assert exited.value.code == 2
    assert_one_error_line(capsys.readouterr().err, f"{ckpt} {expected}")
    assert not marker.exists()


def test_a_bad_data_setting_is_one_error_line_before_any_work(tmp_path):
    result = run("train.py", "data.image_size=7", tmp_path=tmp_path)
    assert result.returncode == 2
    assert_one_error_line(result.stderr, "data.image_size=7 is too small: at least 32 px")
    assert not list(tmp_path.rglob("*.ckpt"))


def test_a_user_error_raised_inside_hydra_instantiate_is_one_line(capsys):
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    target = {"_target_": "fakeguard.data.datamodule.DemoDataModule", "batch_size": 0}
    with pytest.raises(SystemExit) as exited:
        reports_user_errors(instantiate)(target)
    assert exited.value.code == 2
    assert_one_error_line(capsys.readouterr().err, "data.batch_size=0 is too small: at least 1")
    with pytest.raises(InstantiationException):  # a bug is still a traceback
        reports_user_errors(instantiate)({"_target_": "builtins.int", "x": "not a number"})
