"""The copy engine: read a camera file once, hash exactly the bytes written, store them durably.

Why it looks like this:

* **One read, one hash.** The digest is computed over the very buffers handed to ``os.write``, so
  the recorded hash and the stored bytes cannot disagree, and the camera is read once (a second read
  of a flaky USB medium could return different bytes).
* **A small ring of page-aligned buffers, three stages in parallel.** The calling thread reads into
  slot *k* while a hash thread and a write thread work on earlier slots; a slot is reused only after
  both are done with it. ``hashlib`` and ``os.write`` release the GIL for large buffers, so on two
  cores hashing and the kernel's copy into the page cache overlap instead of adding up.
* **Early writeback.** ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` starts writing each window to disk
  as soon as it is complete, and the writer waits for the window before last, then drops it from
  the page cache. The disk is busy during the whole copy, the final ``fsync`` has little left to do,
  and ingesting a 64 GB camera does not push everything else out of memory. ``cp && sync`` leaves
  the disk idle while it copies and only then writes everything: this is how the engine keeps up
  with it despite hashing.
* **Errors say which side failed.** A camera that is unplugged mid-copy (``ENOTCONN``, ``EIO``,
  ``ENODEV``) and a full store (``ENOSPC``) need different fixes, so they are different
  exceptions, each keeping the original ``OSError`` as ``__cause__``. Every thread is joined before
  any exception leaves this module.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as errno_codes
import hashlib
import itertools
import mmap
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bodycam_ingest.errors import BodycamError, ExitCode, SourceUnusable, StorageError

MiB = 1024 * 1024
CHUNK_SIZE = 1 * MiB
"""Bytes per read/write. 1 MiB costs ~20% less CPU than 4 MiB (measured: bench/README.md): a
buffer read, hashed and written while it is still in the CPU cache is touched in memory once."""
RING_SLOTS = 4
WRITEBACK_WINDOW = 32 * MiB
"""Bytes handed to the disk per ``sync_file_range`` call; two windows are in flight at most."""
PROGRESS_INTERVAL_S = 0.1
HASH_CHUNK_SIZE = 1 * MiB
HASH_DIRECT_CHUNK_SIZE = 8 * MiB
"""O_DIRECT has no readahead: only large requests, two at a time, keep the disk streaming."""
HASH_READERS = 2
HASH_RING_SLOTS = 4

_SYNC_FILE_RANGE_WAIT_BEFORE = 1
_SYNC_FILE_RANGE_WRITE = 2
_SYNC_FILE_RANGE_WAIT_AFTER = 4

@dataclass(frozen=True)
class CopyResult:
    sha256: str
    """Lowercase hex SHA-256 of the bytes read from the source, which are the bytes written."""
    size: int


class SourceReadError(SourceUnusable):
    """Reading camera file {source} failed after {done} bytes: {reason}. Nothing on the camera was changed; check the cable, dock the camera again and the ingest resumes."""  # noqa: E501

    exit_code = ExitCode.INCOMPLETE

    def __init__(self, *, errno: int | None, **kwargs: Any) -> None:
        self.errno = errno
        super().__init__(errno=errno, **kwargs)


class StoreWriteError(StorageError):
    """Writing staging file {path} failed after {done} bytes: {reason}."""

    def __init__(self, *, errno: int | None, **kwargs: Any) -> None:
        self.errno = errno
        super().__init__(errno=errno, **kwargs)


class CopyCancelled(BodycamError):
    """Copy of {source} cancelled after {done} bytes: the station is stopping. Dock again to finish."""

    exit_code = ExitCode.INCOMPLETE


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        func = libc.sync_file_range
    except (OSError, AttributeError):  # not glibc/Linux: the final fsync does all the work
        return None
    func.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    func.restype = ctypes.c_int
    return func


_sync_file_range = _load_sync_file_range()


def _start_writeback(fd: int, offset: int, length: int, *, wait: bool) -> bool:
    """Ask the kernel to write a range to disk now; False when the file cannot do that.

    ``wait`` blocks until the range is on the device (not its cache: that is what ``fsync`` is for).
    """
    if _sync_file_range is None:
        return False
    flags = _SYNC_FILE_RANGE_WRITE
    if wait:
        flags |= _SYNC_FILE_RANGE_WAIT_BEFORE | _SYNC_FILE_RANGE_WAIT_AFTER
    while _sync_file_range(fd, offset, length, flags) != 0:
        err = ctypes.get_errno()
        if err == errno_codes.EINTR:
            continue
        if err in (errno_codes.ESPIPE, errno_codes.EINVAL, errno_codes.ENOSYS):
            return False  # a pipe or a filesystem without it: only a hint, fsync still follows
        raise OSError(err, os.strerror(err))
    return True


def _advise(fd: int, offset: int, length: int, advice: int) -> None:
    """Page-cache hints never change data, so a file that rejects them is copied the same way."""
    with contextlib.suppress(OSError):
        os.posix_fadvise(fd, offset, length, advice)


def _fd_name(fd: int) -> str:
    try:
        return str(Path(f"/proc/self/fd/{fd}").readlink())
    except OSError:
        return f"fd {fd}"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _aligned_buffers(count: int, size: int) -> list[memoryview]:
    """Page-aligned buffers (anonymous mmaps), as O_DIRECT needs; freed when the last view goes."""
    return [memoryview(mmap.mmap(-1, size)) for _ in range(count)]


@contextlib.contextmanager
def _threads(workers: int, name: str) -> Iterator[ThreadPoolExecutor]:
    """A pool that is always joined on the way out, queued work cancelled, whatever happened."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Writer:
    """Writes chunks in order, pushing each full window to disk early (see the module docstring)."""

    def __init__(self, fd: int, name: str | None, window: int, keep: bool = False) -> None:
        self.fd = fd
        self.keep = keep  # leave written pages cached (clean, on disk) for the caller's verify
        self.name = name
        self.window = window
        self.written = 0
        try:
            self.start = os.lseek(fd, 0, os.SEEK_CUR)
        except OSError:
            self.start = -1  # not seekable: no ranges to push
        self.pushing = self.start >= 0 and window > 0
        self.pushed_to = self.start
        self.in_flight: tuple[int, int] | None = None
        self.failed = False

    def _error(self, exc: OSError) -> StoreWriteError:
        return StoreWriteError(
            path=self.name or _fd_name(self.fd), done=self.written, reason=_reason(exc),
            errno=exc.errno,
        )

    def __call__(self, chunk: memoryview) -> None:
        if self.failed:  # chunks queued behind a failed write: the copy is lost anyway
            return
        try:
            self._write(chunk)
        except BaseException:
            self.failed = True
            raise

    def _write(self, chunk: memoryview) -> None:
        view = chunk
        while view:
            try:
                n = os.write(self.fd, view)
            except OSError as exc:
                raise self._error(exc) from exc
            if n <= 0:  # POSIX allows it for a full device; never loop on it
                raise self._error(OSError(errno_codes.ENOSPC, os.strerror(errno_codes.ENOSPC)))
            self.written += n
            view = view[n:]
        if self.pushing and self.start + self.written - self.pushed_to >= self.window:
            self._push(self.start + self.written)

    def _push(self, upto: int) -> None:
        try:
            length = upto - self.pushed_to
            self.pushing = _start_writeback(self.fd, self.pushed_to, length, wait=False)
            if self.in_flight is not None and self.pushing:
                off, ln = self.in_flight
                _start_writeback(self.fd, off, ln, wait=True)
                if not self.keep:
                    _advise(self.fd, off, ln, os.POSIX_FADV_DONTNEED)
            self.in_flight = (self.pushed_to, length)
            self.pushed_to = upto
        except OSError as exc:
            raise self._error(exc) from exc

    def finish(self) -> None:
        """Make the data durable, then drop it from the page cache (it is on disk now)."""
        try:
            os.fsync(self.fd)
        except OSError as exc:
            raise self._error(exc) from exc
        if self.start >= 0 and not self.keep:
            _advise(self.fd, self.start, self.written, os.POSIX_FADV_DONTNEED)


def forget(fd: int) -> None:
    """Drop a file's (clean) pages from the page cache: after ``keep_written`` and the verify."""
    _advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _check_chunk_size(chunk_size: int) -> None:
    if chunk_size <= 0 or chunk_size % mmap.PAGESIZE:
        raise ValueError(f"chunk_size must be a positive multiple of {mmap.PAGESIZE}")


def copy_and_hash(
    src_fd: int,
    dst_fd: int,
    *,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
    chunk_size: int = CHUNK_SIZE,
    ring_slots: int = RING_SLOTS,
    writeback_window: int = WRITEBACK_WINDOW,
    src_name: str | None = None,
    dst_name: str | None = None,
    keep_written: bool = False,
) -> CopyResult:
    """Copy src -> dst from the current offsets, hashing in the same pass, then fsync dst.

    ``progress(n)`` runs in the calling thread with the bytes both hashed and written so far: after
    the first read, then at most every 0.1 s, and once at the end with the size. ``cancel`` is
    checked between chunks. ``src_name``/``dst_name`` only label error messages (default: the fd's
    path). The written pages are dropped from the page cache once on disk, so a later
    ``hash_fd(drop_cache=False)`` of the staged copy reads the disk too, just through readahead;
    with ``keep_written`` they stay cached (clean, already on disk) so that the ingest's check of
    the stored copy costs CPU but no disk traffic; the caller then calls ``forget``.

    Raises SourceReadError (camera side), StoreWriteError (store side, including fsync) or
    CopyCancelled; the caller removes the staging file in every case. A regular source that
    changes size during the copy is a SourceReadError: the copy would match no stable file.
    """
    _check_chunk_size(chunk_size)
    if ring_slots < 2:
        raise ValueError("ring_slots must be at least 2")
    source = _Source(src_fd, src_name)
    digest = hashlib.sha256()
    writer = _Writer(dst_fd, dst_name, writeback_window, keep=keep_written)
    buffers = _aligned_buffers(ring_slots, chunk_size)
    # Chunks handed to the hash and write threads and not yet known to be done with, oldest first.
    # Each pool has one thread, so each consumer sees the chunks in order.
    in_flight: deque[tuple[int, Future[None], Future[None]]] = deque()
    read = done = 0
    last_report = -PROGRESS_INTERVAL_S

    def settle(at_most: int) -> None:
        nonlocal done
        while len(in_flight) > at_most:
            length, written, hashed = in_flight[0]
            written.result()  # re-raises StoreWriteError in this thread
            hashed.result()
            in_flight.popleft()
            done += length

    with _threads(1, "copy-hash") as hasher, _threads(1, "copy-write") as writes:
        for index in itertools.count():
            if cancel is not None and cancel.is_set():
                raise CopyCancelled(source=src_name or _fd_name(src_fd), done=done)
            settle(ring_slots - 1)  # the slot about to be filled is free again
            buf = buffers[index % ring_slots]
            try:
                n = os.readv(src_fd, [buf])
            except OSError as exc:
                raise source.error(_reason(exc), exc.errno, read) from exc
            if n == 0:
                break
            chunk = buf[:n]
            in_flight.append((n, writes.submit(writer, chunk), hasher.submit(digest.update, chunk)))
            read += n
            if progress is not None and time.monotonic() - last_report >= PROGRESS_INTERVAL_S:
                progress(done)
                last_report = time.monotonic()
        settle(0)
    writer.finish()
    source.check_unchanged(read)
    if progress is not None:
        progress(read)
    return CopyResult(sha256=digest.hexdigest(), size=read)


class _Source:
    """The camera file's size before the copy, so that a file still growing is refused after it."""

    def __init__(self, fd: int, name: str | None) -> None:
        self.fd = fd
        self.name = name
        self.size = _regular_size(fd)
        self.start = 0
        if self.size is not None:
            try:
                self.start = os.lseek(fd, 0, os.SEEK_CUR)
            except OSError:
                self.size = None
        _advise(fd, self.start, 0, os.POSIX_FADV_SEQUENTIAL)

    def error(self, reason: str, err: int | None, done: int) -> SourceReadError:
        return SourceReadError(source=self.name or _fd_name(self.fd), done=done, reason=reason,
                               errno=err)

    def check_unchanged(self, read: int) -> None:
        if self.size is None:  # not a regular file: nothing to compare with
            return
        after = _regular_size(self.fd)
        if after != self.size or read != self.size - self.start:
            raise self.error(f"the file changed size during the copy ({self.size} bytes before, "
                             f"{after} after, {self.start + read} read)", None, read)
        _advise(self.fd, self.start, read, os.POSIX_FADV_DONTNEED)


def _regular_size(fd: int) -> int | None:
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


@contextlib.contextmanager
def _uncached_reader(fd: int, drop_cache: bool) -> Iterator[int]:
    """A descriptor that reads the file from the medium: O_DIRECT, or the cache dropped first.

    O_DIRECT goes through a second open file description (via /proc) so that the caller's fd keeps
    its flags. ``posix_fadvise(DONTNEED)`` cannot drop dirty pages: call this after the fsync.
    """
    if not drop_cache:
        yield fd
        return
    direct = -1
    with contextlib.suppress(OSError):
        direct = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
    try:
        if direct >= 0:
            probe = mmap.mmap(-1, mmap.PAGESIZE)
            try:
                os.preadv(direct, [probe], 0)
            except OSError as exc:
                if exc.errno != errno_codes.EINVAL:
                    raise
                os.close(direct)  # O_DIRECT opens here but the filesystem rejects the reads
                direct = -1
            finally:
                probe.close()
        if direct < 0:
            _advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        yield direct if direct >= 0 else fd
    finally:
        if direct >= 0:
            os.close(direct)


def hash_fd(
    fd: int,
    *,
    drop_cache: bool = False,
    chunk_size: int | None = None,
    readers: int = HASH_READERS,
    ring_slots: int = HASH_RING_SLOTS,
) -> CopyResult:
    """Re-read a whole file from offset 0 (the fd's offset is left alone) and hash it.

    drop_cache=True reads from the medium, not the page cache: O_DIRECT with an aligned buffer where
    the filesystem supports it, else posix_fadvise(DONTNEED) before reading. Used to verify the
    stored copy and, before any camera wipe, the camera file. A read error propagates as the
    OSError itself: only the caller knows whether it was verifying the camera or the store.

    ``readers`` threads read chunks at their own offsets while the calling thread hashes in order:
    O_DIRECT has no readahead, and one request in flight at a time reads at about half the disk's
    speed.
    """
    if ring_slots < readers or readers < 1:
        raise ValueError("need 1 <= readers <= ring_slots")
    digest = hashlib.sha256()
    offset = 0
    with _uncached_reader(fd, drop_cache) as rfd:
        if chunk_size is None:
            chunk_size = HASH_CHUNK_SIZE if rfd == fd else HASH_DIRECT_CHUNK_SIZE
        _check_chunk_size(chunk_size)
        views = _aligned_buffers(ring_slots, chunk_size)
        _advise(rfd, 0, 0, os.POSIX_FADV_SEQUENTIAL)

        def read(index: int) -> int:
            return os.preadv(rfd, [views[index % ring_slots]], index * chunk_size)

        with _threads(readers, "hash-fd-read") as pool:
            pending = deque(pool.submit(read, index) for index in range(ring_slots))
            for index in itertools.count():
                n = pending.popleft().result()
                digest.update(views[index % ring_slots][:n])
                offset += n
                if n < chunk_size:
                    break
                pending.append(pool.submit(read, index + ring_slots))
        if offset < os.fstat(fd).st_size:  # a short read before the end: never hash a prefix
            raise OSError(errno_codes.EIO, f"short read at {offset} bytes before the end of file")
    return CopyResult(sha256=digest.hexdigest(), size=offset)
