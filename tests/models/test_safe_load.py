"""Every file fakeguard loads goes through one safe loader, which never runs code from the file
and says in one line what a bad file is (never suggesting `weights_only=False`)."""

from __future__ import annotations

import re
import zipfile

import pytest
import torch
from bad_files import BUILDERS
from safetensors.torch import save_file

from fakeguard.errors import MissingFileError, UserError
from fakeguard.models.checkpoint import load_detector, read_checkpoint
from fakeguard.models.safe_load import (
    UnreadableCheckpointError,
    UnsafeCheckpointError,
    load_safetensors_file,
    load_torch_file,
    unsafe_globals,
)
from fakeguard.models.weights import IncompatibleCheckpointError, load_state_file

UNSAFE = "is unsafe: loading it would import posix.system; fakeguard never loads code from"
EXPECTED = {
    "malicious": UNSAFE,
    "malicious_plain_pickle": UNSAFE,
    "malicious_legacy": UNSAFE,
    "empty": "is not a checkpoint (empty file)",
    "random_bytes": "is not a checkpoint (not a PyTorch/zip file: binary data starting 07 08 09",
    "text": "is not a checkpoint (not a PyTorch/zip file: text starting 'this is a text file",
    "truncated": "is not a checkpoint (damaged zip file: truncated or corrupt)",
    "plain_zip": "is not a checkpoint (not a PyTorch/zip file: a zip archive without PyTorch",
}


def assert_one_clean_line(message: str) -> None:
    assert "\n" not in message
    assert "weights_only" not in message  # torch's hint to load unsafely is never passed on


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_a_bad_checkpoint_is_one_clear_error_and_never_runs(kind, tmp_path):
    marker = tmp_path / "ran"
    path = BUILDERS[kind](tmp_path / f"{kind}.ckpt", marker)
    with pytest.raises(UnreadableCheckpointError) as caught:
        read_checkpoint(path)
    message = str(caught.value)
    assert message.startswith(f"{path} {EXPECTED[kind]}"), message
    assert_one_clean_line(message)
    assert isinstance(caught.value, UserError)
    assert isinstance(caught.value, UnsafeCheckpointError) == kind.startswith("malicious")
    error = caught.value  # torch's own error (and its hint) is not chained on either
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    assert not marker.exists()


def test_a_weight_file_says_weights_file(tmp_path):
    marker = tmp_path / "ran"
    path = BUILDERS["malicious"](tmp_path / "backbone.pth", marker)
    with pytest.raises(UnsafeCheckpointError, match="never loads code from weights files"):
        load_state_file(path)
    with pytest.raises(UnreadableCheckpointError, match=r"is not a weights file \(empty file\)"):
        load_state_file(BUILDERS["empty"](tmp_path / "empty.pth", marker))
    assert not marker.exists()


def test_any_global_outside_weights_only_is_named(tmp_path):
    path = tmp_path / "hook.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hook": print}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"would import builtins\.print;"):
        load_torch_file(path)
    assert unsafe_globals(path) == ["builtins.print"]


def test_a_plain_checkpoint_has_no_unsafe_globals(tmp_path):
    path = tmp_path / "ok.pth"
    torch.save({"w": torch.zeros(2), "epoch": 3}, path)
    assert unsafe_globals(path) == []
    assert load_torch_file(path)["epoch"] == 3


def test_the_legacy_torch_format_still_loads(tmp_path):
    path = tmp_path / "old.pth"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    assert torch.equal(load_torch_file(path)["w"], torch.ones(2))


def test_a_damaged_pytorch_archive_says_so(tmp_path):
    path = tmp_path / "broken.ckpt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02garbage")
        archive.writestr("archive/version", "3\n")
    with pytest.raises(UnreadableCheckpointError, match=r"\(damaged PyTorch file: ") as caught:
        read_checkpoint(path)
    assert_one_clean_line(str(caught.value))


def test_a_safetensors_file_given_as_checkpoint_is_named(tmp_path):
    path = tmp_path / "model.ckpt"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(UnreadableCheckpointError, match="not a PyTorch/zip file: a safetensors"):
        read_checkpoint(path)


def test_a_checkpoint_that_is_not_a_dict_is_a_clear_error(tmp_path):
    path = tmp_path / "list.ckpt"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(IncompatibleCheckpointError, match="holds a list, not a dict"):
        load_detector(path)


def test_a_missing_file_keeps_its_own_error(tmp_path):
    with pytest.raises(MissingFileError, match="checkpoint not found"):
        read_checkpoint(tmp_path / "nope.ckpt")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (lambda p: p.write_bytes(b""), r"is not a weights file \(empty file\)"),
        (
            lambda p: p.write_text("hello"),
            r"is not a weights file \(not a safetensors file: text starting 'hello'\)",
        ),
        (
            lambda p: torch.save({"w": torch.zeros(1)}, p),
            r"not a safetensors file: a PyTorch/zip file\)",
        ),
        (
            lambda p: (
                save_file({"w": torch.zeros(8)}, str(p)),
                p.write_bytes(p.read_bytes()[:-5]),
            ),
            r"\(damaged safetensors file: ",
        ),
    ],
    ids=["empty", "text", "torch", "truncated"],
)
def test_a_bad_safetensors_file_is_one_clear_error(content, expected, tmp_path):
    path = tmp_path / "w.safetensors"
    content(path)
    with pytest.raises(UnreadableCheckpointError, match=expected) as caught:
        load_safetensors_file(path)
    assert_one_clean_line(str(caught.value))
    with pytest.raises(UnreadableCheckpointError, match=expected):
        load_state_file(path)  # backbone weight files take the same path


def test_no_torch_load_outside_the_safe_loader():
    """docs/design.md, decision 5: only `safe_load` calls torch.load or safetensors."""
    from pathlib import Path

    import fakeguard

    src = Path(fakeguard.__file__).parent
    calls = re.compile(r"torch\.load\(|(?<![\w.])load_file\(|safe_open\(")
    offenders = [
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        if calls.search(path.read_text()) and path.name not in ("safe_load.py",)
    ]
    # The gasbench template must stand alone (torch, timm, safetensors only).
    assert offenders == ["export/gasbench_model.py"]
