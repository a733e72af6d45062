"""Opening the catalog: engine, durability settings, migrations. The database edge.

SQLite (the default) runs in WAL mode with ``synchronous=FULL``: a committed row survives power loss,
which the ingest journal relies on. PostgreSQL works through the same URL setting.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

from bodycam_ingest.catalog import scope
from bodycam_ingest.catalog.scope import info_for
from bodycam_ingest.errors import BodycamError, CatalogBusy, CatalogError, StorageFault

MIGRATIONS = Path(__file__).with_name("migrations")
log = logging.getLogger("bodycam.catalog")

BUSY_SLICE_MS = 5000  # SQLite's own wait per attempt; between attempts the wait is logged
DEFAULT_BUSY_TIMEOUT = 60.0  # seconds (storage.busy_timeout)


def _sqlite_pragmas(busy_ms: int) -> Any:
    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        _set_pragmas(dbapi_connection, busy_ms)
    return pragmas


def _set_pragmas(dbapi_connection: Any, busy_ms: int) -> None:
    # Take transaction control away from pysqlite, which would auto-commit DDL (a kill during a
    # migration could then leave tables without the version stamp); _sqlite_begin opens them.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.close()


def _is_busy(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.OperationalError) and \
        getattr(orig, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


@dataclass
class BusyState:
    """Whether the last transaction of this catalog waited its whole ``busy_timeout`` in vain:
    then the command's closing work (a checkpoint) does not wait a second time."""

    gave_up: bool = False


def _sqlite_begin_bounded(url: str, limit: float, busy: BusyState) -> Any:
    def begin(connection: Any) -> None:
        """Writers take the write lock up front (BEGIN IMMEDIATE), so two docks committing at once
        wait for each other instead of failing with SQLITE_BUSY on a lock upgrade. The wait is
        bounded (``storage.busy_timeout``) and logged every ``BUSY_SLICE_MS``; at its end the
        command stops with ``CatalogBusy`` (exit 5), never a traceback (issue 9, D9)."""
        readonly = connection.get_execution_options().get("readonly", False)
        statement = "BEGIN" if readonly else "BEGIN IMMEDIATE"
        started = time.monotonic()
        while True:
            try:
                connection.exec_driver_sql(statement)
                busy.gave_up = False
                return
            except SQLAlchemyError as exc:
                waited = time.monotonic() - started
                if not _is_busy(exc):
                    raise
                if waited >= limit:
                    log.error("catalog %s: still busy after %.0f s (storage.busy_timeout = %g s); "
                              "giving up", _redact(url), waited, limit)
                    busy.gave_up = True
                    raise CatalogBusy(url=_redact(url), limit=limit) from None
                log.warning("catalog %s is busy: another process holds its write lock; waited "
                            "%.0f s of at most %g s (storage.busy_timeout)", _redact(url), waited,
                            limit)
    return begin


def _alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@dataclass
class Catalog:
    engine: Engine
    sessions: sessionmaker[Session]
    readers: sessionmaker[Session]
    url: str
    busy: BusyState = field(default_factory=BusyState)
    # the station whose rows the sessions see and write (``catalog.scope``); None: the caller
    # must ask for the whole bureau (``bureau=True``) or its first statement is refused
    station_id: str | None = None

    @contextmanager
    def session(self, *, bureau: bool = False) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any exception. Scoped to the
        catalog's station, or with ``bureau`` to every station (the bureau-wide audit)."""
        with self.sessions(info=info_for(self.station_id, bureau=bureau)) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def reading(self, *, bureau: bool = False) -> Iterator[Session]:
        """A read-only unit of work (no write lock taken; for listings and reports)."""
        # closing ends the transaction; rows stay readable
        with self.readers(info=info_for(self.station_id, bureau=bureau)) as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


def open_catalog(url: str, *, lock_dir: Path | None = None, migrate: bool = True,
                 busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
                 station_id: str | None = None) -> Catalog:
    """Open (and, by default, migrate) the catalog at ``url`` for station ``station_id`` (its
    sessions see only that station's rows; migration 0009 gives existing rows to it).

    Migration is serialised with an advisory file lock in ``lock_dir`` so that the daemon and a CLI
    command starting together never race on the schema.
    """
    if url.startswith("sqlite:///"):
        _create_private(Path(url.removeprefix("sqlite:///")))
    try:
        engine = create_engine(url, future=True, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise CatalogError(url=_redact(url), reason=f"cannot be opened ({exc}); "
                           "check storage.database_url") from None
    busy = BusyState()
    if engine.dialect.name == "sqlite":
        # at least two attempts, so that every wait is logged before the command gives up
        slice_ms = max(1, min(BUSY_SLICE_MS, int(busy_timeout * 1000) // 2))
        event.listen(engine, "connect", _sqlite_pragmas(slice_ms))
        event.listen(engine, "begin", _sqlite_begin_bounded(url, busy_timeout, busy))
    catalog = Catalog(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False),
                      readers=sessionmaker(engine.execution_options(readonly=True),
                                           expire_on_commit=False), url=url, busy=busy,
                      station_id=station_id)
    scope.install(catalog.sessions)
    scope.install(catalog.readers)
    if migrate and _stored_revision(catalog) != schema_head():
        with _migration_lock(lock_dir):
            upgrade(catalog)
    return catalog


PRIVATE_FILE = 0o600  # the catalog; SQLite gives its -wal and -shm files the database's mode


def _create_private(path: Path) -> None:
    """Create the SQLite file with mode 0600 before SQLite does (it would use 0644 & ~umask):
    only the service account may read the catalog, and the WAL and SHM files SQLite makes next
    to it take the database's mode. An existing file is left to ``Station.open`` to fix."""
    if path.exists() or str(path) == ":memory:":
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


@cache
def schema_head() -> str:
    """The newest migration's revision, read from the files without importing Alembic (which
    costs every command a tenth of a second); tests check it against Alembic's own answer."""
    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision = re.search(r'^revision = "([^"]+)"', source, re.M)
        down = re.search(r'^down_revision = (?:"([^"]+)"|None)', source, re.M)
        if revision and down:
            revisions[revision.group(1)] = down.group(1)
    heads = set(revisions) - {down for down in revisions.values() if down}
    if len(heads) != 1:
        raise CatalogError(url="(migrations)", reason=f"expected one head revision, got {heads}")
    return heads.pop()


def _stored_revision(catalog: Catalog) -> str | None:
    """The catalog's schema revision, or None when it has none yet (new or unreadable)."""
    try:
        with catalog.engine.execution_options(readonly=True).connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        fault = translate_fault(exc, catalog.url)  # a full, read-only or busy disk says so
        if fault is not None:                      # (not "migration failed")
            raise fault from None
        return None


def upgrade(catalog: Catalog) -> None:
    from alembic import command

    cfg = _alembic_config()
    cfg.attributes["station_id"] = catalog.station_id  # migration 0009 gives old rows to it
    try:
        with catalog.engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:  # batch mode rebuilds tables others refer to: checked once at the end
                _foreign_keys(connection, on=False)
            try:
                with connection.begin():
                    cfg.attributes["connection"] = connection
                    command.upgrade(cfg, "head")
                    if sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise CatalogError(url=_redact(catalog.url), reason="migration "
                                               f"failed: foreign keys broken: {broken[:3]}")
            finally:
                if sqlite:
                    _foreign_keys(connection, on=True)
    except SQLAlchemyError as exc:
        fault = translate_fault(exc, catalog.url)
        if fault is not None:
            raise fault from None
        raise CatalogError(url=_redact(catalog.url), reason=f"migration failed: {exc}") from None
    except RuntimeError as exc:  # a migration's own refusal (0009: rows but no station.id)
        if type(exc).__name__ != "MissingStationId":
            raise
        raise CatalogError(url=_redact(catalog.url), reason=f"cannot be migrated: {exc}") from None


def _foreign_keys(connection: Any, *, on: bool) -> None:
    """SQLite's foreign-key enforcement, switched outside any transaction (it is a no-op inside)."""
    driver = connection.connection.driver_connection
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def current_revision(catalog: Catalog) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with catalog.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


@contextmanager
def _migration_lock(lock_dir: Path | None) -> Iterator[None]:
    if lock_dir is None:
        yield
        return
    lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(lock_dir / "migrate.lock", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                 PRIVATE_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _redact(url: str) -> str:
    """Hide a password in a database URL before it goes into a message."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


# --- faults of the disk under the catalog or the store, as documented exits ---------------------
_FIXES = {
    "full": "Free space on that filesystem (or move storage.state_dir to a larger one).",
    "read-only": "Make it writable for the service account: remount the filesystem read-write, "
                 "or clear the immutable flag (lsattr; chattr -i).",
    "denied": "Run the command as the station's service account (the owner of "
              "storage.state_dir: sudo -u bodycam bodycam ...), and make sure that account owns "
              "every file under it (a file made by root is not: chown -R bodycam: STATE_DIR).",
    "cantopen": "Check that the catalog's folder exists and that the service account may write it "
                "(not a read-only mount, no immutable flag: lsattr; chattr -i).",
    "io": "The medium reported an I/O error: check it (dmesg, smartctl) before anything else.",
}


def _nearly_full(url: str) -> bool:
    if not url.startswith("sqlite:///"):
        return False
    try:
        info = os.statvfs(Path(url.removeprefix("sqlite:///")).parent)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < 1024 * 1024


def translate_fault(exc: BaseException, url: str | None = None) -> BodycamError | None:
    """A documented error for a fault of the disk or of the catalog file that reached the front
    door as an ``OSError`` or a database error (ENOSPC, EROFS, EACCES, an immutable or read-only
    catalog, SQLITE_BUSY), or None when ``exc`` is something else (a bug: traceback, exit 70)."""
    if isinstance(exc, OSError):
        kind = {errno.ENOSPC: "full", errno.EDQUOT: "full", errno.EROFS: "read-only",
                errno.EACCES: "denied", errno.EPERM: "denied", errno.EIO: "io"}.get(exc.errno or 0)
        if kind is None:
            return None
        what = f"Station file {exc.filename}" if exc.filename is not None else "Station state"
        return StorageFault(what=what, reason=exc.strerror or str(exc), fix=_FIXES[kind])
    orig = getattr(exc, "orig", exc) if isinstance(exc, SQLAlchemyError) else exc
    if not isinstance(orig, sqlite3.Error):
        return None
    if _is_busy(orig):
        return CatalogBusy(url=_redact(url) if url else "", limit=BUSY_SLICE_MS / 1000)
    code = getattr(orig, "sqlite_errorcode", 0) & 0xFF
    kind = {sqlite3.SQLITE_FULL: "full", sqlite3.SQLITE_READONLY: "read-only",
            sqlite3.SQLITE_CANTOPEN: "cantopen", sqlite3.SQLITE_PERM: "denied",
            sqlite3.SQLITE_AUTH: "denied", sqlite3.SQLITE_IOERR: "io"}.get(code)
    if kind is None:
        return None
    if kind == "io" and url and _nearly_full(url):  # SQLite says "disk I/O error" when the
        kind = "full"                               # -shm or -wal cannot grow on a full disk
    what = f"The catalog {_redact(url)}" if url else "The catalog"
    return StorageFault(what=what, reason=str(orig), fix=_FIXES[kind])
