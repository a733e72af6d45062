"""A FUSE camera for deterministic fault injection: a read-only view of a camera folder whose reads
of one file, at and after a chosen offset, block until the test releases them, or fail with an
errno (EIO: a bad sector; ENODEV: the cable was pulled).

A test that needs a copy "in progress" holds it there on purpose instead of racing a slow copy:

    with FuseCamera(folder, mountpoint, hold="DCIM/100MEDIA/A.MP4", at=16384) as cam:
        ... start an ingest of ``mountpoint`` ...
        cam.wait_reached()          # the ingest is reading that file, past the offset: mid-copy
        ... SIGTERM it, fill the disk, ...
        cam.release()               # or cam.fail(errno.EIO): this file's reads fail from here;
                                    # or cam.unplug(): every operation fails with ENODEV

The filesystem runs in a forked child (mfusepy over libfuse; single-threaded, foreground) so that
libfuse's signal handlers never touch the test process; the child is told what to do through
multiprocessing events and a shared value. Why mfusepy: maintained ctypes bindings for libfuse 2
and 3 (fusepy is unmaintained since 2018 and libfuse2-only; pyfuse3 needs a C build and trio).
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import stat
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

HOLD_LIMIT_S = 600.0  # a forgotten hold ends eventually (the test has failed by then)


def fuse_available() -> bool:
    if not Path("/dev/fuse").exists():
        return False
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def _serve(source: str, mountpoint: str, hold: str, at: int, until: int, reached: Any,
           released: Any, error: Any, gone: Any, armed: Any) -> None:
    import mfusepy

    class Camera(mfusepy.Operations):  # type: ignore[misc]
        use_ns = True

        def _real(self, path: str) -> str:
            if gone.value:  # unplugged: the whole camera answers ENODEV from now on
                raise mfusepy.FuseOSError(errno.ENODEV)
            return os.path.join(source, path.lstrip("/"))

        def getattr(self, path: str, fh: Any = None) -> dict[str, int]:
            try:
                st = os.lstat(self._real(path))
            except OSError as exc:
                raise mfusepy.FuseOSError(exc.errno) from None
            mode = stat.S_IFMT(st.st_mode) | (0o555 if stat.S_ISDIR(st.st_mode) else 0o444)
            return {"st_mode": mode, "st_size": st.st_size, "st_nlink": st.st_nlink,
                    "st_mtime": st.st_mtime_ns, "st_atime": st.st_atime_ns,
                    "st_ctime": st.st_ctime_ns, "st_uid": 0, "st_gid": 0}

        def readdir(self, path: str, fh: Any) -> list[str]:
            return [".", "..", *sorted(os.listdir(self._real(path)))]

        def open(self, path: str, flags: int) -> int:
            if flags & (os.O_WRONLY | os.O_RDWR):
                raise mfusepy.FuseOSError(errno.EROFS)
            return os.open(self._real(path), os.O_RDONLY)

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            if gone.value:
                raise mfusepy.FuseOSError(errno.ENODEV)
            if path.lstrip("/") == hold and offset + size > at and offset < until and armed.value:
                if error.value:
                    raise mfusepy.FuseOSError(error.value)
                reached.set()
                released.wait(HOLD_LIMIT_S)
                if gone.value:
                    raise mfusepy.FuseOSError(errno.ENODEV)
                if error.value:
                    raise mfusepy.FuseOSError(error.value)
            return os.pread(fh, size, offset)

        def release(self, path: str, fh: int) -> int:
            os.close(fh)
            return 0

    # direct_io: every read() of the ingest reaches read() above (no readahead past the hold)
    mfusepy.FUSE(Camera(), mountpoint, foreground=True, nothreads=True, ro=True,
                 direct_io=True, fsname="fusecam")


class FuseCamera:
    def __init__(self, source: Path, mountpoint: Path, *, hold: str = "", at: int = 0,
                 until: int | None = None, error: int = 0, armed: bool = True) -> None:
        """``error`` fails reads of ``hold`` at ``at`` with it from the start (no hold);
        ``until``: only reads before this offset are held (a disk image's probes of its end,
        by udev's blkid, pass); ``armed=False``: nothing is held until ``arm()``."""
        self.source, self.mountpoint = source, mountpoint
        ctx = multiprocessing.get_context("fork")
        self.reached, self.released = ctx.Event(), ctx.Event()
        self.error, self.gone = ctx.Value("i", error), ctx.Value("i", 0)
        self.armed = ctx.Value("i", int(armed))
        self.process = ctx.Process(target=_serve, daemon=True, args=(
            str(source), str(mountpoint), hold, at, until if until is not None else 2**63,
            self.reached, self.released, self.error, self.gone, self.armed))

    def __enter__(self) -> FuseCamera:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self.process.start()
        deadline = time.monotonic() + 30
        while not self._mounted():  # the mount is an event, not a delay
            if not self.process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the FUSE camera did not mount at {self.mountpoint}")
            time.sleep(0.01)
        return self

    def _mounted(self) -> bool:
        """From the mount table: a dead FUSE mount (ENOTCONN) is still mounted."""
        target = str(self.mountpoint)
        return any(line.split()[1] == target
                   for line in Path("/proc/self/mounts").read_text().splitlines())

    def wait_reached(self, timeout: float = 120, *, unless: Any = None) -> bool:
        """Until the held offset is read (True); ``unless``: a callable checked meanwhile, whose
        truth ends the wait with False (say, the reading process has exited)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.reached.wait(0.02):
                return True
            if unless is not None and unless():
                return False
        raise AssertionError("nothing read the held file at the held offset")

    def arm(self) -> None:
        """Hold reads from now on (e.g. once udev has probed a disk image)."""
        self.armed.value = 1

    def release(self) -> None:
        self.released.set()

    def fail(self, code: int) -> None:
        """The held read and every later one of the file fail with ``code``."""
        self.error.value = code
        self.released.set()

    def unplug(self) -> None:
        """The cable is pulled: the held read and everything after it, on any path, fail with
        ENODEV (the camera's root too)."""
        self.gone.value = 1
        self.released.set()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.released.set()
        for argv in (["fusermount3", "-u", "-z", str(self.mountpoint)],
                     ["fusermount", "-u", "-z", str(self.mountpoint)],
                     ["umount", "-l", str(self.mountpoint)]):
            if not self._mounted():
                break
            subprocess.run(argv, capture_output=True, check=False)
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
