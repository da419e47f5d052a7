"""Multiruns and DDP from the command line, as a user runs them."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import CONFIGS, ROOT, TINY_DEMO
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf


def train_cli(*overrides: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "train.py", *overrides],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def test_a_multirun_with_two_values_writes_two_run_directories(tmp_path):
    sweep = tmp_path / "sweep"
    result = train_cli(
        "-m", "seed=1,2", *TINY_DEMO, "debug=fdr", "tracks=none",
        f"hydra.sweep.dir={sweep}", f"paths.cache_dir={tmp_path}/cache",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    for job, seed in (("0", 1), ("1", 2)):
        assert (sweep / job / "summary.json").is_file()
        assert f"seed={seed}" in (sweep / job / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.slow
def test_two_process_cpu_ddp_in_a_multirun(tmp_path):
    """trainer=ddp with 2 CPU processes (gloo), two jobs: each job's processes share its run
    folder, draw distinct shards, log identical synced metrics, and only rank 0 scores the
    robustness tracks. The sweep folder is Hydra's default (timestamped): a relaunched process
    that started the sweep over would write into a second one."""
    result = train_cli(
        "-m", "seed=1,2", *TINY_DEMO, "debug=fdr", "trainer=ddp", "trainer.accelerator=cpu",
        "trainer.devices=2", f"paths.log_dir={tmp_path}", f"paths.cache_dir={tmp_path}/cache",
        "+callbacks.probe._target_=ddp_probe.DDPProbe",
        "+callbacks.probe.out=${paths.output_dir}/probe",
        env={"PYTHONPATH": str(Path(__file__).parent)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "debug" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    for job in ("0", "1"):
        ranks = [json.loads((sweep / job / "probe" / f"rank{r}.json").read_text()) for r in (0, 1)]
        for seen in ranks:
            # fakeguard's EpochSampler, split between the processes by Lightning's wrapper
            assert seen["world_size"] == 2 and seen["sampler"] == "DistributedSamplerWrapper"
            assert seen["sampler_len"] == math.ceil(seen["train_len"] / 2)
        # together the two shards are the whole split; only the padding is drawn twice
        shards = [set(seen["indices"]) for seen in ranks]
        assert shards[0] | shards[1] == set(range(ranks[0]["train_len"]))
        assert len(shards[0] & shards[1]) <= 2 * ranks[0]["sampler_len"] - ranks[0]["train_len"]
        assert ranks[0]["metrics"] == ranks[1]["metrics"]
        assert {"val/auc", "val/loss", "val/social/auc", "val/robust_auc"} <= set(
            ranks[0]["metrics"]
        )
        assert [seen["scored_here"] for seen in ranks] == [True, False]
        assert (sweep / job / "summary.json").is_file()


def test_the_optuna_search_sweeps_settings_that_exist():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    cfg = compose_with_hydra(["hparams_search=effvit_adv_optuna"])
    sweeper = cfg.hydra.sweeper
    assert sweeper.direction == "maximize" and cfg.optimized_metric == "val/robust_auc_best"
    for key in sweeper.params:
        assert OmegaConf.select(cfg, key, default=None) is not None, key
    assert cfg.tracks.names == ["clean", "social"]
    assert cfg.callbacks.model_checkpoint.monitor == "val/robust_auc"


def test_the_slurm_launcher_starts_one_task_per_ddp_device():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    cfg = compose_with_hydra(["launcher=slurm", "trainer=ddp", "trainer.devices=4"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.tasks_per_node, launcher.gpus_per_node, launcher.nodes) == (4, 4, 1)


def compose_with_hydra(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose("train", overrides, return_hydra_config=True)
