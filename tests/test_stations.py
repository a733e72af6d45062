"""Two stations on one catalog (issue 12 item 1): each sees, audits and sweeps only its own
objects; the bureau-wide audit checks both; a second station under a taken id is refused.

Every test takes the catalog from the one ``catalog_url`` fixture (a real SQLite file shared by
the stations' configs), so PostgreSQL can be added to it without touching the tests.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from helpers import StationEnv, write_config

from bodycam_ingest.errors import ExitCode
from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera


@pytest.fixture
def catalog_url(tmp_path: Path) -> Iterator[str]:
    """The bureau's shared catalog (one SQLite file; PostgreSQL can be a second param)."""
    yield f"sqlite:///{tmp_path / 'bureau' / 'catalog.sqlite3'}"


def _fresh(device: str) -> CameraSpec:
    local = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    return replace(CameraSpec(segments=2, seconds=1.0), start=local - timedelta(minutes=10),
                   device=device)


@pytest.fixture(scope="module")
def masters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, device in (("A", "DSJ9X00A"), ("B", "DSJ9X00B")):
        root = tmp_path_factory.mktemp(f"cam-{name}")
        build_folder_camera(root, _fresh(device))
        out[name] = root
    return out


def make_station(root: Path, station_id: str, catalog_url: str, *, key: bool = True) -> StationEnv:
    root.mkdir(parents=True)
    path = write_config(root, station_key=key)
    text = path.read_text().replace('id = "test-station"', f'id = "{station_id}"')
    text = text.replace("[storage]\n", f'[storage]\ndatabase_url = "{catalog_url}"\n', 1)
    path.write_text(text)
    return StationEnv(root=root, config_path=path)


def camera(masters: dict[str, Path], name: str, dest: Path) -> Path:
    shutil.copytree(masters[name], dest, copy_function=shutil.copy2)
    return dest


def ids(station: StationEnv) -> list[int]:
    rows = json.loads(station.run("list", "--json", check=True).stdout)
    return sorted(row["id"] for row in rows)


def audit(station: StationEnv, *args: str) -> tuple[int, dict[str, Any]]:
    result = station.run("audit", "--json", *args, timeout=300)
    assert result.returncode in (0, 9), result.stderr
    return result.returncode, json.loads(result.stdout)


def sql(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return db.execute(statement, params).fetchall()


@pytest.fixture
def bureau(tmp_path: Path, catalog_url: str, masters: dict[str, Path]
           ) -> tuple[StationEnv, StationEnv]:
    a = make_station(tmp_path / "a", "station-a", catalog_url)
    b = make_station(tmp_path / "b", "station-b", catalog_url)
    a.run("ingest", str(camera(masters, "A", tmp_path / "cam-a")), check=True)
    b.run("ingest", str(camera(masters, "B", tmp_path / "cam-b")), check=True)
    return a, b


def test_each_station_lists_only_its_own_recordings(bureau: tuple[StationEnv, StationEnv],
                                                     catalog_url: str) -> None:
    a, b = bureau
    mine = {sid: sorted(i for (i,) in sql(catalog_url, "SELECT id FROM recordings WHERE "
                                                       "station_id = ?", sid))
            for sid in ("station-a", "station-b")}
    assert len(mine["station-a"]) == 2 and len(mine["station-b"]) == 2
    assert ids(a) == mine["station-a"]
    assert ids(b) == mine["station-b"]
    other = str(mine["station-b"][0])
    shown = a.run("show", other)
    assert shown.returncode == ExitCode.NOT_FOUND, shown.stdout + shown.stderr


def test_both_stations_audit_clean_and_keep_their_own_chains(
        bureau: tuple[StationEnv, StationEnv], catalog_url: str, tmp_path: Path,
        masters: dict[str, Path]) -> None:
    a, b = bureau
    # A docks again after B (ids of docks, recordings, manifests and entries interleave), with
    # the content B already holds: each station stores and signs its own copy
    a.run("ingest", str(camera(masters, "B", tmp_path / "cam-b-at-a")), check=True)
    assert len(ids(a)) == 4 and len(ids(b)) == 2
    assert len(a.stored_files()) == 4 and len(b.stored_files()) == 2
    for station in (a, b):
        code, report = audit(station)
        assert code == 0, report
    seqs = dict(sql(catalog_url, "SELECT station_id, COUNT(*) FROM events GROUP BY station_id"))
    assert set(seqs) == {"station-a", "station-b"}
    for sid, count in seqs.items():
        assert sql(catalog_url, "SELECT MIN(seq), MAX(seq) FROM events WHERE station_id = ?",
                   sid) == [(1, count)]
    assert sorted(sql(catalog_url, "SELECT id FROM stations")) == [("station-a",), ("station-b",)]


def test_a_third_station_with_a_taken_id_and_another_key_is_refused(
        bureau: tuple[StationEnv, StationEnv], tmp_path: Path, catalog_url: str) -> None:
    intruder = make_station(tmp_path / "c", "station-a", catalog_url)
    before = sql(catalog_url, "SELECT COUNT(*) FROM events")
    for command in (("list",), ("daemon",)):
        result = intruder.run(*command, timeout=120)
        assert result.returncode == ExitCode.CONFIG, result.stdout + result.stderr
        assert "station-a" in result.stderr and "give this station its own station.id" in \
            result.stderr.lower(), result.stderr
        assert "Traceback" not in result.stderr
    keyless = make_station(tmp_path / "d", "station-a", catalog_url, key=False)
    result = keyless.run("list", timeout=120)
    assert result.returncode == ExitCode.CONFIG and "no station key here" in result.stderr, \
        result.stdout + result.stderr
    assert sql(catalog_url, "SELECT COUNT(*) FROM events") == before


def bureau_audit(station: StationEnv) -> tuple[int, dict[str, Any]]:
    result = station.run("audit", "--all-stations", "--json", timeout=300)
    assert result.returncode in (0, 9), result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)


def test_the_bureau_audit_checks_every_station_against_its_published_keys(
        bureau: tuple[StationEnv, StationEnv], catalog_url: str) -> None:
    a, _b = bureau
    code, report = bureau_audit(a)
    assert code == 0 and report["clean"], report
    parts = {part["station"]: part for part in report["stations"]}
    assert set(parts) == {"station-a", "station-b"}
    assert parts["station-a"]["depth"] == "full" and parts["station-b"]["depth"] == "catalog"
    published = dict(sql(catalog_url, "SELECT station_id, key_id FROM station_keys"))
    assert parts["station-b"]["keys"] == [published["station-b"]]
    assert parts["station-b"]["checked"]["custody_log"] > 0


def test_a_tampered_log_row_fails_only_its_station_and_the_bureau(
        bureau: tuple[StationEnv, StationEnv], catalog_url: str) -> None:
    a, b = bureau
    sql(catalog_url, "UPDATE events SET reason = 'edited' WHERE station_id = 'station-b' "
                     "AND seq = 2")
    assert audit(a)[0] == 0
    code, report = audit(b)
    assert code == ExitCode.FINDINGS
    assert any(f["section"] == "custody_log" for f in report["findings"]), report["findings"]
    code, report = bureau_audit(a)
    assert code == ExitCode.FINDINGS and not report["clean"]
    parts = {part["station"]: part for part in report["stations"]}
    assert parts["station-a"]["clean"], parts["station-a"]["findings"]
    assert any("custody entry 2" in f["object"] for f in parts["station-b"]["findings"]), \
        parts["station-b"]["findings"]
    assert report["verdict"] == "findings in station-b"


def test_a_checkpoint_signed_by_an_unpublished_key_fails_the_bureau_audit(
        bureau: tuple[StationEnv, StationEnv], catalog_url: str) -> None:
    a, _b = bureau
    sql(catalog_url, "DELETE FROM station_keys WHERE station_id = 'station-b'")
    code, report = bureau_audit(a)
    assert code == ExitCode.FINDINGS
    parts = {part["station"]: part for part in report["stations"]}
    assert parts["station-a"]["clean"]
    assert not parts["station-b"]["clean"]


def test_rows_of_a_station_that_was_never_registered_fail_the_bureau_audit(
        bureau: tuple[StationEnv, StationEnv], catalog_url: str) -> None:
    """A chain head put in by hand under an id no station registered (no log entry with it) is
    named, with the table it is in, by the bureau's audit and by every station's own audit (a
    row under a made-up station id is out of every station's scope, so each looks for them)."""
    a, b = bureau
    sql(catalog_url, "INSERT INTO custody_chain_head (seq, digest, station_id) VALUES "
                     "(0, '" + "0" * 64 + "', 'ghost')")
    code, report = bureau_audit(a)
    assert code == ExitCode.FINDINGS
    parts = {part["station"]: part for part in report["stations"]}
    assert parts["station-b"]["clean"]  # checked from the catalog only (depth "catalog")
    [finding] = parts["ghost"]["findings"]
    assert "custody_chain_head" in finding["problem"] and "not registered" in finding["problem"]
    for station in (a, b):
        code, own = audit(station)
        assert code == ExitCode.FINDINGS
        assert [f["object"] for f in own["findings"]] == ["station ghost"], own["findings"]


@dataclass
class _Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def test_a_stations_retention_sweep_deletes_only_its_own_expired_recordings(
        bureau: tuple[StationEnv, StationEnv], catalog_url: str) -> None:
    from bodycam_ingest.retention.service import run_sweep
    from bodycam_ingest.station import Station

    a, b = bureau
    b_files = b.stored_files()
    clock = _Clock(datetime.now(UTC) + timedelta(days=800))
    station = Station.open(a.config, clock=clock, actor="retention-officer")
    try:
        for days in (0, 40):  # found due, then deleted after its grace period
            clock.now += timedelta(days=days)
            report = run_sweep(station, trigger="test")
            assert report.error is None, report.error
    finally:
        station.close()
    state = dict(sql(catalog_url, "SELECT station_id, COUNT(deleted_at) FROM recordings "
                                  "GROUP BY station_id"))
    assert state == {"station-a": 2, "station-b": 0}
    assert a.stored_files() == [] and b.stored_files() == b_files
    assert sql(catalog_url, "SELECT DISTINCT station_id FROM retention_tombstones") == \
        [("station-a",)]
    assert audit(b)[0] == 0


def _tree_before_stations(tmp_path: Path) -> Path:
    """The code as it was at migration 0008 (the parent of the commit that added 0009)."""
    repo = Path(__file__).resolve().parents[1]
    added = subprocess.run(
        ["git", "-C", str(repo), "log", "--diff-filter=A", "--format=%H", "--",
         "bodycam_ingest/catalog/migrations/versions/0009_stations.py"],
        capture_output=True, text=True, check=False).stdout.split()
    if not added:
        pytest.skip("needs the repository's git history (the code before migration 0009)")
    tree = tmp_path / "code-0008"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(repo), "archive", f"{added[-1]}^",
                              "bodycam_ingest"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def test_a_single_station_catalog_at_0008_with_data_migrates_and_audits_clean(
        tmp_path: Path, catalog_url: str, masters: dict[str, Path]) -> None:
    old_code = _tree_before_stations(tmp_path)
    a = make_station(tmp_path / "a", "station-a", catalog_url)
    env = {**os.environ, "PYTHONPATH": str(old_code), "BODYCAM_CONFIG": str(a.config_path)}
    old = subprocess.run([sys.executable, "-m", "bodycam_ingest", "ingest",
                          str(camera(masters, "A", tmp_path / "cam-a")), "--json"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
                         check=False)
    assert old.returncode == 0, old.stderr
    assert sql(catalog_url, "SELECT version_num FROM alembic_version") == [("0008",)]
    before = sql(catalog_url, "SELECT COUNT(*) FROM events")[0][0]
    assert before > 0
    code, report = audit(a)  # the current code: migrates (rows given to station-a), audits
    assert code == 0, report["findings"]
    assert sql(catalog_url, "SELECT version_num FROM alembic_version") == [("0009",)]
    assert sql(catalog_url, "SELECT DISTINCT station_id FROM events") == [("station-a",)]
    assert sql(catalog_url, "SELECT id FROM stations") == [("station-a",)]
    assert len(ids(a)) == 2
    b = make_station(tmp_path / "b", "station-b", catalog_url)  # a second station joins
    b.run("ingest", str(camera(masters, "B", tmp_path / "cam-b")), check=True)
    assert audit(a)[0] == 0 and audit(b)[0] == 0


def test_an_account_limited_to_station_a_is_refused_on_station_b(
        bureau: tuple[StationEnv, StationEnv]) -> None:
    from sqlalchemy import select

    from bodycam_ingest.access.identity import principal_of
    from bodycam_ingest.api.registry import dispatch
    from bodycam_ingest.catalog.access_models import AccountRow
    from bodycam_ingest.errors import StationNotAllowed
    from bodycam_ingest.station import Station

    a, b = bureau
    a.run("users", "add", "li.na", "--name", "Li Na", "--roles", "custodian,auditor",
          "--stations", "station-a", check=True)
    shown = json.loads(b.run("users", "show", "li.na", "--json", check=True).stdout)
    assert shown["stations"] == ["station-a"]  # accounts are bureau-wide
    on_a, on_b = Station.open(a.config), Station.open(b.config)
    try:
        with on_a.catalog.reading() as session:
            person = principal_of(session.scalars(select(AccountRow)).one())
        listed = dispatch(on_a, person, "recordings.list", {})
        assert len(listed) == 2
        with pytest.raises(StationNotAllowed) as refused:
            dispatch(on_b, person, "recordings.list", {})
        assert refused.value.exit_code == ExitCode.REFUSED
        assert "station-a" in refused.value.message() and "station-b" in refused.value.message()
        with pytest.raises(StationNotAllowed):
            dispatch(on_b, person, "audit.bureau", {})
    finally:
        on_a.close()
        on_b.close()
    a.run("users", "roles", "li.na", "--set", "custodian,auditor", "--stations", "all",
          "--reason", "moved to the bureau's audit team", check=True)
    opened_b = Station.open(b.config)
    try:
        with opened_b.catalog.reading() as session:
            person = principal_of(session.scalars(select(AccountRow)).one())
        assert person.stations is None
        assert len(dispatch(opened_b, person, "recordings.list", {})) == 2
    finally:
        opened_b.close()


def test_an_account_made_at_one_station_keeps_both_audits_clean(
        bureau: tuple[StationEnv, StationEnv]) -> None:
    a, b = bureau
    a.run("users", "add", "wang.fang", "--name", "Wang Fang", "--roles", "auditor",
          "--os-user", "nobody", check=True)
    b.run("users", "roles", "wang.fang", "--set", "auditor,custodian", "--stations",
          "station-b", "--reason", "custodian at station B", check=True)
    for station in (a, b):
        code, report = audit(station)
        assert code == 0, report["findings"]
    code, report = bureau_audit(a)
    assert code == 0, [part["findings"] for part in report["stations"]]


def test_a_second_daemon_under_a_leased_station_id_is_refused(
        bureau: tuple[StationEnv, StationEnv], catalog_url: str) -> None:
    a, _b = bureau
    fresh = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    sql(catalog_url, "UPDATE stations SET lease_host = 'other-host', lease_boot_id = 'x', "
                     "lease_pid = 4242, lease_heartbeat = ? WHERE id = 'station-a'", fresh)
    result = a.run("daemon", timeout=120)
    assert result.returncode == ExitCode.CONFIG, result.stdout + result.stderr
    assert "already running on other-host (pid 4242" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


T = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("held", "alive", "age_s", "expected"), [
    (None, False, 0, "take"),
    (("me", "boot", 10), False, 0, "take"),          # our own lease
    (("me", "boot", 11), True, 0, "refuse"),         # another daemon here, running
    (("me", "boot", 11), False, 0, "takeover"),      # its process died (same boot)
    (("me", "old-boot", 11), False, 5, "refuse"),    # another boot: only the heartbeat tells
    (("other", "boot", 11), False, 59, "refuse"),    # another host, fresh heartbeat
    (("other", "boot", 11), False, 60, "takeover"),  # another host, stale: a crash
])
def test_the_lease_decision(held: tuple[str, str, int] | None, alive: bool, age_s: int,
                            expected: str) -> None:
    from bodycam_ingest.custody.stations import Lease, lease_decision

    mine = Lease("me", "boot", 10, T)
    holder = None if held is None else Lease(*held, T - timedelta(seconds=age_s))
    assert lease_decision(holder, mine, T, alive=alive) == expected


def test_a_key_is_refused_only_when_its_id_has_other_published_keys() -> None:
    from bodycam_ingest.custody.stations import key_refusal

    assert key_refusal("A", "k1", set()) is None
    assert key_refusal("A", "k1", {"k0", "k1"}) is None
    refused = key_refusal("A", "k2", {"k0", "k1"})
    assert refused is not None and refused.exit_code == ExitCode.CONFIG
    assert "give this station its own station.id" in refused.message().lower()


def test_a_rotated_key_is_published_and_the_station_keeps_starting(
        bureau: tuple[StationEnv, StationEnv], catalog_url: str) -> None:
    a, b = bureau
    a.run("keys", "rotate", "--reason", "yearly rotation", check=True)
    assert len(sql(catalog_url, "SELECT key_id FROM station_keys WHERE station_id = "
                                "'station-a'")) == 2
    assert len(ids(a)) == 2
    code, report = bureau_audit(b)  # run from B: A's part is checked from the catalog only
    assert code == 0, [part["findings"] for part in report["stations"]]
    parts = {part["station"]: part for part in report["stations"]}
    assert len(parts["station-a"]["keys"]) == 2 and parts["station-a"]["depth"] == "catalog"


def test_the_scope_covers_selects_updates_gets_bulk_inserts_and_refuses_unscoped_sessions(
        catalog_url: str) -> None:
    from sqlalchemy import insert, literal, select, update

    from bodycam_ingest.catalog.db import open_catalog
    from bodycam_ingest.catalog.models import Dock, Recording
    from bodycam_ingest.catalog.retention_models import FixityCheck
    from bodycam_ingest.catalog.scope import UnscopedSession
    from bodycam_ingest.catalog.storage_models import Replication

    now = datetime.now(UTC)
    cats = {sid: open_catalog(catalog_url, station_id=sid) for sid in ("A", "B")}
    try:
        made = {}
        for sid, cat in cats.items():
            with cat.session() as session:
                dock = Dock(camera_rule="r", trigger="cli", source="s", actor="t", host="h",
                            pid=1, lock_token=f"tok-{sid}", started_at=now, updated_at=now)
                session.add(dock)
                session.flush()
                row = Recording(sha256="0" * 64, size=1, store_path="p", first_dock_id=dock.id,
                                camera_path="c", ingested_at=now, zone="UTC", status="ok")
                session.add(row)  # the same digest at both: unique per station
                session.flush()
                made[sid] = row.id
        with cats["A"].session() as session:
            assert session.scalars(select(Recording.id)).all() == [made["A"]]
            assert session.get(Recording, made["B"]) is None
            assert session.execute(update(Recording).values(status="x")).rowcount == 1
            session.execute(insert(FixityCheck), [
                {"recording_id": made["A"], "checked_at": now, "ok": True, "source": "scrub",
                 "actor": "t"}])
            with pytest.raises(UnscopedSession):
                session.execute(insert(Replication).from_select(
                    ["recording_id", "sha256", "size", "target", "state", "queued_at",
                     "attempts", "next_attempt_at", "legal_hold"],
                    select(Recording.id, Recording.sha256, Recording.size, literal("t"),
                           literal("queued"), literal(now), literal(0), literal(now),
                           literal(False))))
        with cats["B"].reading() as session:
            assert session.scalars(select(Recording.status)).all() == ["ok"]
        with cats["A"].reading(bureau=True) as session:
            assert sorted(session.scalars(select(Recording.station_id))) == ["A", "B"]
        assert sql(catalog_url, "SELECT station_id FROM fixity_checks") == [("A",)]
        unscoped = open_catalog(catalog_url)
        try:
            with pytest.raises(UnscopedSession), unscoped.reading() as session:
                session.scalars(select(Recording)).all()
        finally:
            unscoped.close()
    finally:
        for cat in cats.values():
            cat.close()
