"""The catalog on a real PostgreSQL 15 server (issue 12, the shared catalog): the migrations build
what the models declare, a station ingests, audits, lists and sweeps on it, custody-log writers
queue on the chain head's row lock and never fork the chain, a lock held too long is the documented
"catalog busy" (exit 5), and an unreachable server is one clear sentence (exit 8).

A writer is held "in progress" on purpose: the test's own connection holds the chain head's row
lock (``SELECT ... FOR UPDATE``) and the server is asked whether the writers wait on it
(``pg_stat_activity``), never by timing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from conftest_media import FolderCamera
from helpers import BODYCAM, StationEnv
from pg_support import PgServer, pg_station_at
from sqlalchemy import select
from sqlalchemy import text as text_

from bodycam_ingest.catalog.db import open_catalog, schema_head
from bodycam_ingest.catalog.models import Event, Recording
from bodycam_ingest.catalog.retention_models import Tombstone
from bodycam_ingest.custody.chain import GENESIS

HEAD_LOCK = "SELECT seq FROM custody_chain_head WHERE id = 1 FOR UPDATE"


def _ingest(env: StationEnv, camera: FolderCamera) -> dict[str, object]:
    out = json.loads(env.run("ingest", str(camera.root), "--json", check=True).stdout)
    assert (out["outcome"], out["stored"]) == ("complete", 3), out
    return out  # type: ignore[no-any-return]


@contextmanager
def _head_held(url: str) -> Iterator[None]:
    """The custody log's head row locked by another connection until the block ends."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as connection:
        assert connection.execute(HEAD_LOCK).fetchone() is not None, "no chain head yet"
        yield
        connection.rollback()


def _waiting_on_a_lock(pg: PgServer, database: str) -> int:
    """How many bodycam connections to ``database`` the server reports as waiting on a lock."""
    return int(pg.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bodycam' "
                      f"AND datname = '{database}' AND wait_event_type = 'Lock'"))


def _await_waiters(pg: PgServer, database: str, count: int, procs: list[subprocess.Popen[str]]
                   ) -> None:
    """Until ``count`` writers queue on the held lock (asked of the server; the deadline only
    turns a hang into a failure, it is not what the test measures)."""
    deadline = time.monotonic() + 300
    while _waiting_on_a_lock(pg, database) < count:
        for proc in procs:
            assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the writers never queued on the chain head's lock"
        time.sleep(0.1)


def _audit_findings(env: StationEnv) -> list[dict[str, str]]:
    """The audit's findings apart from the R1 deadlines, which the simulated camera's recordings
    (made on 2026-11-20) have missed on any catalog; the audit must run to its end."""
    result = env.run("audit", "--json")
    assert result.returncode in (0, 9), (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    assert "replay" in report["sections"] and "custody_log" in report["sections"]
    return [f for f in report["findings"] if f["section"] != "deadlines"]


def _database(url: str) -> str:
    return url.rsplit("/", 1)[1]


# --- the schema ---------------------------------------------------------------------------------
def test_the_migrations_build_exactly_the_schema_the_models_declare_on_postgresql(
        pg_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import bodycam_ingest.catalog.access_models
    import bodycam_ingest.catalog.analysis_models
    import bodycam_ingest.catalog.custody_models
    import bodycam_ingest.catalog.retention_models
    import bodycam_ingest.catalog.storage_models  # noqa: F401  (their tables join Base.metadata)
    from bodycam_ingest.catalog.models import Base

    catalog = open_catalog(pg_url, station_id="test-station")
    try:
        with catalog.engine.connect() as connection:
            revision = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        catalog.close()
    assert revision == schema_head()
    assert diff == []


def test_two_stations_migrating_one_new_catalog_at_once_both_open_it(pg_url: str,
                                                                     pg_server: PgServer) -> None:
    """The advisory lock serialises the migration: the second waits, then finds it current."""
    import psycopg

    from bodycam_ingest.catalog.db import MIGRATION_LOCK_KEY

    probe = ("import sys; from bodycam_ingest.catalog.db import open_catalog, current_revision; "
             "c = open_catalog(sys.argv[1], station_id='test-station'); "
             "print(current_revision(c)); c.close()")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        procs = [subprocess.Popen([BODYCAM[0], "-c", probe, pg_url], text=True, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(2)]
        try:
            deadline = time.monotonic() + 300
            while int(pg_server.sql(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    f"AND database = (SELECT oid FROM pg_database WHERE datname = "
                    f"'{_database(pg_url)}')")) < 2:
                for proc in procs:
                    assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the migrations never queued on the lock"
                time.sleep(0.1)
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        outs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outs
    assert [out.strip() for out, _err in outs] == [schema_head()] * 2


# --- a station on PostgreSQL ----------------------------------------------------------------------
def test_ingest_audit_list_and_show_on_postgresql(pg_station: StationEnv,
                                                 folder_camera: FolderCamera) -> None:
    _ingest(pg_station, folder_camera)
    assert _audit_findings(pg_station) == []
    listed = json.loads(pg_station.run("list", "--json", check=True).stdout)
    assert [row["name_seq"] for row in listed] == [3, 2, 1]
    shown = json.loads(pg_station.run("show", str(listed[-1]["id"]), "--json", check=True).stdout)
    assert shown["start_utc"].startswith("2026-11-20T01:30:00")
    assert not pg_station.db.exists(), "the catalog must be in PostgreSQL, not SQLite"


def test_custody_log_writers_queue_on_the_head_lock_and_the_chain_never_forks(
        pg_server: PgServer, pg_url: str, tmp_path: Path, folder_camera: FolderCamera) -> None:
    env = pg_station_at(tmp_path / "station", pg_url)
    _ingest(env, folder_camera)
    listed = json.loads(env.run("list", "--json", check=True).stdout)
    first, last = listed[-1]["id"], listed[0]["id"]
    full = {**os.environ, "BODYCAM_CONFIG": str(env.config_path)}
    with _head_held(pg_url):
        procs = [subprocess.Popen([*BODYCAM, "tag", str(rid), "--case", f"CASE-{rid}",
                                   "--reason", "concurrent writers"],
                                  text=True, env=full, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for rid in (first, last)]
        try:
            _await_waiters(pg_server, _database(pg_url), 2, procs)
        except BaseException:
            for proc in procs:
                proc.kill()
                proc.communicate()
            raise
    outs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outs

    catalog = open_catalog(pg_url, station_id="test-station")
    try:
        with catalog.reading() as session:
            rows = list(session.scalars(select(Event).order_by(Event.seq)))
    finally:
        catalog.close()
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1))
    assert [row.prev_digest for row in rows] == [GENESIS, *(row.digest for row in rows[:-1])]
    assert {row.recording_id for row in rows if row.action == "label_set"} == {first, last}
    assert _audit_findings(env) == []


def test_a_held_head_lock_past_busy_timeout_is_catalog_busy_exit_5(
        pg_url: str, tmp_path: Path, folder_camera: FolderCamera) -> None:
    env = pg_station_at(tmp_path / "station", pg_url)
    _ingest(env, folder_camera)
    listed = json.loads(env.run("list", "--json", check=True).stdout)
    text = env.config_path.read_text().replace("free_space_reserve = 0",
                                               "free_space_reserve = 0\nbusy_timeout = 1")
    env.config_path.write_text(text)
    with _head_held(pg_url):
        result = env.run("tag", str(listed[0]["id"]), "--case", "CASE-1", "--reason", "busy")
    assert result.returncode == 5, (result.stdout, result.stderr)
    assert "is busy" in result.stderr and "storage.busy_timeout" in result.stderr
    assert "Traceback" not in result.stderr
    retried = env.run("tag", str(listed[0]["id"]), "--case", "CASE-1", "--reason", "busy")
    assert retried.returncode == 0, retried.stderr


def test_an_unreachable_server_is_one_sentence_and_exit_8(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = pg_station_at(tmp_path / "station",
                        f"postgresql+psycopg://bodycam@127.0.0.1:{port}/bodycam")
    result = env.run("list")
    assert result.returncode == 8, (result.stdout, result.stderr)
    assert "cannot be reached" in result.stderr and "Connection refused" in result.stderr
    assert "pg_isready" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_database_is_named_with_exit_8(pg_server: PgServer, tmp_path: Path) -> None:
    env = pg_station_at(tmp_path / "station", pg_server.url("no_such_catalog"))
    result = env.run("list")
    assert result.returncode == 8, (result.stdout, result.stderr)
    assert '"no_such_catalog" does not exist' in result.stderr
    assert "Traceback" not in result.stderr


# --- retention --------------------------------------------------------------------------------------
def test_a_retention_sweep_on_postgresql_deletes_the_expired_and_keeps_the_held(
        pg_url: str, tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "retention_integration"))
    from sweep_support import Clock, add_hold, dock, open_station, utc

    from bodycam_ingest.custody import service as custody
    from bodycam_ingest.custody.audit import AuditInputs, audit
    from bodycam_ingest.retention.service import run_sweep

    env = pg_station_at(tmp_path / "station", pg_url)
    clock = Clock(utc(2024, 1, 10, 8, 0))
    station = open_station(env, clock)
    try:
        kept, gone = dock(station, tmp_path / "cams", segments=2)
        add_hold(station, recording_id=kept)
        for days in (0, 800, 810):  # past 2 years: due; past the grace: deleted
            clock.now = utc(2024, 1, 10, 8, 0) + timedelta(days=days)
            report = run_sweep(station, trigger="test")
            assert report.error is None, report.error
        custody.checkpoint(station)
        with station.catalog.reading() as session:
            tombstones = [t.recording_id for t in session.scalars(select(Tombstone))]
            deleted = {r.id: r.deleted_at is not None for r in session.scalars(select(Recording))}
            result = audit(session, AuditInputs(
                store_root=station.store.root, manifest_dir=custody.manifest_dir(station.config),
                key_dir=custody.key_dir(station.config)))
    finally:
        station.close()
    assert tombstones == [gone]
    assert deleted == {kept: False, gone: True}
    assert result.findings == [], result.findings


# --- configuration (no server) ------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql+psycopg://bodycam:s3cret@db/bodycam", "a password in storage.database_url"),
    ("postgresql+psycopg://bodycam@db/bodycam?password=x", "a password in storage.database_url"),
    ("mysql://bodycam@db/bodycam", "is not a supported catalog URL"),
    ("postgresql+psycopg://bodycam@db", "names no database"),
    ("sqlite:///relative.db", "needs an absolute path"),
])
def test_a_bad_database_url_is_refused_with_the_fix(url: str, expected: str) -> None:
    from bodycam_ingest.config import parse_config
    from bodycam_ingest.errors import ConfigError, ExitCode

    data = {"station": {"id": "s1"}, "storage": {"database_url": url},
            "cameras": [{"name": "c", "fs_labels": ["BODYCAM*"]}]}
    with pytest.raises(ConfigError) as info:
        parse_config(data, "/etc/bodycam/config.toml")
    assert expected in str(info.value)
    assert "s3cret" not in str(info.value)
    assert info.value.exit_code == ExitCode.CONFIG


def test_postgresql_urls_use_psycopg_3() -> None:
    from bodycam_ingest.config import parse_config

    data = {"station": {"id": "s1"}, "storage": {"database_url": "postgresql://bodycam@db/bc"},
            "cameras": [{"name": "c", "fs_labels": ["BODYCAM*"]}]}
    assert parse_config(data, "x").storage.db_url == "postgresql+psycopg://bodycam@db/bc"


def test_a_password_file_others_may_read_is_refused(tmp_path: Path) -> None:
    from bodycam_ingest.catalog.db import read_password_file
    from bodycam_ingest.errors import ConfigError

    secret = tmp_path / "catalog-password"
    secret.write_text("s3cret\n")
    secret.chmod(0o640)
    with pytest.raises(ConfigError, match="chmod 0600"):
        read_password_file(secret)
    secret.chmod(0o600)
    assert read_password_file(secret) == "s3cret"


def test_the_password_file_reaches_the_server(pg_server: PgServer, pg_url: str,
                                              tmp_path: Path) -> None:
    """A role with a password, asked for it (scram-sha-256 on this database's connections)."""
    name = _database(pg_url)
    pg_server.sql("CREATE ROLE bodycam_pw LOGIN PASSWORD 'right-one'")
    pg_server.sql(f"ALTER DATABASE {name} OWNER TO bodycam_pw")
    hba = pg_server.directory / "data" / "pg_hba.conf"
    hba.write_text(f"host {name} bodycam_pw 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    pg_server.sql("SELECT pg_reload_conf()")
    url = f"postgresql+psycopg://bodycam_pw@127.0.0.1:{pg_server.port}/{name}"
    secret = tmp_path / "pw"
    secret.write_text("wrong-one\n")
    secret.chmod(0o600)
    env = pg_station_at(tmp_path / "station", url,
                        "")
    env.config_path.write_text(env.config_path.read_text().replace(
        "free_space_reserve = 0", f'free_space_reserve = 0\ndatabase_password_file = "{secret}"'))
    refused = env.run("list", env={"PGPASSFILE": str(tmp_path / "none")})
    assert refused.returncode == 8, refused.stderr
    assert "password authentication failed" in refused.stderr
    secret.write_text("right-one\n")
    listed = env.run("list", "--json", env={"PGPASSFILE": str(tmp_path / "none")})
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


# --- doctor ---------------------------------------------------------------------------------------
def _doctor_line(env: StationEnv) -> dict[str, str]:
    import getpass

    result = env.run("doctor", "--json", "--service-user", getpass.getuser())
    checks = {c["check"]: c for c in json.loads(result.stdout)["checks"]}
    return checks["catalog server"]  # type: ignore[no-any-return]


def test_doctor_asks_the_postgresql_catalog_for_its_revision(pg_server: PgServer, pg_url: str,
                                                             tmp_path: Path) -> None:
    env = pg_station_at(tmp_path / "station", pg_url)
    empty = _doctor_line(env)
    assert empty["status"] == "warn" and "holds no catalog yet" in empty["detail"], empty
    open_catalog(pg_url, station_id="test-station").close()
    assert _doctor_line(env)["status"] == "ok"
    pg_server.sql("UPDATE alembic_version SET version_num = '0007'", _database(pg_url))
    older = _doctor_line(env)
    assert older["status"] == "warn" and "migrated at the daemon's next start" in older["fix"]
    pg_server.sql("UPDATE alembic_version SET version_num = '9999'", _database(pg_url))
    newer = _doctor_line(env)
    assert newer["status"] == "fail" and "does not know" in newer["detail"]
    gone = pg_station_at(tmp_path / "other", pg_server.url("no_such_catalog"))
    missing = _doctor_line(gone)
    assert missing["status"] == "fail" and "does not exist" in missing["detail"]


def test_doctor_says_not_applicable_for_sqlite(station: StationEnv) -> None:
    assert _doctor_line(station)["status"] == "n/a"


# --- string lengths: what PostgreSQL refuses is refused the same way on SQLite --------------------
@pytest.mark.parametrize("catalog", ["sqlite", "postgresql"])
def test_a_value_longer_than_its_column_is_refused_alike_on_both_catalogs(
        catalog: str, request: pytest.FixtureRequest, tmp_path: Path,
        folder_camera: FolderCamera) -> None:
    if catalog == "sqlite":
        env = request.getfixturevalue("station")
    else:
        env = pg_station_at(tmp_path / "pg", request.getfixturevalue("pg_url"))
    _ingest(env, folder_camera)
    rid = json.loads(env.run("list", "--json", check=True).stdout)[0]["id"]
    before = env.run("log", str(rid), "--json", check=True).stdout.count('"seq"')
    result = env.run("tag", str(rid), "--case", "案" * 129, "--reason", "too long")
    assert result.returncode == 5, (result.stdout, result.stderr)
    assert "custody_labels.case_number: 129 characters, at most 128" in result.stderr
    assert "Traceback" not in result.stderr
    assert env.run("tag", str(rid), "--case", "案" * 128, "--reason", "fits").returncode == 0
    after = env.run("log", str(rid), "--json", check=True).stdout.count('"seq"')
    assert after > before


def test_a_folder_camera_whose_path_the_catalog_cannot_file_is_refused(
        station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120) / ("e" * 120) / "camera"
    deep.parent.mkdir(parents=True)
    folder_camera.root.rename(deep)
    result = station.run("ingest", str(deep))
    assert result.returncode == 6, (result.stdout, result.stderr)
    assert "shorter path" in result.stderr and "Traceback" not in result.stderr
    assert station.stored_files() == []


def test_names_and_probe_fields_that_no_column_holds_are_not_filed() -> None:
    from bodycam_ingest.ingest.probe import summarize
    from bodycam_ingest.naming import parse_name, preset

    patterns = (preset("officer_device_time_seq"),)
    assert parse_name("A1024_DSJ9X001_20261120093000_0001.MP4", patterns).device == "DSJ9X001"
    assert parse_name(f"A1024_{'D' * 65}_20261120093000_0001.MP4", patterns).pattern is None
    assert parse_name(f"A1024_{'D' * 64}_20261120093000_0001.MP4", patterns).device == "D" * 64
    info = {"format": {"format_name": "mov,mp4"},
            "streams": [{"codec_type": "video", "codec_name": "h264",
                         "avg_frame_rate": "4294967295/4294967291"}]}
    summary = summarize(info)
    assert (summary.container, summary.video_codec, summary.frame_rate) == \
        ("mov,mp4", "h264", None)
    assert "4294967295/4294967291" in (summary.raw_json or "")


def test_an_id_beyond_postgresqls_integer_keys_is_not_found_not_a_traceback(
        pg_station: StationEnv) -> None:
    for argv in (["show", "3000000000"], ["log", "2147483648"],
                 ["tag", "2147483648", "--case", "X", "--reason", "y"]):
        result = pg_station.run(*argv)
        assert result.returncode == 4, (argv, result.stderr)
        assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_a_read_only_or_forbidden_catalog_is_exit_8_with_the_fix(
        pg_server: PgServer, pg_url: str, tmp_path: Path, folder_camera: FolderCamera) -> None:
    env = pg_station_at(tmp_path / "station", pg_url)
    _ingest(env, folder_camera)
    rid = str(json.loads(env.run("list", "--json", check=True).stdout)[0]["id"])
    name = _database(pg_url)
    pg_server.sql(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    read_only = env.run("tag", rid, "--case", "C-1", "--reason", "read-only")
    assert read_only.returncode == 8, (read_only.stdout, read_only.stderr)
    assert "read-only transaction" in read_only.stderr and "primary" in read_only.stderr
    assert "Traceback" not in read_only.stderr
    pg_server.sql(f"ALTER DATABASE {name} RESET default_transaction_read_only")

    pg_server.sql("CREATE ROLE bodycam_ro LOGIN")
    pg_server.sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO bodycam_ro", name)
    other = pg_station_at(tmp_path / "other", pg_url.replace("postgres@", "bodycam_ro@"))
    (other.root / "state").rename(other.root / "state.unused")
    (env.root / "state").rename(other.root / "state")  # the same store and keys, another role
    denied = other.run("tag", rid, "--case", "C-1", "--reason", "denied")
    assert denied.returncode == 8, (denied.stdout, denied.stderr)
    assert "permission denied" in denied.stderr and "OWNER TO" in denied.stderr
    assert "Traceback" not in denied.stderr


def test_sizes_times_and_booleans_round_trip_on_postgresql(pg_url: str) -> None:
    """BigInteger sizes past 32 bits, aware UTC datetimes to the microsecond (in and out, whatever
    the session's zone), booleans; a naive datetime is refused before it reaches the server."""
    from datetime import UTC, datetime, timezone

    from sqlalchemy.exc import StatementError

    from bodycam_ingest.catalog.models import Device, Dock

    at = datetime(2026, 11, 20, 1, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    catalog = open_catalog(pg_url, station_id="test-station")
    try:
        with catalog.session() as session:
            session.execute(text_("SET TIME ZONE 'America/Los_Angeles'"))
            device = Device(key="usb:1234:5678:S", kind="usb", first_seen=at, last_seen=at)
            session.add(device)
            session.flush()
            session.add(Dock(device_id=device.id, camera_rule="c", trigger="cli", source="/x",
                             actor="os:root", host="h", pid=1, lock_token="t" * 32,
                             started_at=at, updated_at=at, bytes_total=5 * 2**32 + 7,
                             bytes_done=2**62))
        with catalog.reading() as session:
            dock = session.scalars(select(Dock)).one()
            assert (dock.bytes_total, dock.bytes_done) == (5 * 2**32 + 7, 2**62)
            assert dock.started_at == at and dock.started_at.tzinfo == UTC
        with pytest.raises(StatementError, match="naive datetime"), catalog.session() as session:
            session.add(Device(key="usb:naive", kind="usb", first_seen=datetime(2026, 1, 1),
                               last_seen=datetime(2026, 1, 1)))
            session.flush()
    finally:
        catalog.close()


def test_the_daemon_waits_for_an_unreachable_catalog_and_starts_once_it_answers(
        tmp_path: Path, pg_server: PgServer) -> None:
    """A shared catalog that is away when the daemon starts (network, server restart) must not
    leave the unit down: exit 8 would stop systemd from restarting it. The daemon logs the fault,
    waits, and starts once the catalog answers; here the database is created while it waits."""
    from bodycam_ingest.daemon.service import catalog_retry_delay

    assert [catalog_retry_delay(n) for n in (1, 2, 3, 6, 7, 30)] == [2, 4, 8, 60, 60, 60]
    name = f"bodycam_later_{os.getpid()}"
    station = pg_station_at(tmp_path / "station", pg_server.url(name))
    log = station.root / "daemon.log"
    daemon = subprocess.Popen([*BODYCAM, "daemon"], text=True, stdout=log.open("w"),
                              stderr=subprocess.STDOUT,
                              env={**os.environ, "BODYCAM_CONFIG": str(station.config_path)})
    try:
        for _ in range(6000):  # until it says it is waiting (a condition, not a duration)
            if "attempt 1; trying again" in log.read_text() or daemon.poll() is not None:
                break
            time.sleep(0.05)
        assert daemon.poll() is None, log.read_text()
        assert "cannot be reached" in log.read_text()
        pg_server.sql(f"CREATE DATABASE {name}")
        for _ in range(12000):
            if "daemon ready" in log.read_text() or daemon.poll() is not None:
                break
            time.sleep(0.05)
        assert "daemon ready" in log.read_text(), log.read_text()
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(120)
    assert daemon.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()
