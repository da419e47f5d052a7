"""The output lock: a second writer is refused with who holds it; a dead holder's file is
taken over; the lock goes with its holder, also on an exception."""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import subprocess
import sys

import pytest

from fakeguard.data import lock as lock_module
from fakeguard.data.lock import LockedError, OutputLock
from fakeguard.errors import UserError


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path):
    path = tmp_path / ".prepare.lock"
    with OutputLock(path, "prepare", tmp_path):
        holder = json.loads(path.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(LockedError) as refused:
            OutputLock(path, "prepare", tmp_path).acquire()
    assert isinstance(refused.value, UserError)
    assert str(refused.value) == (
        f"another prepare is writing to {tmp_path} (pid {os.getpid()}, since "
        f"{holder['since']}); wait for it or remove {path} if that process is gone"
    )
    assert not path.exists()


def test_the_lock_is_released_when_the_body_raises(tmp_path):
    path = tmp_path / ".prepare.lock"
    with pytest.raises(KeyboardInterrupt), OutputLock(path, "prepare", tmp_path):
        raise KeyboardInterrupt
    assert not path.exists()
    with OutputLock(path, "prepare", tmp_path):
        assert path.is_file()


def test_a_file_left_by_a_killed_holder_is_taken_over_with_a_warning(tmp_path, caplog):
    path = tmp_path / ".prepare.lock"
    pid = dead_pid()
    path.write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "since": "then"}))
    with caplog.at_level(logging.WARNING), OutputLock(path, "prepare", tmp_path):
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert f"left by pid {pid}" in caplog.text and "no longer running" in caplog.text


def test_without_flock_the_pid_in_the_file_decides(tmp_path, monkeypatch):
    def unsupported(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", unsupported)
    path = tmp_path / ".prepare.lock"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for pid, host, refused in (
            (live.pid, socket.gethostname(), True),
            (live.pid, "another-host", True),  # cannot be checked from here: it may run
            (dead_pid(), socket.gethostname(), False),
        ):
            path.write_text(json.dumps({"pid": pid, "host": host, "since": "then"}))
            if refused:
                with pytest.raises(LockedError, match=f"pid {pid}"):
                    OutputLock(path, "prepare", tmp_path).acquire()
            else:
                with OutputLock(path, "prepare", tmp_path):
                    pass
    finally:
        live.kill()
        live.wait()
    assert lock_module._alive({"pid": os.getpid(), "host": socket.gethostname()}) is False
