"""Every config a user can pick composes, and builds real objects."""

from __future__ import annotations

import albumentations as A
import lightning as L
import pytest
from helpers import CONFIGS, TINY_DEMO, user_error
from hydra.errors import MissingConfigException
from hydra.utils import instantiate

from fakeguard.data.datamodule import FaceDataModule
from fakeguard.instantiate import instantiate_group
from fakeguard.training.module import DetectorModule
from fakeguard.training.run import build_datamodule, train

EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))
MODELS = sorted(p.stem for p in (CONFIGS / "model").glob("*.yaml"))
AUGMENTS = sorted(p.stem for p in (CONFIGS / "augment").glob("*.yaml"))
LOGGERS = sorted(p.stem for p in (CONFIGS / "logger").glob("*.yaml"))
DEBUGS = sorted(p.stem for p in (CONFIGS / "debug").glob("*.yaml"))


def build_all(cfg) -> None:
    datamodule = build_datamodule(cfg)
    assert isinstance(datamodule, FaceDataModule)
    assert isinstance(datamodule.train_transform, A.Compose)
    assert isinstance(instantiate(cfg.model), DetectorModule)
    trainer = instantiate(
        cfg.trainer,
        callbacks=instantiate_group(cfg.get("callbacks")),
        logger=instantiate_group(cfg.get("logger")) or False,
    )
    assert isinstance(trainer, L.Trainer)


def test_there_are_experiments_to_check():
    assert {"effnet_clean", "effvit_clean"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_instantiates(make_cfg, experiment):
    build_all(make_cfg("train", [f"experiment={experiment}", "model.net.weights=none"]))


@pytest.mark.parametrize(
    "override",
    [f"model={m}" for m in MODELS]
    + [f"augment={a}" for a in AUGMENTS]
    + [f"logger={g}" for g in LOGGERS]
    + [f"debug={d}" for d in DEBUGS],
)
def test_every_group_choice_composes_and_instantiates(make_cfg, override):
    build_all(make_cfg("train", [override, "model.net.weights=none"]))


def test_evaluate_config_composes(make_cfg):
    cfg = make_cfg("evaluate", ["ckpt_path=some.ckpt"])
    assert cfg.split == "test" and cfg.ckpt_path == "some.ckpt"


def test_default_model_selection_is_on_validation_auc(make_cfg):
    cfg = make_cfg("train", [])
    assert cfg.callbacks.model_checkpoint.monitor == "val/auc"
    assert cfg.callbacks.early_stopping.monitor == "val/auc"


def test_unknown_choice_is_a_hydra_error(make_cfg):
    with pytest.raises(MissingConfigException, match="effnet_clean"):
        make_cfg("train", ["experiment=does_not_exist"])


@pytest.mark.parametrize(
    "experiment, platform",
    [("demo_adv_codec", "jpeg50"), ("effvit_adv_codec", "eot"), ("demo_adv", None)],
)
def test_the_codec_experiments_harden_through_their_platform(make_cfg, experiment, platform):
    cfg = make_cfg("train", [f"experiment={experiment}", "model.net.weights=none"])
    adversary = instantiate(cfg.attack.adversary)
    assert adversary.through == platform
    assert (adversary.platform is None) == (platform is None)
    assert adversary.unet is not None and adversary.unet.conditioned


def test_a_misspelt_attack_through_is_one_error_line_naming_the_choices(make_cfg, capsys):
    cfg = make_cfg("train", [*TINY_DEMO, "attack=pgd", "attack.through=jpg50"])
    message = user_error(train, cfg, capsys)
    assert message.startswith("attack.through=jpg50 is not one of eot, ")
    assert "jpeg50" in message and "h264_c23" in message
