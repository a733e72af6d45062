"""Opening the catalog: engine, durability settings, migrations. The database edge.

SQLite (the default) runs in WAL mode with ``synchronous=FULL``: a committed row survives power loss,
which the ingest journal relies on. PostgreSQL (``postgresql+psycopg://``, the shared catalog of a
bureau) works through the same URL setting: a writer's wait for a lock is bounded by
``lock_timeout`` = ``storage.busy_timeout`` and ends in the same ``CatalogBusy`` (exit 5) as
SQLite's; migrations are serialised across stations by an advisory lock held in the migration's own
transaction; the server's faults (unreachable, full, read-only, permission denied) become the same
documented errors as the disk's under SQLite.
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
from bodycam_ingest.errors import (
    BodycamError,
    CatalogBusy,
    CatalogError,
    CatalogUnreachable,
    CatalogValueTooLong,
    StorageFault,
)

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
    password_file: Path | None = None  # PostgreSQL: where the password came from (pg_dump needs it)
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
                 password_file: Path | None = None, station_id: str | None = None) -> Catalog:
    """Open (and, by default, migrate) the catalog at ``url`` for station ``station_id`` (its
    sessions see only that station's rows; migration 0009 gives existing rows to it).

    Migration is serialised so that the daemon and a CLI command starting together (SQLite: an
    advisory file lock in ``lock_dir``), or several stations sharing a PostgreSQL catalog (an
    advisory lock on the server), never race on the schema. ``password_file`` (PostgreSQL only)
    holds the role's password; without it libpq's own ``~/.pgpass``/``PGPASSFILE`` is used.
    """
    if url.startswith("sqlite:///"):
        _create_private(Path(url.removeprefix("sqlite:///")))
    try:
        engine = create_engine(url, future=True, pool_pre_ping=True,
                               connect_args=_connect_args(url, busy_timeout, password_file))
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise CatalogError(url=_redact(url), reason=f"cannot be opened ({exc}); "
                           "check storage.database_url") from None
    busy = BusyState()
    if engine.dialect.name == "sqlite":
        # at least two attempts, so that every wait is logged before the command gives up
        slice_ms = max(1, min(BUSY_SLICE_MS, int(busy_timeout * 1000) // 2))
        event.listen(engine, "connect", _sqlite_pragmas(slice_ms))
        event.listen(engine, "begin", _sqlite_begin_bounded(url, busy_timeout, busy))
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "handle_error", _pg_busy_handler(url, busy_timeout, busy))
        event.listen(engine, "begin", _pg_begin_serialized)
    catalog = Catalog(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False),
                      readers=sessionmaker(engine.execution_options(readonly=True),
                                           expire_on_commit=False), url=url, busy=busy,
                      password_file=password_file, station_id=station_id)
    for maker in (catalog.sessions, catalog.readers):
        event.listen(maker, "before_flush", _lengths_checked(url))
        scope.install(maker)
    if migrate and _stored_revision(catalog) != schema_head():
        with _migration_lock(None if engine.dialect.name == "postgresql" else lock_dir):
            upgrade(catalog)
    return catalog


# --- string lengths: PostgreSQL enforces String(n), SQLite ignores it ----------------------------
@cache
def _limited_columns(mapper: Any) -> tuple[tuple[str, str, int], ...]:
    """(attribute, "table.column", length) of a mapped class's String(n) columns."""
    from sqlalchemy import String

    found = []
    for attr in mapper.column_attrs:
        for column in attr.columns:
            length = getattr(column.type, "length", None)
            if isinstance(column.type, String) and length and column.table is not None:
                found.append((attr.key, f"{column.table.name}.{column.name}", int(length)))
    return tuple(found)


def _lengths_checked(url: str) -> Any:
    def before_flush(session: Session, _context: Any, _instances: Any) -> None:
        """Refuse a value longer than its column on every catalog, before it is written: what
        PostgreSQL would refuse with a DataError, SQLite would keep in full, and a catalog moved
        from one to the other must not change. Attributes not loaded are not looked at."""
        from sqlalchemy import inspect

        for obj in (*session.new, *session.dirty):
            state = inspect(obj)
            for key, name, length in _limited_columns(state.mapper):
                value = state.dict.get(key)
                if isinstance(value, str) and len(value) > length:
                    raise CatalogValueTooLong(url=_redact(url), reason=f"{name}: {len(value)} "
                                              f"characters, at most {length}")
    return before_flush


# --- PostgreSQL --------------------------------------------------------------------------------
PG_CONNECT_TIMEOUT_S = 10  # an unreachable server fails the command instead of hanging it
# pg_advisory_xact_lock key of the schema migration: int.from_bytes(b"bodycamM", "big") >> 1
MIGRATION_LOCK_KEY = int.from_bytes(b"bodycamM", "big") >> 1
_PG_BUSY = {"55P03"}  # lock_not_available: lock_timeout ran out
_PG_CANCELED = "57014"  # query_canceled: a statement_timeout set on the role or database


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres"))


def _connect_args(url: str, busy_timeout: float, password_file: Path | None) -> dict[str, Any]:
    """psycopg's connection settings: a bounded wait for a lock (``lock_timeout``, which the
    SQLite side calls busy_timeout), a bounded connect, a name in ``pg_stat_activity``, and the
    password from ``storage.database_password_file`` (never from the URL)."""
    if not _is_postgres(url):
        return {}
    args: dict[str, Any] = {
        "options": f"-c lock_timeout={max(1, int(busy_timeout * 1000))}",
        "application_name": "bodycam",
    }
    if "connect_timeout=" not in url:
        args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    if password_file is not None:
        args["password"] = read_password_file(password_file)
    return args


def read_password_file(path: Path) -> str:
    """The catalog role's password from a file only its owner may read (as the object store's
    credentials file): its first line, without the line end."""
    import stat

    from bodycam_ingest.errors import ConfigError

    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(path=path, problem=f"storage.database_password_file has mode "
                              f"{mode:04o}: others may read the catalog's password; "
                              f"chmod 0600 {path}")
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(path=path, problem=f"storage.database_password_file cannot be read "
                          f"({exc.strerror}); it must be a file of the service account, mode "
                          "0600, holding the password on its first line") from None
    if not lines or not lines[0]:
        raise ConfigError(path=path, problem="storage.database_password_file is empty; put the "
                          "catalog role's password on its first line")
    return lines[0]


WRITER_LOCK_KEY = int.from_bytes(b"bodycamW", "big") >> 1


def _pg_begin_serialized(connection: Any) -> None:
    """A write transaction takes the catalog's writer lock first (an advisory lock held until it
    ends), as SQLite's BEGIN IMMEDIATE takes the database's: the services were written for one
    writer at a time (read the current label, then supersede it; read the head, then append), and
    READ COMMITTED alone would let two of them interleave. Readers take nothing. The wait is
    bounded by lock_timeout (storage.busy_timeout), then ``CatalogBusy``."""
    if not connection.get_execution_options().get("readonly", False):
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})")


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", exc)
    state = getattr(orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def _pg_busy_handler(url: str, limit: float, busy: BusyState) -> Any:
    def handle_error(context: Any) -> None:
        """A lock wait that ran out (``lock_timeout`` = ``storage.busy_timeout``) is the same
        ``CatalogBusy`` (exit 5) as SQLite's busy_timeout; the transaction is rolled back."""
        if getattr(context, "is_pre_ping", False):
            return
        state = _sqlstate(context.original_exception)
        if state in _PG_BUSY or (state == _PG_CANCELED
                                 and "statement timeout" in str(context.original_exception)):
            log.error("catalog %s: still busy after %g s (storage.busy_timeout); giving up",
                      _redact(url), limit)
            busy.gave_up = True
            raise CatalogBusy(url=_redact(url), limit=limit) from None
    return handle_error


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
                    if not sqlite:
                        # one station migrates a shared catalog at a time; the others wait here,
                        # then find it current (READ COMMITTED: Alembic's next statement sees it)
                        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                           {"key": MIGRATION_LOCK_KEY})
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


def _translate_os(exc: OSError) -> BodycamError | None:
    kind = {errno.ENOSPC: "full", errno.EDQUOT: "full", errno.EROFS: "read-only",
            errno.EACCES: "denied", errno.EPERM: "denied", errno.EIO: "io"}.get(exc.errno or 0)
    if kind is None:
        return None
    what = f"Station file {exc.filename}" if exc.filename is not None else "Station state"
    return StorageFault(what=what, reason=exc.strerror or str(exc), fix=_FIXES[kind])


def translate_fault(exc: BaseException, url: str | None = None) -> BodycamError | None:
    """A documented error for a fault of the disk or of the catalog file that reached the front
    door as an ``OSError`` or a database error (ENOSPC, EROFS, EACCES, an immutable or read-only
    catalog, SQLITE_BUSY; PostgreSQL's disk_full, read-only, insufficient_privilege,
    lock_not_available, an unreachable server, a value too long for its column), or None when
    ``exc`` is something else (a bug: traceback, exit 70)."""
    if isinstance(exc, OSError):
        return _translate_os(exc)
    orig = getattr(exc, "orig", exc) if isinstance(exc, SQLAlchemyError) else exc
    if _is_psycopg_error(orig):
        return _translate_pg(orig, url)
    if not isinstance(orig, sqlite3.Error):
        return None
    if _is_busy(orig):
        return CatalogBusy(url=_redact(url) if url else "", limit=BUSY_SLICE_MS / 1000)
    code = getattr(orig, "sqlite_errorcode", 0) & 0xFF
    kind = {sqlite3.SQLITE_FULL: "full", sqlite3.SQLITE_READONLY: "read-only",
            sqlite3.SQLITE_CANTOPEN: "cantopen", sqlite3.SQLITE_PERM: "denied",
            sqlite3.SQLITE_AUTH: "denied", sqlite3.SQLITE_IOERR: "io"}.get(code)
    if kind is None and "database or disk is full" in str(orig):  # SQLITE_FULL's message, on an
        kind = "full"                              # error that lost its code (ingest.journal too)
    if kind is None:
        return None
    if kind == "io" and url and _nearly_full(url):  # SQLite says "disk I/O error" when the
        kind = "full"                               # -shm or -wal cannot grow on a full disk
    what = f"The catalog {_redact(url)}" if url else "The catalog"
    return StorageFault(what=what, reason=str(orig), fix=_FIXES[kind])


# --- faults of a PostgreSQL catalog -------------------------------------------------------------
_PG_FIXES = {
    "full": "Free space on the database server (its administrator: the cluster's data disk).",
    "read-only": "The server accepts no writes (a standby, or default_transaction_read_only): "
                 "point storage.database_url at the primary, or ask its administrator.",
    "denied": "Let the catalog's role own the database and its tables (ALTER DATABASE ... "
              "OWNER TO bodycam; README: The shared catalog), or use that role in "
              "storage.database_url.",
}
_PG_KINDS = {"53100": "full", "25006": "read-only", "42501": "denied"}


def _is_psycopg_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("psycopg")


def _translate_pg(orig: BaseException, url: str | None) -> BodycamError | None:
    """A psycopg error as its documented error, or None (a bug). Connection faults come from
    libpq without a SQLSTATE; their first line names the cause (refused, timeout, no such role,
    database or password), which the message keeps."""
    where = _redact(url) if url else "the PostgreSQL catalog"
    state = _sqlstate(orig)
    reason = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if state in _PG_BUSY or (state == _PG_CANCELED and "statement timeout" in str(orig)):
        return CatalogBusy(url=where, limit=DEFAULT_BUSY_TIMEOUT)
    if state == "22001":  # string_data_right_truncation
        return CatalogValueTooLong(url=where, reason=reason)
    kind = _PG_KINDS.get(state or "")
    if kind is not None:
        return StorageFault(what=f"The catalog {where}", reason=reason, fix=_PG_FIXES[kind])
    if (state is None and type(orig).__name__ == "OperationalError") \
            or (state or "").startswith(("08", "57P", "28", "3D", "53300")):
        return CatalogUnreachable(url=where, reason=reason.removeprefix("connection failed: "))
    return None
