"""Hashing the store from the first millisecond of an audit (issue 14), before the catalog is read.

The store is content-addressed (``<store>/sha256/ab/cd/<digest>``): the files to hash are known by
listing it, without the catalog. ``start(root)`` lists the store in a thread and hands each file to
hash worker threads at once; the audit (``custody.audit``) reads the catalog meanwhile, and then
takes each catalog recording's hash from here (``EarlyHashes.wait``) instead of hashing it again.

What the audit checks does not change: a hash is only used for a file that is, when the audit
takes the hash, the very file that was hashed (same device, inode, size, modification and change
time as when it was opened: ``Hashed.stamp``); a file changed, replaced or removed since then is
hashed again by the audit (and a removed one is reported missing, as before). A catalog file the
listing did not find (evicted, lost, stored elsewhere) is hashed at the audit's request
(``require``). A listed file that no catalog row names costs its hashing, nothing else.

Standard library only, and cheap to import: the CLI starts it before importing the station (the
ORM, the config models, the API), so both cores hash while the interpreter loads the rest.
``hash_path`` is the one streaming SHA-256 routine of the audit; ``custody.fixity`` uses it too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import NamedTuple

BUFFER = 1024 * 1024
"""1 MiB reads: ``ingest.copier.HASH_CHUNK_SIZE`` (not imported: it pulls in ctypes; a test checks
that they agree). Through the page cache 1 MiB reads are hash-bound (bench/README.md)."""
SWITCH_INTERVAL_S = 0.0005
"""While hash workers run, the interpreter hands the GIL over every 0.5 ms instead of 5 ms: a worker
back from a 1 MiB ``update`` (0.7 ms without the GIL) must not wait 5 ms for a thread that runs
Python meanwhile (importing modules, verifying signatures)."""

Stamp = tuple[int, int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns


class Hashed(NamedTuple):
    """A file's SHA-256 and size, or why it could not be read (``error``); ``stamp``: the file as
    it was opened (None when it could not be)."""

    sha256: str | None
    size: int | None
    error: str | None
    stamp: Stamp | None


def stamp_of(result: os.stat_result) -> Stamp:
    return (result.st_dev, result.st_ino, result.st_size, result.st_mtime_ns, result.st_ctime_ns)


class _FastSwitching:
    """Lower the GIL switch interval while at least one group of hash workers runs; the last one
    out restores it (two at once, e.g. a retention run and a scrub, must not leave it lowered)."""

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


switching = _FastSwitching()
_local = threading.local()


def thread_buffer() -> bytearray:
    """One buffer per thread, reused for every file it hashes (no 1 MiB allocation per file)."""
    buffer: bytearray | None = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = bytearray(BUFFER)
    return buffer


def hash_path(path: str | os.PathLike[str], on_bytes: Callable[[int], None] | None = None
              ) -> Hashed:
    """Stream ``path`` through SHA-256 in this thread's buffer; its stamp is taken on open."""
    digest = hashlib.sha256()
    buffer = thread_buffer()
    view = memoryview(buffer)
    size = 0
    try:
        with open(path, "rb", buffering=0) as handle:
            stamp = stamp_of(os.fstat(handle.fileno()))
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
        return Hashed(None, None, "the stored file is missing", None)
    except OSError as exc:
        return Hashed(None, None, f"the stored file cannot be read ({exc.strerror or exc})", None)
    finally:
        view.release()
    return Hashed(digest.hexdigest(), size, None, stamp)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


BATCH_FILES = 256
BATCH_BYTES = 32 * 1024 * 1024
"""A worker takes listed files in batches of at most this many files and bytes (always one): a
large file goes alone (both cores hash), a batch of small ones costs one hand-over, not hundreds
(``custody.audit``'s batches)."""

Listed = list[tuple[str, int]]  # (path, size) of the files of one folder


def list_store(root: str) -> Iterable[Listed]:
    """Every file of the content-addressed layout under ``root`` (``sha256/ab/cd/<digest>``),
    folder by folder, with its size (``scandir`` gives it with the name)."""
    top = os.path.join(root, "sha256")
    try:
        firsts = [e.path for e in os.scandir(top) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for first in firsts:
        try:
            seconds = [e.path for e in os.scandir(first) if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for second in seconds:
            try:
                files = [(e.path, e.stat(follow_symlinks=False).st_size)
                         for e in os.scandir(second) if e.is_file(follow_symlinks=False)]
            except OSError:
                continue
            if files:
                yield files


class EarlyHashes:
    """A store listed and hashed by ``workers`` threads, started on construction.

    ``wait(path)`` blocks until ``path`` is hashed and returns its result, or None when the
    listing did not find it (after ``require`` it has been hashed too). ``close()`` stops the
    workers (files not yet hashed are dropped); the threads are daemons either way.
    """

    def __init__(self, root: str | os.PathLike[str], workers: int = 0,
                 lister: Callable[[str], Iterable[Listed]] = list_store) -> None:
        self.root = os.fspath(root)
        self.workers = workers or default_workers()
        self._lister = lister
        lock = threading.Lock()
        self._ready = threading.Condition(lock)  # workers wait here for files
        self._done = threading.Condition(lock)  # the audit waits here for results
        self._results: dict[str, Hashed] = {}
        self._queued: set[str] = set()
        self._todo: Listed = []  # the queue: appended by the lister, taken from ``_next`` on
        self._next = 0
        self._listed = False
        self._required: Listed = []  # asked for before the listing ended (``require``)
        self._closed = False
        self._waiting = 0  # audit threads in ``wait``
        self._counted = 0
        self._on_bytes: Callable[[int], None] | None = None
        switching.enter()
        self._threads = [threading.Thread(target=self._list, name="early-list", daemon=True)]
        self._threads += [threading.Thread(target=self._work, name=f"early-hash-{n}", daemon=True)
                          for n in range(self.workers)]
        for thread in self._threads:
            thread.start()

    # --- the threads ---
    def _list(self) -> None:
        try:
            for files in self._lister(self.root):
                with self._ready:
                    if self._closed:
                        return
                    self._add(files)
        finally:
            with self._ready:
                self._listed = True
                self._add(self._required)  # what the audit asked for and the listing missed
                self._required = []
                self._done.notify_all()

    def _add(self, files: Listed) -> None:
        """Queue ``files`` (the lock held)."""
        new = [(path, size) for path, size in files if path not in self._queued]
        if new:
            self._queued.update(path for path, _size in new)
            self._todo.extend(new)
            self._ready.notify(len(new))

    def _take(self) -> list[str] | None:
        with self._ready:
            while not self._closed and self._next >= len(self._todo):
                self._ready.wait()  # until files, ``require`` or ``close``: the audit closes it
            if self._closed:
                return None
            batch: list[str] = []
            total = 0
            while (self._next < len(self._todo) and len(batch) < BATCH_FILES
                   and (not batch or total + self._todo[self._next][1] <= BATCH_BYTES)):
                path, size = self._todo[self._next]
                self._todo[self._next] = ("", 0)  # keep no second copy of the path
                self._next += 1
                batch.append(path)
                total += size
            return batch

    def _count(self, n: int) -> None:
        with self._ready:
            self._counted += n
            on_bytes = self._on_bytes
        if on_bytes is not None:
            on_bytes(n)

    def _work(self) -> None:
        while (batch := self._take()) is not None:
            results = [(path, hash_path(path, self._count)) for path in batch]
            with self._done:
                self._results.update(results)
                if self._waiting:
                    self._done.notify_all()

    # --- the audit's side ---
    def attach(self, on_bytes: Callable[[int], None] | None) -> None:
        """Report hashed bytes to ``on_bytes`` from now on (with what was hashed so far)."""
        if on_bytes is None:
            return
        with self._ready:
            self._on_bytes, counted = on_bytes, self._counted
        if counted:
            on_bytes(counted)

    def require(self, paths: Iterable[str]) -> None:
        """Hash every path of ``paths`` the listing did not find: now if the listing is done,
        else as soon as it is (the caller does not wait for it)."""
        wanted = [(path, BATCH_BYTES) for path in paths]  # size unknown: one per batch
        with self._done:
            if self._listed:
                self._add(wanted)
            else:
                self._required.extend(wanted)

    def wait(self, path: str) -> Hashed | None:
        """``path``'s result once hashed; None if it was never queued (listing or ``require``)."""
        with self._done:
            result = self._results.get(path)
            if result is not None:
                return result
            self._waiting += 1
            try:
                while (result := self._results.get(path)) is None:
                    if self._closed or (self._listed and path not in self._queued):
                        # (``require`` queues its paths the moment the listing ends)
                        return None
                    self._done.wait()
                return result
            finally:
                self._waiting -= 1

    def close(self) -> None:
        with self._done:
            if self._closed:
                return
            self._closed = True
            self._done.notify_all()
            self._ready.notify_all()
        switching.leave()

    def __enter__(self) -> EarlyHashes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the hand-over: the CLI starts, the audit takes ------------------------------------------
_started: list[EarlyHashes] = []
_started_lock = threading.Lock()


def start(root: str | os.PathLike[str], workers: int = 0,
          lister: Callable[[str], Iterable[Listed]] = list_store) -> EarlyHashes:
    """Start hashing the store at ``root`` now, for the next audit of it (``take``)."""
    early = EarlyHashes(root, workers, lister)
    with _started_lock:
        _started.append(early)
    return early


def ensure(root: str | os.PathLike[str], workers: int = 0) -> None:
    """``start`` unless the store at ``root`` is already being hashed for an audit."""
    wanted = os.path.realpath(root)
    with _started_lock:
        if any(os.path.realpath(e.root) == wanted and not e._closed for e in _started):
            return
    start(root, workers)


def take(root: str | os.PathLike[str], workers: int = 0) -> EarlyHashes:
    """The hashing ``start`` began for the store at ``root`` (any other is stopped), or a new one
    started now."""
    wanted = os.path.realpath(root)
    with _started_lock:
        pending, _started[:] = list(_started), []
    found: EarlyHashes | None = None
    for early in pending:
        if found is None and os.path.realpath(early.root) == wanted and not early._closed:
            found = early
        else:
            early.close()
    return found if found is not None else EarlyHashes(root, workers)


def stop_all() -> None:
    """Stop whatever ``start`` began that no audit took (the command failed before its audit)."""
    with _started_lock:
        pending, _started[:] = list(_started), []
    for early in pending:
        early.close()
