"""A lock file that keeps two processes from writing the same output at once.

`fcntl.flock` on an open file is the lock itself: the kernel drops it when its holder exits,
however it exits (SIGKILL and OOM kills included), so a lock can never outlive its process on
a local disk. The file also holds the holder's pid, host and start time, to say who holds it.
A file left by a killed holder is unlocked and simply taken over, with a warning. Where the
filesystem cannot lock (flock fails with ENOLCK or EOPNOTSUPP on some network mounts), the pid
in the file decides: a live process on this host (or any process on another host, which cannot
be checked) holds it, anything else is stale.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from fakeguard.errors import UserError

log = logging.getLogger(__name__)
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


class LockedError(UserError):
    """Another process holds the lock; the message names it and says what to do."""


class OutputLock:
    """`with OutputLock(path, "prepare", out):` holds `path` exclusively, or raises LockedError
    at once ("another prepare is writing to <out> ..."). The file is removed on release, also
    when the body raises."""

    def __init__(self, path: Path, task: str, target: Path | str) -> None:
        self.path = Path(path)
        self.task = task
        self.target = target
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                held = _flock(fd)
                if held is None:
                    log.warning("%s cannot be locked here; going by the pid in it", self.path)
                if held and not _same_file(fd, self.path):
                    # The holder released and removed the file between our open and our lock:
                    # we hold a lock on a file nobody will see. Start again on the path.
                    os.close(fd)
                    continue
                holder = _holder(fd)
                if held is False or (held is None and _alive(holder)):
                    raise LockedError(self._busy_message(holder))
            except BaseException:
                os.close(fd)
                raise
            break
        if holder:
            log.warning(
                "taking over %s, left by pid %s on %s (since %s), which is no longer running",
                self.path,
                holder.get("pid"),
                holder.get("host"),
                holder.get("since"),
            )
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:  # remove it first, still holding it, so nobody locks a file that is going away
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        finally:
            os.close(self._fd)  # drops the flock
            self._fd = None

    def _busy_message(self, holder: dict) -> str:
        who = f"pid {holder.get('pid', '?')}"
        if holder.get("host") and holder["host"] != socket.gethostname():
            who += f" on {holder['host']}"
        if holder.get("since"):
            who += f", since {holder['since']}"
        return (
            f"another {self.task} is writing to {self.target} ({who}); "
            f"wait for it or remove {self.path} if that process is gone"
        )


def _flock(fd: int) -> bool | None:
    """True: locked; False: someone else holds it; None: the filesystem cannot lock."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        if error.errno in _UNSUPPORTED:
            return None
        raise
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _holder(fd: int) -> dict:
    """What the file says about its holder ({} when empty or unreadable)."""
    data = os.pread(fd, 4096, 0)
    try:
        holder = json.loads(data) if data.strip() else {}
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _alive(holder: dict) -> bool:
    """Whether the process a lock file names may still run: on another host we cannot tell,
    so it may; on this one, its pid exists (and is not ours: a pid is reused after a reboot)."""
    if not holder:
        return False
    if holder.get("host") != socket.gethostname():
        return True
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
