"""python -m fakeguard.calibrate: fit on val, store in the checkpoint, applied by every export."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import FLOAT32_NOISE, ROOT, tiny_detector, user_error, write_checkpoint

from fakeguard.data.datamodule import DemoDataModule
from fakeguard.evaluation.calibration import calibrate
from fakeguard.export.run import export
from fakeguard.export.sidecar import load_safetensors
from fakeguard.models.checkpoint import load_detector, read_checkpoint, stored_calibration
from fakeguard.scoring.inputs import to_tensor

pytestmark = pytest.mark.usefixtures("one_thread")
# write_checkpoint records no data: name the demo data explicitly
DEMO = ["data=demo", "data.num_identities=40"]


@pytest.fixture
def ckpt(tmp_path):
    return write_checkpoint(tmp_path / "best.ckpt", tiny_detector("Detector"))


def val_crops() -> list[np.ndarray]:
    demo = DemoDataModule(num_identities=40, image_size=64)
    return [s.image for s in demo.split("val")]


def test_calibrate_writes_the_fit_in_place_and_a_refit_replaces_it(make_cfg, ckpt, capsys):
    weights = read_checkpoint(ckpt)["state_dict"]
    result = calibrate(make_cfg("calibrate", [f"ckpt_path={ckpt}", *DEMO]))
    stored = stored_calibration(ckpt)
    assert (stored.scale, stored.bias) == (result["scale"], result["bias"])
    assert stored.split == "val" and stored.tracks == ("clean",)
    assert stored.n == len(val_crops()) and 0 < stored.n_fake < stored.n
    out = capsys.readouterr().out
    assert "fakeguard calibrate: split val" in out and f"wrote {ckpt}" in out
    assert "ECE before" in out and "replaced:" not in out
    after = read_checkpoint(ckpt)["state_dict"]
    assert all(torch.equal(after[k], v) for k, v in weights.items())

    # a refit starts from the uncalibrated logits: the same fit again, the old one replaced
    again = calibrate(make_cfg("calibrate", [f"ckpt_path={ckpt}", *DEMO]))
    assert again["scale"] == pytest.approx(result["scale"], rel=1e-9)
    assert again["bias"] == pytest.approx(result["bias"], rel=1e-9, abs=1e-12)
    assert "replaced: Platt scaling" in capsys.readouterr().out


def test_out_writes_a_calibrated_copy_and_pooled_tracks_count_every_track(make_cfg, ckpt, tmp_path):
    original = ckpt.read_bytes()
    copy = tmp_path / "copies" / "calibrated.ckpt"
    overrides = [f"ckpt_path={ckpt}", f"out={copy}", "calibration.tracks=[clean,jpeg50]", *DEMO]
    calibrate(make_cfg("calibrate", overrides))
    assert ckpt.read_bytes() == original and stored_calibration(ckpt) is None
    stored = stored_calibration(copy)
    assert stored.tracks == ("clean", "jpeg50") and stored.n == 2 * len(val_crops())


def test_a_safetensors_export_of_a_calibrated_checkpoint_gives_the_calibrated_p_fake(
    make_cfg, ckpt, tmp_path
):
    calibrate(make_cfg("calibrate", [f"ckpt_path={ckpt}", *DEMO]))
    calibration = stored_calibration(ckpt)
    out = tmp_path / "model.safetensors"
    export(make_cfg("export", [f"ckpt_path={ckpt}", "format=safetensors", f"out={out}"]))
    exported = load_safetensors(out)
    x = to_tensor(val_crops()[:6], 64)
    with torch.inference_mode():
        raw = load_detector(ckpt, calibrated=False)(x).double()
        expected = torch.sigmoid(calibration.scale * raw + calibration.bias)
        got = torch.sigmoid(exported(x)).double()
    torch.testing.assert_close(got, expected, **FLOAT32_NOISE)
    assert not torch.allclose(got, torch.sigmoid(raw), atol=1e-3)  # it did change P(fake)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["calibration.tracks=[jpeg_50]"], "calibration.tracks: 'jpeg_50' is not a suite track"),
        (["calibration.tracks=[]"], "calibration.tracks is empty"),
        (["ckpt_path=[a.ckpt,b.ckpt]"], "ckpt_path takes one checkpoint here"),
    ],
)
def test_bad_settings_are_one_error_line(make_cfg, ckpt, capsys, overrides, message):
    cfg = make_cfg("calibrate", [f"ckpt_path={ckpt}", *DEMO, *overrides])
    assert user_error(calibrate, cfg, capsys).startswith(message)


def test_a_missing_checkpoint_is_one_error_line(make_cfg, tmp_path, capsys):
    cfg = make_cfg("calibrate", [f"ckpt_path={tmp_path}/none.ckpt", *DEMO])
    assert user_error(calibrate, cfg, capsys) == f"checkpoint not found: {tmp_path}/none.ckpt"


def test_a_checkpoint_that_records_no_data_asks_for_it(make_cfg, ckpt, capsys):
    message = user_error(calibrate, make_cfg("calibrate", [f"ckpt_path={ckpt}"]), capsys)
    assert "does not record the data it was trained on" in message


@pytest.mark.slow
def test_calibrate_from_the_command_line(ckpt, tmp_path):
    copy = tmp_path / "calibrated.ckpt"
    command = [
        sys.executable,
        "-m",
        "fakeguard.calibrate",
        f"ckpt_path={ckpt}",
        f"out={copy}",
        *DEMO,
        f"paths.log_dir={tmp_path}",
        f"paths.cache_dir={tmp_path}/cache",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"wrote {copy}" in result.stdout and stored_calibration(copy) is not None
    missing = subprocess.run(
        [*command[:3], f"ckpt_path={tmp_path}/none.ckpt", *command[5:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 2
    assert (
        missing.stderr.strip().splitlines()[-1]
        == f"error: checkpoint not found: {tmp_path}/none.ckpt"
    )
