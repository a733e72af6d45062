"""Priority 1 of issue 4: the hash-chained custody log, signed checkpoints, station keys and the
signed dock manifest, checked with the standard tools a defence expert would use."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest
from alembic import command
from custody_support import audit, ingest, problems, sql
from helpers import StationEnv, write_config
from sqlalchemy import text

from bodycam_ingest.catalog.db import _alembic_config, open_catalog
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.custody import eventlog, keys
from bodycam_ingest.custody.chain import verify_chain
from bodycam_ingest.custody.manifest import parse_manifest


def _manifest_files(station: StationEnv) -> list[Path]:
    return sorted((station.root / "state" / "manifests").glob("*.json"))


def test_every_event_is_chained_from_the_first_and_checkpointed(station: StationEnv,
                                                                fresh_camera: Path) -> None:
    ingest(station, fresh_camera)
    rows = sql(station, "SELECT seq, prev_digest, digest FROM events ORDER BY id")
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert all(after[1] == before[2] for before, after in pairwise(rows))
    catalog = open_catalog(station.config.storage.db_url, migrate=False,
                           station_id=station.config.station.id)
    try:
        with catalog.reading() as session:
            assert verify_chain(eventlog.entries(session)) == []
            checkpoints = eventlog.checkpoints(session)
    finally:
        catalog.close()
    assert checkpoints, "the dock's hook signs a checkpoint"
    assert checkpoints[-1].seq <= rows[-1][0]


def test_dock_manifest_verifies_with_openssl_and_sha256sum(station: StationEnv,
                                                           fresh_camera: Path) -> None:
    ingest(station, fresh_camera)
    [manifest] = _manifest_files(station)
    signature, listing = manifest.with_suffix(".sig"), manifest.with_suffix(".sha256")
    pub = station.root / "state" / "keys" / "station.pub"
    ok = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin",
                         "-in", str(manifest), "-sigfile", str(signature)],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert subprocess.run(["sha256sum", "-c", "--strict", str(listing)], cwd=fresh_camera,
                          capture_output=True, check=False).returncode == 0
    parsed = parse_manifest(manifest.read_bytes())
    assert parsed.previous_digest is None and len(parsed.entries) == 2
    assert {e.officer for e in parsed.entries} == {"A1024"}
    assert oct(manifest.stat().st_mode & 0o777) == "0o444"


def test_each_manifest_names_the_digest_of_the_one_before(station: StationEnv, fresh_camera: Path,
                                                          second_camera: Path) -> None:
    ingest(station, fresh_camera)
    ingest(station, second_camera)
    first, second = (parse_manifest(p.read_bytes()) for p in _manifest_files(station))
    rows = sql(station, "SELECT dock_id, digest, previous_digest FROM custody_manifests ORDER BY id")
    assert rows[0][2] is None and rows[1][2] == rows[0][1]
    assert second.previous_digest == rows[0][1] and first.dock_id == str(rows[0][0])


def test_without_a_station_key_the_dock_is_incomplete_and_nothing_is_wiped(
        tmp_path: Path, fresh_camera: Path) -> None:
    root = tmp_path / "station"
    root.mkdir()
    env = StationEnv(root, write_config(root, "wipe_after_ingest = true", station_key=False))
    result = env.run("ingest", str(fresh_camera), "--json")
    assert result.returncode == 7
    reason = json.loads(result.stdout)["reason"]
    assert "no station key" in reason and "bodycam keys init" in reason
    assert len(list(fresh_camera.rglob("*.MP4"))) == 2, "nothing may be wiped without a manifest"
    assert _manifest_files(env) == []
    env.run("keys", "init", check=True)  # signs the manifests docks left pending
    assert len(_manifest_files(env)) == 1
    code, report = audit(env, "--no-deadlines")
    assert code == 0, problems(report)


def test_a_key_file_readable_by_others_is_refused(station: StationEnv, fresh_camera: Path) -> None:
    key = station.root / "state" / "keys" / "station.key"
    key.chmod(0o644)
    shown = station.run("keys", "show")
    assert shown.returncode == 5
    assert f"chmod 600 {key}" in shown.stderr.replace("\n", "")
    dock = station.run("ingest", str(fresh_camera), "--json")
    assert dock.returncode == 7 and f"chmod 600 {key}" in json.loads(dock.stdout)["reason"]


def test_keys_init_refuses_to_replace_a_key_and_rotation_keeps_old_signatures_valid(
        station: StationEnv, fresh_camera: Path, second_camera: Path) -> None:
    again = station.run("keys", "init")
    assert again.returncode == 5 and "keys rotate" in again.stderr
    ingest(station, fresh_camera)
    old = station.run("keys", "show", "--json", check=True).stdout
    station.run("keys", "rotate", "--reason", "yearly rotation", check=True)
    ingest(station, second_camera)
    new = station.run("keys", "show", "--json", check=True).stdout
    assert old != new
    exported = station.root / "pub"
    station.run("keys", "export", "--to", str(exported), check=True)
    assert len(list((exported / "keyring").glob("*.pub"))) == 2
    code, report = audit(station, "--no-deadlines")
    assert code == 0, problems(report)
    assert sql(station, "SELECT count(*) FROM events WHERE action='key_rotated' "
                        "AND reason='yearly rotation'") == [(1,)]


def test_a_camera_path_with_a_colon_is_signed_percent_encoded(station: StationEnv,
                                                              fresh_camera: Path) -> None:
    media = next(fresh_camera.rglob("*_0001.MP4"))
    media.rename(media.with_name("A1024_DSJ9X001_12:30%_0001.MP4"))
    ingest(station, fresh_camera)
    [manifest] = _manifest_files(station)
    paths = [e.camera_path for e in parse_manifest(manifest.read_bytes()).entries]
    assert "DCIM/100MEDIA/A1024_DSJ9X001_12%3A30%25_0001.MP4" in paths
    _, report = audit(station, "--no-deadlines")
    # the continuity analysis rightly flags a renamed file; custody finds nothing wrong
    assert [p for p in problems(report) if not p.startswith("continuity")] == []


def test_concurrent_writers_never_fork_the_chain(tmp_path: Path) -> None:
    catalog = open_catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}", lock_dir=tmp_path,
                           station_id="s1")
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for i in range(25):
                with catalog.session() as session:
                    record_event(session, at=datetime.now(UTC), actor=name, action="test",
                                 details={"i": i})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not errors
        with catalog.reading() as session:
            entries = eventlog.entries(session)
        assert [e.seq for e in entries] == list(range(1, 76))
        assert verify_chain(entries) == []
    finally:
        catalog.close()


def test_migration_chains_events_written_before_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    catalog = open_catalog(url, migrate=False)
    try:
        cfg = _alembic_config()
        with catalog.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "0002")
        with catalog.engine.begin() as connection:
            for n in range(3):
                connection.execute(text("INSERT INTO events (at, actor, action, details) VALUES "
                                        "(:at, 'old', 'legacy', :d)"),
                                   {"at": datetime(2026, 1, 1, 8, 0, n, 5), "d": f'{{"n": {n}}}'})
        catalog.close()
        catalog = open_catalog(url, lock_dir=tmp_path, station_id="s1")  # 0009: rows to s1
        with catalog.session() as session:
            record_event(session, at=datetime.now(UTC), actor="new", action="after_migration")
        with catalog.reading() as session:
            entries = eventlog.entries(session)
        assert [e.seq for e in entries] == [1, 2, 3, 4]
        assert verify_chain(entries) == []
    finally:
        catalog.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="keys are created as this user; mode check only")
def test_generated_private_key_is_mode_0600(station: StationEnv) -> None:
    key = station.root / "state" / "keys" / "station.key"
    assert key.stat().st_mode & 0o777 == 0o600
    keys.load_private(key)
