"""Issue 9 item 2 and D3: the custody history is anchored outside the catalog.

Someone who can write the catalog but cannot read the station key can neither rewrite nor cut the
custody log without the audit failing: every checkpoint is also a signed file (chained to the one
before it) beside the dock manifests, and every signed dock manifest records the log's head. Each
attack below is run with plain SQL on the real catalog of a real station, then ``bodycam audit``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from access_support import approve_request
from helpers import StationEnv, write_config

from bodycam_ingest.custody import keys
from bodycam_ingest.custody.chain import entry_digest
from bodycam_ingest.custody.logfields import event_fields
from bodycam_ingest.custody.manifest import format_timestamp
from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera

EXPORT = ("--recipient", "court", "--recipient-name", "天河区人民法院", "--reason",
          "court investigation order 7")


def _camera(root: Path) -> Path:
    """Two one-second recordings that ended minutes ago (no deadline is missed)."""
    local = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    build_folder_camera(root, CameraSpec(segments=2, seconds=1.0,
                                         start=local - timedelta(minutes=10)))
    return root


def sql(station: StationEnv, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(station.db) as db:
        return db.execute(statement, params).fetchall()


def audit(station: StationEnv) -> tuple[int, list[str]]:
    result = station.run("audit", "--json", "--no-deadlines", timeout=300)
    assert result.returncode in (0, 9), result.stderr
    report = json.loads(result.stdout)
    return result.returncode, [f"{f['section']}: {f['object']}: {f['problem']}"
                               for f in report["findings"]]


def found(station: StationEnv, *words: str) -> list[str]:
    code, problems = audit(station)
    assert code == 9, problems
    assert any(all(w in p for w in words) for p in problems), (words, problems)
    return problems


def checkpoint_dir(station: StationEnv) -> Path:
    return station.root / "state" / "manifests" / "checkpoints"


def checkpoint_files(station: StationEnv) -> list[Path]:
    return sorted(checkpoint_dir(station).glob("*.json"), key=lambda p: int(p.name.split("-")[0]))


def rewrite_log(station: StationEnv, edit: str, *params: Any) -> int:
    """What an insider with the catalog (not the key) does: ``edit`` the events, renumber them
    without holes, recompute every digest with the documented formula, drop the checkpoints from
    the first changed entry on, and fix the chain head. Returns the first changed seq."""
    before = dict(sql(station, "SELECT seq, digest FROM events"))
    sql(station, edit, *params)
    rows = sql(station, "SELECT id, at, actor, action, dock_id, recording_id, subject, reason, "
                        "approved_by, details FROM events ORDER BY seq")
    prev, first_changed = "0" * 64, 0
    for seq, row in enumerate(rows, start=1):
        at = datetime.fromisoformat(row[1]).replace(tzinfo=UTC)
        fields = event_fields(at=at, actor=row[2], action=row[3], dock_id=row[4],
                              recording_id=row[5], subject=row[6], reason=row[7],
                              approved_by=row[8], details=row[9])
        digest = entry_digest(prev, seq, fields)
        sql(station, "UPDATE events SET seq = ?, prev_digest = ?, digest = ? WHERE id = ?", seq,
            prev, digest, row[0])
        if not first_changed and before.get(seq) != digest:
            first_changed = seq
        prev = digest
    assert first_changed, "the edit changed nothing"
    sql(station, "DELETE FROM custody_checkpoints WHERE seq >= ?", first_changed)
    sql(station, "UPDATE custody_chain_head SET seq = ?, digest = ?", len(rows), prev)
    return first_changed


@pytest.fixture(scope="module")
def docked_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A station after one dock and two commands that logged, audited clean (built once)."""
    root = tmp_path_factory.mktemp("anchors") / "station"
    root.mkdir()
    station = StationEnv(root=root, config_path=write_config(root))
    station.run("ingest", str(_camera(root.parent / "camera")), "--json", check=True)
    station.run("log", "1", check=True)
    station.run("log", "2", check=True)
    code, problems = audit(station)
    assert code == 0, problems
    return root


@pytest.fixture
def docked(docked_master: Path, tmp_path: Path) -> StationEnv:
    """A private copy of the docked station (its config names its own folder)."""
    root = tmp_path / "station"
    shutil.copytree(docked_master, root, symlinks=True)
    config = write_config(root)
    return StationEnv(root=root, config_path=config)


# --------------------------------------------------------------------------- a clean station


def test_a_clean_station_has_chained_signed_checkpoint_files_and_audits_clean(
        docked: StationEnv) -> None:
    code, problems = audit(docked)
    assert code == 0, problems
    files = checkpoint_files(docked)
    rows = sql(docked, "SELECT seq, head_digest FROM custody_checkpoints ORDER BY id")
    assert [f"{seq}-{head}.json" for seq, head in rows] == [f.name for f in files[:len(rows)]]
    assert len(files) >= 3  # after the dock, and after each command that logged
    previous = None
    pub = docked.root / "state" / "keys" / "station.pub"
    for path in files:
        body = json.loads(path.read_bytes())
        assert body["format"] == "bodycam-checkpoint/2"
        assert body["previous_checkpoint_sha256"] == previous
        previous = __import__("hashlib").sha256(path.read_bytes()).hexdigest()
        assert stat.S_IMODE(path.stat().st_mode) == 0o440
        verified = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(pub),
                                   "-rawin", "-in", str(path), "-sigfile",
                                   str(path.with_suffix(".sig"))], capture_output=True, check=False)
        assert verified.returncode == 0, verified.stderr
    [manifest] = (docked.root / "state" / "manifests").glob("*.json")
    body = json.loads(manifest.read_bytes())
    assert body["format"] == "bodycam-manifest/2"
    head = body["custody_log_head"]
    assert sql(docked, "SELECT digest FROM events WHERE seq = ?", head["seq"]) == [(head["sha256"],)]


def test_the_log_after_the_last_anchor_is_only_the_command_running_now(docked: StationEnv) -> None:
    """Every command that appended signed a checkpoint on its way out: the unprotected tail is
    empty between commands."""
    docked.run("log", "1", check=True)
    [(last,)] = sql(docked, "SELECT max(seq) FROM events")
    assert checkpoint_files(docked)[-1].name.startswith(f"{last}-")


# --------------------------------------------------------------------------- D3


def test_d3_a_rewritten_log_with_recomputed_digests_cut_checkpoints_and_fixed_head_is_found(
        docked: StationEnv) -> None:
    first = rewrite_log(docked, "UPDATE events SET actor = 'mallory' WHERE seq = 2")
    assert first == 2
    problems = found(docked, "custody_log", "rewritten")
    assert any("has no row in the catalog" in p for p in problems), problems


def test_d3_deleting_every_checkpoint_row_is_found(docked: StationEnv) -> None:
    names = [f.name for f in checkpoint_files(docked)]
    sql(docked, "DELETE FROM custody_checkpoints")
    problems = found(docked, "custody_log", "has no row in the catalog")
    assert all(any(name in p for p in problems) for name in names), problems


def test_d3_cutting_the_end_of_the_log_and_its_checkpoints_is_found(docked: StationEnv) -> None:
    [(last,)] = sql(docked, "SELECT max(seq) FROM events")
    sql(docked, "DELETE FROM events WHERE seq > ?", last - 3)
    sql(docked, "DELETE FROM custody_checkpoints WHERE seq > ?", last - 3)
    [(digest,)] = sql(docked, "SELECT digest FROM events WHERE seq = ?", last - 3)
    sql(docked, "UPDATE custody_chain_head SET seq = ?, digest = ?", last - 3, digest)
    found(docked, "custody_log", f"ends at entry {last - 3}", "removed from the end")


def test_d3_hiding_an_exports_entries_is_found(docked: StationEnv, tmp_path: Path) -> None:
    result = docked.run("export", "1", *EXPORT, "--json", check=True)
    request = json.loads(result.stdout)["request"]
    approve_request(docked, request["id"])
    docked.run("requests", "fetch", str(request["id"]), "--to", str(tmp_path / "pkg"), check=True)
    exported = sql(docked, "SELECT seq FROM events WHERE action = 'recording_exported'")
    assert exported
    code, problems = audit(docked)
    assert code == 0, problems
    rewrite_log(docked, "DELETE FROM events WHERE action LIKE 'request%' OR action LIKE '%export%'")
    assert sql(docked, "SELECT count(*) FROM events WHERE action = 'recording_exported'") == [(0,)]
    found(docked, "custody_log", "rewritten")


def test_d3_a_manifest_head_that_the_log_no_longer_holds_is_found(docked: StationEnv) -> None:
    """Even with every checkpoint gone (rows and files), the dock manifest's signed head still
    catches a log rewritten from before it."""
    [manifest] = (docked.root / "state" / "manifests").glob("*.json")
    head = json.loads(manifest.read_bytes())["custody_log_head"]
    rewrite_log(docked, "UPDATE events SET reason = 'nothing happened' WHERE seq = 1")
    sql(docked, "DELETE FROM custody_checkpoints")
    shutil.rmtree(checkpoint_dir(docked))
    found(docked, "custody_log", f"dock manifest {manifest.name}",
          f"custody entry {head['seq']} differs", "rewritten")


def test_a_deleted_checkpoint_file_is_found(docked: StationEnv) -> None:
    files = checkpoint_files(docked)
    middle = files[len(files) // 2]
    for path in (middle, middle.with_suffix(".sig")):
        path.unlink()
    problems = found(docked, "custody_log", "has no signed checkpoint file")
    assert any("does not chain" in p for p in problems), problems


def test_an_altered_checkpoint_row_is_named_against_its_file(docked: StationEnv) -> None:
    sql(docked, "UPDATE custody_checkpoints SET at = '2020-01-01 00:00:00.000000' WHERE id = 1")
    found(docked, "custody_log", "the catalog's checkpoint of entry", "the row was altered")


# --------------------------------------------------------------------------- crash and upgrade


def test_a_checkpoint_file_whose_row_a_crash_lost_is_taken_back(docked: StationEnv) -> None:
    """A crash between the file's rename and the commit leaves the newest file without its row:
    the audit names it, the next checkpoint records it from the signed file, and all is clean."""
    [(last_id,)] = sql(docked, "SELECT max(id) FROM custody_checkpoints")
    sql(docked, "DELETE FROM custody_checkpoints WHERE id = ?", last_id)
    found(docked, "has no row in the catalog")  # the audit itself then logs and checkpoints
    code, problems = audit(docked)
    assert code == 0, problems


def test_an_upgraded_station_gets_files_for_its_existing_checkpoints(docked: StationEnv) -> None:
    """A station from before anchors: unchained (/1) checkpoint rows and no files. The first
    checkpoint after the upgrade writes a /1 file for each row and chains to them."""
    from bodycam_ingest.custody.chain import CHECKPOINT_FORMAT_V1, checkpoint_bytes

    shutil.rmtree(checkpoint_dir(docked))
    sql(docked, "DELETE FROM custody_checkpoints")
    key = keys.load_private(docked.root / "state" / "keys" / "station.key")
    ident = keys.key_id(key.public_key())
    legacy = []
    for seq, digest in sql(docked, "SELECT seq, digest FROM events WHERE seq IN (3, 5)"):
        at = datetime(2026, 1, 1, 8, seq, tzinfo=UTC)
        signature = keys.sign(key, checkpoint_bytes(seq, digest, at, ident,
                                                    format=CHECKPOINT_FORMAT_V1))
        sql(docked, "INSERT INTO custody_checkpoints (station_id, seq, head_digest, at, key_id, signature) "
                    "VALUES ('test-station', ?, ?, ?, ?, ?)", seq, digest,
            format_timestamp(at).replace("T", " ").removesuffix("Z") + ".000000", ident,
            signature.hex())
        legacy.append(seq)
    docked.run("log", "1", check=True)  # any command that logs signs the next checkpoint
    files = checkpoint_files(docked)
    bodies = [json.loads(p.read_bytes()) for p in files]
    assert [b["seq"] for b in bodies[:2]] == legacy
    assert [b["format"] for b in bodies] == [CHECKPOINT_FORMAT_V1] * 2 + [
        "bodycam-checkpoint/2"] * (len(bodies) - 2)
    assert bodies[2]["previous_checkpoint_sha256"] == __import__("hashlib").sha256(
        files[1].read_bytes()).hexdigest()
    code, problems = audit(docked)
    assert code == 0, problems


def test_a_manifest_without_a_head_still_parses_as_format_1() -> None:
    from bodycam_ingest.custody.manifest import (
        LogHead,
        Manifest,
        ManifestEntry,
        canonical_bytes,
        parse_manifest,
    )

    at = datetime(2026, 1, 1, tzinfo=UTC)
    entry = ManifestEntry("DCIM/A.MP4", 1, "a" * 64, "CAM", None, None, at)
    old = Manifest("ST", "1", "CAM", at, at, (entry,), None)
    assert old.format == "bodycam-manifest/1"
    assert parse_manifest(canonical_bytes(old)) == old
    new = replace(old, custody_head=LogHead(7, "b" * 64), format="")
    assert new.format == "bodycam-manifest/2"
    assert parse_manifest(canonical_bytes(new)) == new
    assert b'"custody_log_head":{"seq":7,"sha256":"' + b"b" * 64 in canonical_bytes(new)


def test_anchor_files_lists_checkpoints_and_signed_manifests(docked: StationEnv) -> None:
    from bodycam_ingest.custody.anchors import anchor_files

    listed = {p.name for p in anchor_files(docked.root / "state" / "manifests")}
    for path in checkpoint_files(docked):
        assert {path.name, path.with_suffix(".sig").name} <= listed
    assert any(n.endswith(".sha256") for n in listed)
    assert all(os.path.exists(p) for p in anchor_files(docked.root / "state" / "manifests"))


def test_d3_a_deletion_manifest_records_the_head_and_catches_a_rewrite_before_it(
        tmp_path: Path) -> None:
    """A retention run's signed deletion manifest carries the custody log's head: with every
    checkpoint gone (rows and files), a log rewritten before the run is still found by it."""
    sys.path.insert(0, str(Path(__file__).parent / "retention_integration"))
    from sweep_support import DAY, Clock, dock, make_env, open_station, utc

    from bodycam_ingest.custody import service as custody
    from bodycam_ingest.custody.audit import AuditInputs, audit
    from bodycam_ingest.retention import deletion_manifest
    from bodycam_ingest.retention.service import run_sweep

    start = utc(2024, 3, 1, 9, 0)
    clock = Clock(start)
    env = make_env(tmp_path / "station")
    station = open_station(env, clock)
    try:
        ids = dock(station, tmp_path / "cams", segments=1)
        clock.now = start + 731 * DAY
        run_sweep(station, trigger="test")
        clock.now = start + 739 * DAY
        assert run_sweep(station, trigger="test").deleted == ids
        custody.checkpoint(station)
    finally:
        station.close()
    folder = deletion_manifest.directory_of(env.root / "state" / "manifests")
    [manifest] = folder.glob("*.json")
    head = json.loads(manifest.read_bytes())["custody_log_head"]
    assert sql(env, "SELECT digest FROM events WHERE seq = ?", head["seq"]) == [(head["sha256"],)]
    [(dock_signed,)] = sql(env, "SELECT min(seq) FROM events WHERE action = 'manifest_signed'")
    assert head["seq"] > dock_signed + 1  # after the dock manifest's own head: only it covers this

    rewrite_log(env, "UPDATE events SET reason = 'never deleted' WHERE seq = ?", head["seq"] - 1)
    sql(env, "DELETE FROM custody_checkpoints")
    shutil.rmtree(checkpoint_dir(env))
    reopened = open_station(env, clock)
    try:
        with reopened.catalog.reading() as session:
            report = audit(session, AuditInputs(
                store_root=reopened.store.root,
                manifest_dir=custody.manifest_dir(reopened.config),
                key_dir=custody.key_dir(reopened.config)))
    finally:
        reopened.catalog.close()
    problems = [f"{f.section}: {f.problem}" for f in report.findings]
    assert any(f"deletion manifest {manifest.name}" in p and
               f"custody entry {head['seq']} differs" in p for p in problems), problems


def test_a_checkpoint_folder_that_cannot_be_written_is_named_not_a_traceback(
        docked: StationEnv) -> None:
    shutil.rmtree(checkpoint_dir(docked))
    checkpoint_dir(docked).write_text("not a folder")
    result = docked.run("log", "1")
    assert result.returncode == 0, result.stderr  # the command's own work is done and logged
    assert "cannot write a checkpoint file" in result.stderr and "Traceback" not in result.stderr
    found(docked, "custody_log", "checkpoint files", "cannot be read")
