"""Lightning's DDP launcher under Hydra: each extra process runs the same job, not the sweep.

Lightning starts the processes of local DDP by running the script again with the parent's
command line plus `hydra.run.dir=<hydra.run.dir>`. In a multirun that command line holds the
whole sweep (`-m lr=1e-3,3e-4`) and `hydra.run.dir` is not the job's folder, so every child
would start the sweep over, in the wrong place. `job_command` gives the children the job's
own overrides and its output folder instead; for a single run it is what Lightning does.
The launching process also keeps the variables and the process group of its job; `ddp_job`
clears them after each job, so the next job of the sweep launches its own processes.
On SLURM (`launcher=slurm`) srun starts every process itself and nothing is relaunched.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch.distributed as dist
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_original_cwd, to_absolute_path
from lightning.fabric.strategies.launchers import subprocess_script as fabric_launcher
from lightning.pytorch.strategies.launchers import subprocess_script as trainer_launcher

# What Lightning's launcher sets in the launching process's own environment.
LAUNCH_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


def job_command(local_rank: int) -> tuple[Sequence[str], str]:
    """(command, cwd) that runs this Hydra job alone as DDP process `local_rank`."""
    import __main__

    hydra = HydraConfig.get()
    if __main__.__spec__ is None:
        command = [sys.executable, to_absolute_path(sys.argv[0])]
    else:
        command = [sys.executable, "-m", __main__.__spec__.name]
    command += [
        *hydra.overrides.task,
        f'hydra.run.dir="{hydra.runtime.output_dir}"',
        f"hydra.job.name=train_ddp_process_{local_rank}",
        "hydra.output_subdir=null",  # the parent wrote the job's .hydra/ already
    ]
    return command, get_original_cwd()


def use_job_command_for_ddp_children() -> None:
    """Make Lightning's subprocess launchers (Trainer's and Fabric's, which each hold the
    function by name) start children with `job_command`."""
    for module in (trainer_launcher, fabric_launcher):
        if hasattr(module, "_hydra_subprocess_cmd"):
            module._hydra_subprocess_cmd = job_command


@contextmanager
def ddp_job() -> Iterator[None]:
    """One training job: children start with `job_command`; afterwards the process group is
    destroyed and the launch variables are as they were (a no-op without DDP)."""
    use_job_command_for_ddp_children()
    before = {name: os.environ.get(name) for name in LAUNCH_VARIABLES}
    try:
        yield
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
