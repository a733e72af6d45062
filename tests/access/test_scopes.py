"""Who may do what, as real OS users through the daemon's socket (issue 8): officers label and
explain only their own recordings, auditors read and audit but do not label, and commands on the
station's own files refuse everyone but its service account, each with the fix."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

from access_support import add_account, ensure_user, run_as, running_daemon
from conftest_media import FolderCamera
from helpers import StationEnv

from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera

# A profile no generated recording matches: every recording gets a parameter_change finding.
STRICT_PROFILE = '\n[analysis.profiles.DSJ9X001]\nresolutions = ["1920x1080"]\n'


def _rows(station: StationEnv, statement: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(station.db, timeout=30) as db:
        return db.execute(statement, params).fetchall()


def _events(station: StationEnv, action: str) -> list[tuple[object, ...]]:
    return _rows(station, "SELECT actor, recording_id FROM events WHERE action = ? ORDER BY seq",
                 action)


def _two_officers(station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    """Recordings 1-3 of officer A1024, recording 4 of officer B2048; each with a finding."""
    station.config_path.write_text(station.config_path.read_text() + STRICT_PROFILE)
    other = tmp_path / "camera-b2048"
    build_folder_camera(other, CameraSpec(officer="B2048", segments=1, seconds=1.0,
                                          start=datetime(2026, 11, 21, 9, 0)))
    station.run("ingest", str(folder_camera.root), check=True)
    station.run("ingest", str(other), check=True)


def test_an_officer_labels_and_explains_only_their_own_recordings(
        shared_station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    officer = ensure_user("officer-a").pw_name
    add_account(shared_station, "zhang.a1024", ["officer"], os_user=officer,
                officer_number="A1024")
    _two_officers(shared_station, folder_camera, tmp_path)
    findings = {r: f for f, r in _rows(shared_station, "SELECT id, recording_id FROM "
                                       "findings WHERE current")}
    assert {1, 4} <= set(findings), findings
    with running_daemon(shared_station):
        tagged = run_as(officer, shared_station, "tag", "1", "--case", "C-1", "--json")
        others = run_as(officer, shared_station, "tag", "4", "--case", "C-1")
        by_range = run_as(officer, shared_station, "tag", "--by-officer", "B2048", "--since",
                          "2000-01-01", "--case", "C-1")
        listed = run_as(officer, shared_station, "findings", "--json")
        explained = run_as(officer, shared_station, "explain", str(findings[1]), "--reason",
                           "lens changed at the station", "--json")
        peek = run_as(officer, shared_station, "explain", str(findings[4]), "--reason", "x")
    assert tagged.returncode == 0, tagged.stderr
    assert json.loads(tagged.stdout)["labelled"] == [1]
    assert others.returncode == 4 and "Recording 4 does not exist" in others.stderr
    assert by_range.returncode == 4, by_range.stderr
    assert "Traceback" not in others.stderr + by_range.stderr + peek.stderr
    seen = json.loads(listed.stdout)
    assert {f["recording_id"] for f in seen["unexplained"]} == {1, 2, 3}
    assert explained.returncode == 0, explained.stderr
    assert json.loads(explained.stdout)["explanations"][0]["actor"] == "zhang.a1024"
    assert peek.returncode == 4 and f"Finding {findings[4]} does not exist" in peek.stderr
    assert _rows(shared_station, "SELECT recording_id, actor, case_number FROM custody_labels"
                 ) == [(1, "zhang.a1024", "C-1")]
    assert _events(shared_station, "label_set") == [("zhang.a1024", 1)]
    assert _events(shared_station, "finding_explained") == [("zhang.a1024", 1)]
    assert _events(shared_station, "access_refused") == [("zhang.a1024", 4), ("zhang.a1024", 4)]


def test_an_auditor_reads_the_log_and_audits_but_cannot_label(
        shared_station: StationEnv, folder_camera: FolderCamera) -> None:
    auditor = ensure_user("auditor").pw_name
    add_account(shared_station, "qian.audit", ["auditor"], os_user=auditor)
    shared_station.run("ingest", str(folder_camera.root), check=True)
    with running_daemon(shared_station):
        log = run_as(auditor, shared_station, "log", "1", "--json")
        audit = run_as(auditor, shared_station, "audit", "--json", "--no-deadlines")
        tag = run_as(auditor, shared_station, "tag", "1", "--case", "C-1")
    assert log.returncode == 0, log.stderr
    entries = json.loads(log.stdout)
    assert entries[0]["action"] == "recording_ingested"
    assert all(e["details"] is None or isinstance(e["details"], dict) for e in entries)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    report = json.loads(audit.stdout)
    assert report["clean"] and "custody_log" in report["checked"]
    assert all(" " not in key for key in report["checked"])
    assert tag.returncode == 5
    assert "qian.audit" in tag.stderr and "labels.add" in tag.stderr
    assert "custodian" in tag.stderr and "Traceback" not in tag.stderr
    assert _events(shared_station, "custody_log_viewed") == [("qian.audit", None)]
    assert _events(shared_station, "audit_run") == [("qian.audit", None)]
    assert _rows(shared_station, "SELECT count(*) FROM custody_labels") == [(0,)]


def test_commands_on_the_station_files_refuse_a_person_and_name_the_fix(
        shared_station: StationEnv, folder_camera: FolderCamera) -> None:
    clerk = ensure_user("clerk").pw_name
    add_account(shared_station, "li.clerk", ["custodian", "admin"], os_user=clerk)
    before = _rows(shared_station, "SELECT count(*) FROM events")
    key = shared_station.root / "state" / "keys" / "station.key"
    key_before = key.read_bytes()
    ingest = run_as(clerk, shared_station, "ingest", str(folder_camera.root))
    keys_init = run_as(clerk, shared_station, "keys", "init")
    for result, command in ((ingest, "ingest"), (keys_init, "keys init")):
        assert result.returncode == 5, result.stderr
        message = " ".join(result.stderr.split())
        assert f"bodycam {command} works on the station's own files" in message
        assert f"OS user {clerk} is not it" in message
        assert f"sudo -u root bodycam {command}" in message
        assert "Traceback" not in result.stderr
    assert _rows(shared_station, "SELECT count(*) FROM events") == before
    assert key.read_bytes() == key_before
