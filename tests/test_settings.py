"""Numeric settings are checked before any work, with one error that names the setting as the
user types it and says which values work."""

from __future__ import annotations

import re

import pytest
from helpers import CONFIGS

from fakeguard import settings
from fakeguard.data.datamodule import DemoDataModule, FolderDataModule, identities_needed
from fakeguard.data.demo import demo_source_id
from fakeguard.data.splits import split_of
from fakeguard.errors import SettingError, UserError
from fakeguard.evaluation.runner import check_settings as check_evaluate_settings
from fakeguard.export.run import check_settings as check_export_settings
from fakeguard.training.run import check_settings as check_train_settings


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_size": 7}, "data.image_size=7 is too small: at least 32 px"),
        ({"image_size": 0}, "data.image_size=0 is too small: at least 32 px"),
        ({"image_size": 64.5}, "data.image_size=64.5 must be a whole number"),
        ({"image_size": "big"}, "data.image_size=big must be a whole number"),
        ({"batch_size": 0}, "data.batch_size=0 is too small: at least 1"),
        ({"batch_size": True}, "data.batch_size=True must be a whole number"),
        ({"num_workers": -1}, "data.num_workers=-1 is too small: at least 0"),
        (
            {"val_fraction": 0},
            "data.val_fraction=0 leaves no validation data: it must lie in (0, 1)",
        ),
        ({"val_fraction": 1.5}, "data.val_fraction=1.5 must lie in (0, 1)"),
        ({"test_fraction": -0.1}, "data.test_fraction=-0.1 must lie in [0, 1)"),
        ({"test_fraction": float("nan")}, "data.test_fraction=nan must lie in [0, 1)"),
        (
            {"val_fraction": 0.5, "test_fraction": 0.5},
            "data.val_fraction + data.test_fraction = 1 must be below 1: the rest is the "
            "training split",
        ),
        ({"num_identities": 0}, "data.num_identities=0 is too small: at least 1"),
        (
            {"num_identities": 3},
            "data.num_identities=3 is too small: at least 10 with data.val_fraction=0.15 and "
            "data.test_fraction=0.15, so that the train and val splits both get faces",
        ),
        ({"seed": -1}, "data.seed=-1 is too small: at least 0"),
    ],
)
def test_a_bad_data_setting_fails_when_the_datamodule_is_built(kwargs, message):
    with pytest.raises(SettingError) as caught:
        DemoDataModule(**kwargs)
    assert str(caught.value) == message
    assert isinstance(caught.value, UserError) and isinstance(caught.value, ValueError)


def test_every_data_module_checks_the_shared_settings(tmp_path):
    with pytest.raises(SettingError, match="data.batch_size=-4 is too small"):
        FolderDataModule(str(tmp_path), batch_size=-4)


def test_the_smallest_sizes_are_accepted():
    data = DemoDataModule(num_identities=10, image_size=32, batch_size=1, num_workers=0)
    assert (data.image_size, data.batch_size) == (32, 1)


def test_identities_needed_is_exact():
    for val, test in [(0.15, 0.15), (0.3, 0.1), (0.05, 0.0)]:
        n = identities_needed(val, test)
        splits = [split_of(demo_source_id(i), val, test) for i in range(n)]
        assert {"train", "val"} <= set(splits)
        assert not {"train", "val"} <= set(splits[:-1])


def test_setting_helpers():
    assert settings.whole_number("a", 3, 1, maximum=3) == 3
    assert settings.optional_whole_number("a", None, 1) is None
    assert settings.number_in("t", 0.5, 0, 1) == 0.5
    with pytest.raises(SettingError, match=r"^onnx.opset=99 is too large: at most 20$"):
        settings.whole_number("onnx.opset", 99, 7, maximum=20)
    with pytest.raises(SettingError, match=r"^x=0 must lie in \(0, inf\)$"):
        settings.positive_number("x", 0)
    with pytest.raises(SettingError, match=r"^x=abc must be a number in \[0, 1\]$"):
        settings.number_in("x", "abc", 0, 1)
    with pytest.raises(SettingError, match=r"^dtype=f8 is not one of a, b$"):
        settings.one_of("dtype", "f8", ("a", "b"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("batch_size=0", "batch_size=0 is too small: at least 1"),
        ("max_samples=0", "max_samples=0 is too small: at least 1"),
        ("seed=-3", "seed=-3 is too small: at least 0"),
        ("gradcam.samples=-1", "gradcam.samples=-1 is too small: at least 0"),
        ("device=gpu", "device=gpu is not one of cpu, cuda, cuda:<index>, auto"),
    ],
)
def test_evaluate_settings_are_checked(make_cfg, override, message):
    cfg = make_cfg("evaluate", ["ckpt_path=a.ckpt", override])
    with pytest.raises(SettingError, match=f"^{message}$"):
        check_evaluate_settings(cfg)


def test_evaluate_defaults_pass(make_cfg):
    check_evaluate_settings(make_cfg("evaluate", ["ckpt_path=a.ckpt", "gradcam.samples=null"]))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["format=tflite", "out=m"], "format=tflite is not one of safetensors, onnx, gasbench"),
        (["format=onnx", "out=m.onnx", "onnx.input=int8"], "onnx.input=int8 is not one of"),
        (["format=onnx", "out=m.onnx", "onnx.opset=3"], "onnx.opset=3 is too small: at least 7"),
        (["format=onnx", "out=m.onnx", "onnx.opset=99"], "onnx.opset=99 is too large"),
        (["format=onnx", "out=m.onnx", "onnx.tolerance=0"], r"onnx.tolerance=0 must lie in \(0"),
        (["format=onnx", "out=m.pt"], "out=m.pt must end in .onnx"),
        (["format=safetensors", "out=m.bin"], "out=m.bin must end in .safetensors"),
        (["format=gasbench", "out=gas", "gasbench.dtype=int8"], "gasbench.dtype=int8 is not"),
    ],
)
def test_export_settings_are_checked_before_the_checkpoint_is_read(make_cfg, overrides, message):
    cfg = make_cfg("export", ["ckpt_path=never_read.ckpt", *overrides])
    with pytest.raises(UserError, match=f"^{message}"):
        check_export_settings(cfg)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.max_epochs=0"], "trainer.max_epochs=0 is too small: at least 1"),
        (["seed=-1"], "seed=-1 is too small: at least 0"),
        (["data.image_size=0"], "data.image_size=0 is too small: at least 32 px"),
        (["model.optimizer.lr=-1"], "model.optimizer.lr=-1 must lie in (0, inf)"),
        (["model.trainable_blocks=-2"], "model.trainable_blocks=-2 is too small: at least 0"),
        (["model.gradient_clip_val=0"], "model.gradient_clip_val=0 must lie in (0, inf)"),
        (["attack=pgd", "attack.eps=-0.1"], "attack.eps=-0.1 must lie in [0, 1]"),
        (["attack=pgd", "attack.steps=0"], "attack.steps=0 is too small: at least 1"),
        (["attack=pgd", "attack.step_size=0"], "attack.step_size=0 must lie in (0, 1]"),
        (
            ["attack=pgd", "attack.adversary.loss_weights.pgd=-1"],
            "attack.adversary.loss_weights.pgd=-1 must lie in [0, inf]",
        ),
    ],
)
def test_train_settings_are_checked(make_cfg, overrides, message):
    with pytest.raises(SettingError, match=f"^{re.escape(message)}$"):
        check_train_settings(make_cfg("train", overrides))


@pytest.mark.parametrize(
    "experiment", sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))
)
def test_every_experiments_train_settings_pass(make_cfg, experiment):
    check_train_settings(make_cfg("train", [f"experiment={experiment}"]))
