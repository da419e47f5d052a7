"""Helpers shared by the tests: paths, tiny demo settings, composing the real configs."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SHARED_DATA = ROOT.parent / "shared" / "data"

# Tiny, fast settings for the embedded demo: a few seconds per Lightning run on 2 cores.
TINY_DEMO = [
    "data.num_identities=40",
    "data.image_size=64",
    "data.batch_size=8",
    "logger=csv",
]


def compose_config(name: str, overrides: list[str], run_dir: Path) -> DictConfig:
    """Compose `configs/<name>.yaml` as the entry point would, writing under `run_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        cfg.paths.log_dir = str(run_dir)
        del cfg.hydra
    return cfg
