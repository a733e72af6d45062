"""Advisory file locks: who is alive. The kernel drops an flock when its process dies, even on
SIGKILL or power loss, so "lock free" is a reliable "owner gone"."""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path


class HeldLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def try_lock(path: Path) -> HeldLock | None:
    """Take an exclusive lock without waiting; None when someone alive holds it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the service account's only
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return HeldLock(path, fd)


def owner_alive(path: Path) -> bool:
    """True when a living process holds the lock at ``path``."""
    if not path.exists():
        return False
    probe = try_lock(path)
    if probe is None:
        return True
    probe.release()
    return False


def dock_lock_path(runtime: Path, token: str) -> Path:
    return runtime / "locks" / f"dock-{token}.lock"


def device_lock_path(runtime: Path, device_key: str) -> Path:
    digest = hashlib.sha256(device_key.encode()).hexdigest()[:24]
    return runtime / "locks" / f"device-{digest}.lock"
