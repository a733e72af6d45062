"""Re-hashing stored evidence in parallel: one thread per core, large reads into a reused buffer.

``hashlib`` releases the GIL while it hashes a large buffer, and ``readinto`` releases it while the
kernel copies, so threads scale on cores without the cost of processes.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

BUFFER = 4 * 1024 * 1024


@dataclass(frozen=True)
class FileHash:
    """A file's SHA-256 and size, or why it could not be read (``error``)."""

    path: Path
    sha256: str | None
    size: int | None
    error: str | None = None


def hash_file(path: Path, on_bytes: Callable[[int], None] | None = None) -> FileHash:
    digest = hashlib.sha256()
    buffer = bytearray(BUFFER)
    view = memoryview(buffer)
    size = 0
    try:
        with path.open("rb", buffering=0) as handle:
            while True:
                count = handle.readinto(buffer)
                if not count:
                    break
                digest.update(view[:count])
                size += count
                if on_bytes is not None:
                    on_bytes(count)
    except FileNotFoundError:
        return FileHash(path, None, None, "the stored file is missing")
    except OSError as exc:
        return FileHash(path, None, None, f"the stored file cannot be read ({exc.strerror or exc})")
    return FileHash(path, digest.hexdigest(), size)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def hash_files(paths: Sequence[Path], *, workers: int = 0,
               on_bytes: Callable[[int], None] | None = None) -> Iterator[FileHash]:
    """Hash every path, ``workers`` at a time (0: one per core); results in the order given."""
    lock = threading.Lock()

    def count(n: int) -> None:
        if on_bytes is not None:
            with lock:
                on_bytes(n)

    with ThreadPoolExecutor(max_workers=workers or default_workers(),
                            thread_name_prefix="fixity") as pool:
        yield from pool.map(lambda p: hash_file(p, count), paths)
