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

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from types import TracebackType

from bodycam_ingest.custody import early
from bodycam_ingest.ingest.copier import HASH_CHUNK_SIZE

BUFFER = HASH_CHUNK_SIZE
SWITCH_INTERVAL_S = early.SWITCH_INTERVAL_S


@dataclass(frozen=True)
class FileHash:
    """A file's SHA-256 and size, or why it could not be read (``error``)."""

    path: Path | str
    sha256: str | None
    size: int | None
    error: str | None = None


# one GIL switch-interval counter for the early hashing and the pools (custody.early)
_switching = early.switching
_buffer = early.thread_buffer


def hash_file(path: Path | str, on_bytes: Callable[[int], None] | None = None) -> FileHash:
    result = early.hash_path(path, on_bytes)  # the one streaming routine (custody.early)
    return FileHash(path, result.sha256, result.size, result.error)


default_workers = early.default_workers


class HashPool:
    """Worker threads that hash files handed to them one by one, started on ``__enter__``.

    ``submit(path)`` returns a future ``FileHash`` at once; leaving the ``with`` block waits for
    the files already submitted (or cancels them when an exception is leaving it).
    """

    def __init__(self, workers: int = 0, on_bytes: Callable[[int], None] | None = None) -> None:
        self.workers = workers or default_workers()
        self._on_bytes = on_bytes
        self._lock = Lock()
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
