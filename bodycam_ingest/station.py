"""The station's services, assembled once from the config: the CLI and the daemon are two thin front
doors onto this. The edges (clock, actor, prober) are parameters so tests can pass their own."""

from __future__ import annotations

import getpass
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from bodycam_ingest.catalog.db import Catalog, open_catalog
from bodycam_ingest.config import Config
from bodycam_ingest.ingest.pipeline import Ingester
from bodycam_ingest.ingest.postprocess import Prober
from bodycam_ingest.ingest.probe import probe_file
from bodycam_ingest.ingest.recovery import RecoveryReport, recover
from bodycam_ingest.ingest.store import EvidenceStore


def utc_now() -> datetime:
    return datetime.now(UTC)


def os_user() -> str:
    """The acting OS user (custody records name a person or a service account, never 'unknown')."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


@dataclass
class Station:
    config: Config
    catalog: Catalog
    store: EvidenceStore
    clock: Callable[[], datetime]
    actor: str
    prober: Prober
    read_only: bool = False

    @classmethod
    def open(cls, config: Config, *, actor: str | None = None,
             clock: Callable[[], datetime] = utc_now, prober: Prober | None = None,
             read_only: bool = False) -> Station:
        storage = config.storage
        storage.runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        catalog = open_catalog(storage.db_url, lock_dir=storage.runtime)
        _private_sqlite(storage.db_url)
        store = EvidenceStore(storage.store, storage.staging) if not read_only else \
            _ReadOnlyStore(storage.store, storage.staging)
        if prober is None:  # ffprobe as configured, with its timeout (never an unbounded wait)
            prober = partial(probe_file, ffprobe=config.analysis.ffprobe,
                             timeout_s=config.analysis.ffprobe_timeout_s)
        return cls(config=config, catalog=catalog, store=store, clock=clock,
                   actor=actor or os_user(), prober=prober, read_only=read_only)

    def ingester(self, cancel: threading.Event | None = None,
                 on_progress: Callable[[int, str, int], None] | None = None) -> Ingester:
        from bodycam_ingest.analysis import service as analysis
        from bodycam_ingest.custody import service as custody

        hooks = [partial(analysis.after_dock, self), partial(custody.after_dock, self)]
        return Ingester(self.config, self.catalog, self.store, clock=self.clock, actor=self.actor,
                        prober=self.prober, cancel=cancel, on_progress=on_progress,
                        after_dock=hooks)

    def recover(self) -> RecoveryReport:
        """Finish or roll back interrupted ingests, then sign the manifests of the docks that
        recovery closed (without a key that is left to the next dock, which then refuses)."""
        from bodycam_ingest.custody import service as custody

        report = recover(self.config, self.catalog, self.store, clock=self.clock,
                         actor=self.actor, prober=self.prober)
        custody.sign_pending_manifests(self, required=False)
        return report

    def close(self) -> None:
        """Sign a checkpoint of the custody log if this session appended to it, then close.
        Never fails: an unsigned tail is reported by the audit."""
        from bodycam_ingest.custody import service as custody

        try:
            if not self.read_only:
                custody.after_command(self)
        finally:
            self.catalog.close()


def _private_sqlite(url: str) -> None:
    """A SQLite catalog (and its -wal/-shm, which SQLite creates with the same mode) is the
    service user's alone (0600; `bodycam doctor` checks it), whatever the umask was."""
    if not url.startswith("sqlite:///"):
        return
    path = url.removeprefix("sqlite:///")
    try:
        info = os.stat(path)
        if info.st_uid == os.geteuid() and info.st_mode & 0o077:
            os.chmod(path, 0o600)
    except OSError:
        pass  # not ours, or gone: doctor reports it


class _ReadOnlyStore(EvidenceStore):
    """For read-only commands (list, show, status): never creates or checks writability."""

    def __init__(self, root: os.PathLike[str] | str, staging: os.PathLike[str] | str) -> None:
        from pathlib import Path

        self.root = Path(root)
        self.staging = Path(staging)
