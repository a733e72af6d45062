"""Who is acting is what the kernel says: real OS users through the daemon's socket (issue 8)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from access_support import add_account, ensure_user, run_as, running_daemon
from conftest_media import FolderCamera
from helpers import StationEnv


def _other_officers_camera(folder_camera: FolderCamera, root: Path) -> Path:
    """One recording of officer B2048 (same camera model, different officer and bytes)."""
    camera = root / "camera-b2048" / "DCIM" / "100MEDIA"
    camera.mkdir(parents=True)
    source = folder_camera.paths[0]
    target = camera / source.name.replace("A1024", "B2048")
    shutil.copy2(source, target)
    with target.open("ab") as handle:
        handle.write(b"another officer's recording")
    return camera.parent.parent


def _events(station: StationEnv, action: str) -> list[tuple[str, int | None]]:
    with sqlite3.connect(station.db, timeout=30) as db:
        return db.execute("SELECT actor, recording_id FROM events WHERE action = ? ORDER BY seq",
                          (action,)).fetchall()


def test_an_unmapped_os_user_is_refused_with_the_command_that_maps_them(
        shared_station: StationEnv) -> None:
    stranger = ensure_user("stranger").pw_name
    with running_daemon(shared_station):
        result = run_as(stranger, shared_station, "list")
    assert result.returncode == 5, result.stderr
    assert f"OS user {stranger}" in result.stderr and "not mapped" in result.stderr
    assert f"bodycam users map LOGIN {stranger}" in result.stderr
    assert "Traceback" not in result.stderr


def test_logname_cannot_change_who_acts_the_kernel_uid_decides(
        shared_station: StationEnv, folder_camera: FolderCamera) -> None:
    clerk = ensure_user("clerk").pw_name
    add_account(shared_station, "li.clerk", ["custodian"], os_user=clerk)
    shared_station.run("ingest", str(folder_camera.root), check=True)
    forged = {"LOGNAME": "chief-wang", "USER": "chief-wang", "BODYCAM_ACTOR": "chief-wang"}
    with running_daemon(shared_station):
        me = json.loads(run_as(clerk, shared_station, "whoami", "--json", env=forged).stdout)
        shown = run_as(clerk, shared_station, "show", "1", env=forged)
    assert me["login"] == "li.clerk" and me["roles"] == ["custodian"] and not me["system"]
    assert me["os_user"] == clerk
    assert shown.returncode == 0, shown.stderr
    assert _events(shared_station, "recording_viewed") == [("li.clerk", 1)]


def test_an_officer_sees_only_their_own_recordings_and_a_peek_is_logged(
        shared_station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    officer = ensure_user("officer-a").pw_name
    add_account(shared_station, "zhang.a1024", ["officer"], os_user=officer,
                officer_number="A1024")
    shared_station.run("ingest", str(folder_camera.root), check=True)
    shared_station.run("ingest", str(_other_officers_camera(folder_camera, tmp_path)),
                       check=True)
    with running_daemon(shared_station):
        listed = run_as(officer, shared_station, "list", "--json")
        assert listed.returncode == 0, listed.stderr
        mine = json.loads(listed.stdout)
        others = json.loads(run_as(officer, shared_station, "list", "--json", "--officer",
                                   "B2048").stdout)
        peek = run_as(officer, shared_station, "show", "4")
        own = run_as(officer, shared_station, "show", "1")
    assert sorted(r["id"] for r in mine) == [1, 2, 3]
    assert {r["name_officer"] for r in mine} == {"A1024"}
    assert others == []
    assert peek.returncode == 4 and "Recording 4 does not exist" in peek.stderr
    assert own.returncode == 0, own.stderr
    assert _events(shared_station, "access_refused") == [("zhang.a1024", 4)]
    assert _events(shared_station, "recording_viewed") == [("zhang.a1024", 1)]
