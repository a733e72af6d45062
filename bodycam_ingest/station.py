"""The station's services, assembled once from the config: the CLI and the daemon are two thin front
doors onto this. The edges (clock, actor, prober) are parameters so tests can pass their own."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from bodycam_ingest.catalog.db import Catalog, open_catalog
from bodycam_ingest.config import Config
from bodycam_ingest.ingest.store import STORE_DIR, STORE_FILE, EvidenceStore

if TYPE_CHECKING:  # imported where used: a read-only command (a plan) never ingests (issue 14)
    from bodycam_ingest.ingest.pipeline import Ingester
    from bodycam_ingest.ingest.postprocess import Prober
    from bodycam_ingest.ingest.recovery import RecoveryReport


def utc_now() -> datetime:
    return datetime.now(UTC)


def os_user() -> str:
    """The custody log's actor for a command run in-process (root or the service account):
    ``os:<name>`` from the kernel's uid and the password database, never from $LOGNAME/$USER."""
    from bodycam_ingest.access.identity import current_system_principal

    return current_system_principal().actor


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
        if not read_only:
            harden_state(config)
        storage.runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        catalog = open_catalog(storage.db_url, lock_dir=storage.runtime,
                               busy_timeout=storage.busy_timeout,
                               password_file=storage.database_password_file,
                               station_id=config.station.id)
        store = EvidenceStore(storage.store, storage.staging) if not read_only else \
            _ReadOnlyStore(storage.store, storage.staging)
        if prober is None:  # ffprobe as configured, with its timeout (never an unbounded wait)
            from bodycam_ingest.ingest.probe import probe_file

            prober = partial(probe_file, ffprobe=config.analysis.ffprobe,
                             timeout_s=config.analysis.ffprobe_timeout_s)
        station = cls(config=config, catalog=catalog, store=store, clock=clock,
                      actor=actor or os_user(), prober=prober, read_only=read_only)
        from bodycam_ingest.custody import stations

        try:  # another station under this id (another key) is refused here (issue 12)
            stations.check_and_register(station, write=not read_only)
        except BaseException:
            catalog.close()
            raise
        return station

    def ingester(self, cancel: threading.Event | None = None,
                 on_progress: Callable[[int, str, int], None] | None = None) -> Ingester:
        from bodycam_ingest.analysis import service as analysis
        from bodycam_ingest.custody import service as custody
        from bodycam_ingest.ingest.pipeline import Ingester

        hooks = [partial(analysis.after_dock, self), partial(custody.after_dock, self)]
        return Ingester(self.config, self.catalog, self.store, clock=self.clock, actor=self.actor,
                        prober=self.prober, cancel=cancel, on_progress=on_progress,
                        after_dock=hooks)

    def recover(self) -> RecoveryReport:
        """Finish or roll back interrupted ingests, then sign the manifests of the docks that
        recovery closed (without a key that is left to the next dock, which then refuses)."""
        from bodycam_ingest.custody import service as custody
        from bodycam_ingest.ingest.recovery import recover

        report = recover(self.config, self.catalog, self.store, clock=self.clock,
                         actor=self.actor, prober=self.prober)
        custody.sign_pending_manifests(self, required=False)
        return report

    def close(self) -> None:
        """Sign a checkpoint of the custody log if this session appended to it, then close.
        Never fails: an unsigned tail is reported by the audit."""
        from bodycam_ingest.custody import service as custody

        try:
            if not self.read_only and not self.catalog.busy.gave_up:  # never wait twice
                custody.after_command(self)
        finally:
            self.catalog.close()


# --- one privilege boundary: the service account owns the state, nobody else may read it -------
PRIVATE_DIR = 0o700  # state, store, staging, manifests, keys, runtime, backups
PRIVATE_FILE = 0o600  # catalog (+ WAL, SHM, journal), locks, every other state file


def _private_dirs(config: Config, *, created: bool) -> list[Path]:
    """The private directories; ``created=False`` adds those made only by their own command (keys:
    ``keys init``; backups: may be a mount point that must not silently become a folder)."""
    storage = config.storage
    made = [storage.state_dir, storage.store, storage.staging, storage.runtime,
            config.custody.manifest_path(storage.state_dir)]
    every = made if created else [*made, config.custody.key_path(storage.state_dir),
                                  config.jobs.backup_path(storage.state_dir)]
    public = config.access.socket.parent  # the API socket's folder: everyone must reach it
    return [path for path in every if path != public]


def _catalog_files(config: Config) -> list[Path]:
    url = config.storage.db_url
    if not url.startswith("sqlite:///"):
        return []
    db = Path(url.removeprefix("sqlite:///"))
    return [db, *(db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def _fix_mode(path: Path, mode: int, service: int) -> None:
    """``chmod`` ``path`` to exactly ``mode`` if the service account owns it (and we may)."""
    try:
        info = path.lstat()
    except OSError:  # absent, or a path through a file: its own command reports that
        return
    kind_ok = stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)  # never a socket, a link
    if kind_ok and info.st_uid == service and stat.S_IMODE(info.st_mode) != mode and \
            os.geteuid() in (0, service):
        try:
            os.chmod(path, mode)
        except OSError as exc:
            logging.getLogger("bodycam.station").warning(
                "%s has mode %04o, not %04o, and cannot be changed (%s); fix it: chmod %04o %s",
                path, stat.S_IMODE(info.st_mode), mode, exc.strerror, mode, path)


def harden_state(config: Config) -> None:
    """Create the state's private directories with exact modes (whatever the umask) and bring
    existing ones, the catalog's files and the runtime's locks to their modes when the service
    account (the state directory's owner) owns them. The private key is not touched: one found
    readable by others may have been read, so loading it refuses and says so (keys.load_private).
    The store's files become 0440 the first time a store that is not yet 0700 is opened (an
    upgrade); after that new files are born with their mode, so this stays a few ``stat`` calls."""
    state = config.storage.state_dir
    for directory in _private_dirs(config, created=True):
        if not directory.exists():
            with contextlib.suppress(OSError):  # the command that needs it reports the error
                directory.mkdir(mode=PRIVATE_DIR, parents=True)
                os.chmod(directory, PRIVATE_DIR)
    try:
        service = state.stat().st_uid
    except OSError:
        return
    store = config.storage.store
    with contextlib.suppress(OSError):
        if store.lstat().st_uid == service and stat.S_IMODE(store.stat().st_mode) != PRIVATE_DIR:
            _harden_store(store, service)
    for directory in _private_dirs(config, created=False):
        _fix_mode(directory, PRIVATE_DIR, service)
    for path in _catalog_files(config):
        _fix_mode(path, PRIVATE_FILE, service)
    locks = config.storage.runtime / "locks"  # never a walk of runtime: cameras mount there
    _fix_mode(locks, PRIVATE_DIR, service)
    for folder in (config.storage.runtime, locks):
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                if entry.is_file(follow_symlinks=False):
                    _fix_mode(Path(entry.path), PRIVATE_FILE, service)


def _harden_store(store: Path, service: int) -> None:
    """Every stored file 0440 and every folder under the store 0750 (once, on upgrade)."""
    for folder, dirs, files in os.walk(store):
        for name in dirs:
            _fix_mode(Path(folder) / name, STORE_DIR, service)
        for name in files:
            _fix_mode(Path(folder) / name, STORE_FILE, service)


class _ReadOnlyStore(EvidenceStore):
    """For read-only commands (list, show, status): never creates or checks writability."""

    def __init__(self, root: os.PathLike[str] | str, staging: os.PathLike[str] | str) -> None:
        self.root = Path(root)
        self.staging = Path(staging)
