"""Re-hashing stored evidence in parallel: one thread per core, streaming reads into a reused buffer.

``hashlib`` releases the GIL while it hashes a large buffer, and ``readinto`` releases it while the
kernel copies, so threads scale on cores without the cost of processes.

Buffer size: the copier's measurement (bench/README.md, "hash_fd through the cache"): 1 MiB reads
through the page cache are hash-bound, larger ones lose to CPU-cache misses; the kernel's readahead
(asked for with ``POSIX_FADV_SEQUENTIAL``) keeps a cold file streaming at that size.

``HashPool`` starts its workers before the caller knows what to hash, so an audit can hand each
file over as it reads the catalog row naming it (``submit``; small files in batches,
``submit_batch``) and do its other checks while the workers hash; ``hash_files`` is the simple
ordered form.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bodycam_ingest.ingest.copier import HASH_CHUNK_SIZE

BUFFER = HASH_CHUNK_SIZE
SWITCH_INTERVAL_S = 0.0005
"""While a pool hashes, the interpreter hands the GIL over every 0.5 ms instead of 5 ms: a worker
back from a 1 MiB ``update`` (0.7 ms without the GIL) must not wait 5 ms for a thread that is
verifying signatures in Python meanwhile."""


@dataclass(frozen=True)
class FileHash:
    """A file's SHA-256 and size, or why it could not be read (``error``)."""

    path: Path | str
    sha256: str | None
    size: int | None
    error: str | None = None


_local = threading.local()


class _FastSwitching:
    """Lower the GIL switch interval while at least one pool runs; the last one out restores it
    (two pools at once, e.g. a retention run and a scrub, must not leave it lowered)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved = 0.0

    def enter(self) -> None:
        with self._lock:
            if self._users == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, SWITCH_INTERVAL_S))
            self._users += 1

    def leave(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                sys.setswitchinterval(self._saved)


_switching = _FastSwitching()


def _buffer() -> bytearray:
    """One buffer per thread, reused for every file it hashes (no 1 MiB allocation per file)."""
    buffer: bytearray | None = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = bytearray(BUFFER)
    return buffer


def hash_file(path: Path | str, on_bytes: Callable[[int], None] | None = None) -> FileHash:
    digest = hashlib.sha256()
    buffer = _buffer()
    view = memoryview(buffer)
    size = 0
    try:
        with open(path, "rb", buffering=0) as handle:
            with contextlib.suppress(AttributeError, OSError):  # not every platform/filesystem
                os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            readinto, update = handle.readinto, digest.update
            while True:
                count = readinto(buffer)
                if not count:
                    break
                update(view[:count])
                size += count
                if on_bytes is not None:
                    on_bytes(count)
    except FileNotFoundError:
        return FileHash(path, None, None, "the stored file is missing")
    except OSError as exc:
        return FileHash(path, None, None, f"the stored file cannot be read ({exc.strerror or exc})")
    finally:
        view.release()
    return FileHash(path, digest.hexdigest(), size)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class HashPool:
    """Worker threads that hash files handed to them one by one, started on ``__enter__``.

    ``submit(path)`` returns a future ``FileHash`` at once; leaving the ``with`` block waits for
    the files already submitted (or cancels them when an exception is leaving it).
    """

    def __init__(self, workers: int = 0, on_bytes: Callable[[int], None] | None = None) -> None:
        self.workers = workers or default_workers()
        self._on_bytes = on_bytes
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="fixity")

    def _count(self, n: int) -> None:
        if self._on_bytes is not None:
            with self._lock:
                self._on_bytes(n)

    def _hash(self, path: Path | str) -> FileHash:
        return hash_file(path, self._count if self._on_bytes is not None else None)

    def _hash_all(self, paths: Sequence[Path | str]) -> list[FileHash]:
        count = self._count if self._on_bytes is not None else None
        return [hash_file(path, count) for path in paths]

    def submit(self, path: Path | str) -> Future[FileHash]:
        return self._pool.submit(self._hash, path)

    def submit_batch(self, paths: Sequence[Path | str]) -> Future[list[FileHash]]:
        """Several (small) files as one task, hashed in order: one future for them all, where a
        future per 16 KiB file costs more than hashing it."""
        return self._pool.submit(self._hash_all, paths)

    def __enter__(self) -> HashPool:
        _switching.enter()
        # start every worker now, not on the first submit: the first file is hashed as soon as
        # its catalog row is read
        for future in [self._pool.submit(_buffer) for _ in range(self.workers)]:
            future.result()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self._pool.shutdown(wait=True, cancel_futures=exc is not None)
        finally:
            _switching.leave()


def hash_files(paths: Sequence[Path], *, workers: int = 0,
               on_bytes: Callable[[int], None] | None = None) -> Iterator[FileHash]:
    """Hash every path, ``workers`` at a time (0: one per core); results in the order given."""
    with HashPool(workers, on_bytes) as pool:
        futures = [pool.submit(path) for path in paths]
        for future in futures:
            yield future.result()
