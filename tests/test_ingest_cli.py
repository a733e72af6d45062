"""A camera folder becomes verified, immutable, catalogued evidence; every outcome has its exit code."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest_media import FolderCamera, sha256_of
from helpers import StationEnv


def _catalog(station: StationEnv, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(station.db) as db:
        return db.execute(sql).fetchall()


def _copy_camera(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, copy_function=shutil.copy2)
    return dest


def test_ingest_stores_every_recording_with_the_digest_sha256sum_gives(
        station: StationEnv, folder_camera: FolderCamera) -> None:
    files = sorted((folder_camera.root / "DCIM").rglob("*.MP4"))
    result = station.run("ingest", str(folder_camera.root), "--json", check=True)
    report = json.loads(result.stdout)
    assert (report["outcome"], report["stored"], report["failed"]) == ("complete", len(files), [])

    listed = subprocess.run(["sha256sum", *map(str, files)], capture_output=True, text=True,
                            check=True).stdout.split("\n")
    expected = {Path(line.split("  ", 1)[1]).name: line.split("  ", 1)[0]
                for line in listed if line}
    rows = _catalog(station, "SELECT camera_path, sha256, size, status, store_path FROM recordings")
    assert {Path(path).name: digest for path, digest, *_ in rows} == expected
    for _path, digest, size, status, store_path in rows:
        stored = station.store / store_path
        assert store_path == f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"
        assert sha256_of(stored) == digest and stored.stat().st_size == size
        assert stat.S_IMODE(stored.stat().st_mode) == 0o440, "stored evidence must be read-only"
        assert status == "ok"
    assert os.listdir(station.staging) == []
    events = [a for (a,) in _catalog(station, "SELECT action FROM events ORDER BY id")]
    assert events[0] == "dock_started" and events[-1] == "dock_finished"
    assert events.count("recording_ingested") == len(files)


def test_ingest_never_writes_to_the_camera(station: StationEnv, folder_camera: FolderCamera) -> None:
    before = {p: (p.stat().st_mtime_ns, sha256_of(p)) for p in folder_camera.root.rglob("*")
              if p.is_file()}
    station.run("ingest", str(folder_camera.root), check=True)
    after = {p: (p.stat().st_mtime_ns, sha256_of(p)) for p in folder_camera.root.rglob("*")
             if p.is_file()}
    assert before == after


def test_probe_summary_is_kept(station: StationEnv, folder_camera: FolderCamera) -> None:
    station.run("ingest", str(folder_camera.root), check=True)
    shown = json.loads(station.run("show", "1", "--json", check=True).stdout)
    assert shown["video_codec"] == "h264" and shown["audio_codec"] == "aac"
    assert (shown["width"], shown["height"]) == (160, 120)
    assert 1.5 < shown["duration_s"] < 2.6
    assert shown["name_officer"] == "A1024" and shown["name_device"] == "DSJ9X001"
    assert shown["name_seq"] == 1 and shown["zone"] == "Asia/Shanghai"
    # file names carry camera-local time (UTC+8): 09:30 local is 01:30 UTC
    assert shown["start_utc"].startswith("2026-11-20T01:30:00")
    assert shown["session"] == [1, 2, 3]
    assert [s["copied"] for s in shown["sightings"]] == [True]


def test_docking_again_skips_what_is_already_stored(station: StationEnv,
                                                    folder_camera: FolderCamera) -> None:
    station.run("ingest", str(folder_camera.root), check=True)
    again = json.loads(station.run("ingest", str(folder_camera.root), "--json", check=True).stdout)
    assert (again["stored"], again["skipped"], again["bytes"]) == (0, 3, 0)
    assert _catalog(station, "SELECT count(*) FROM recordings") == [(3,)]
    assert len(station.stored_files()) == 3


def test_same_content_from_another_camera_path_is_stored_once(
        station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    station.run("ingest", str(folder_camera.root), check=True)
    other = _copy_camera(folder_camera.root, tmp_path / "other-cam")
    report = json.loads(station.run("ingest", str(other), "--json", check=True).stdout)
    assert (report["stored"], report["duplicates"]) == (0, 3)
    assert _catalog(station, "SELECT count(*) FROM recordings") == [(3,)]
    assert _catalog(station, "SELECT count(*) FROM sightings") == [(6,)]
    assert len(station.stored_files()) == 3
    actions = [a for (a,) in _catalog(station, "SELECT action FROM events")]
    assert actions.count("content_seen_again") == 3


def test_zero_byte_and_non_video_files_are_kept_as_evidence_and_flagged(
        station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    cam = _copy_camera(folder_camera.root, tmp_path / "cam")
    media = cam / "DCIM" / "100MEDIA"
    (media / "A1024_DSJ9X001_20261120100000_0009.MP4").write_bytes(b"")
    (media / "A1024_DSJ9X001_20261120100500_0010.MP4").write_bytes(b"this is not a video\n" * 50)
    result = station.run("ingest", str(cam), "--json")
    assert result.returncode == 1, result.stderr  # WARNING: finished, something flagged
    report = json.loads(result.stdout)
    assert report["outcome"] == "complete" and report["stored"] == 5
    status = dict(_catalog(station, "SELECT camera_path, status FROM recordings"))
    assert status["DCIM/100MEDIA/A1024_DSJ9X001_20261120100000_0009.MP4"] == "empty"
    assert status["DCIM/100MEDIA/A1024_DSJ9X001_20261120100500_0010.MP4"] == "unreadable"
    flagged = json.loads(station.run("list", "--state", "unreadable", "--json").stdout)
    assert [r["camera_path"] for r in flagged] == [
        "DCIM/100MEDIA/A1024_DSJ9X001_20261120100500_0010.MP4"]


def test_symlinks_and_fifos_on_the_camera_are_refused_and_reported(
        station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    cam = _copy_camera(folder_camera.root, tmp_path / "cam")
    media = cam / "DCIM" / "100MEDIA"
    os.symlink("/etc/passwd", media / "A1024_DSJ9X001_20261120110000_0020.MP4")
    os.mkfifo(media / "A1024_DSJ9X001_20261120110500_0021.MP4")
    result = station.run("ingest", str(cam), "--json", timeout=60)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["stored"] == 3
    reasons = sorted(r["reason"] for r in report["rejected"])
    assert reasons == ["not a regular file (FIFO), not opened", "symbolic link, not followed"]
    logged = _catalog(station, "SELECT subject, reason FROM events WHERE action='entry_rejected'")
    assert len(logged) == 2


def test_list_filters_by_officer_device_date_and_state(station: StationEnv,
                                                       folder_camera: FolderCamera) -> None:
    station.run("ingest", str(folder_camera.root), check=True)

    def ids(*args: str) -> list[int]:
        return [r["id"] for r in json.loads(station.run("list", "--json", *args, check=True).stdout)]

    assert ids() == [1, 2, 3]
    assert ids("--officer", "A1024") == [1, 2, 3]
    assert ids("--officer", "B9") == []
    assert ids("--device", "DSJ9X001") == [1, 2, 3]
    assert ids("--since", "2026-11-20T09:30:01") == [2, 3]  # station-local time
    assert ids("--until", "2026-11-20T09:30:01") == [1]
    assert ids("--state", "ok") == [1, 2, 3]
    table = station.run("list", check=True).stdout
    assert "A1024" in table and "DSJ9X001" in table


def test_unknown_recording_exits_4_with_one_sentence(station: StationEnv) -> None:
    result = station.run("show", "999")
    assert result.returncode == 4
    assert "Recording 999 does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_source_exits_6(station: StationEnv, tmp_path: Path) -> None:
    result = station.run("ingest", str(tmp_path / "nowhere"))
    assert result.returncode == 6
    assert "Cannot read camera" in result.stderr and "Traceback" not in result.stderr


def test_a_config_with_a_wrong_type_exits_3_naming_the_key(station: StationEnv) -> None:
    text = station.config_path.read_text().replace("settle_seconds = 0.5",
                                                   'settle_seconds = "soon"')
    station.config_path.write_text(text)
    result = station.run("list")
    assert result.returncode == 3
    assert "ingest.settle_seconds = 'soon'" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_exits_3_and_says_where_to_put_one(tmp_path: Path) -> None:
    env = StationEnv(root=tmp_path, config_path=tmp_path / "absent.toml")
    result = env.run("list")
    assert result.returncode == 3
    assert "No configuration at" in result.stderr and "--config" in result.stderr


def test_bad_command_line_exits_2(station: StationEnv) -> None:
    assert station.run("list", "--limit", "zero").returncode == 2


def test_a_camera_already_being_ingested_is_refused_with_exit_5(
        station: StationEnv, folder_camera: FolderCamera) -> None:
    from bodycam_ingest.ingest.locks import device_lock_path, try_lock

    held = try_lock(device_lock_path(station.config.storage.runtime, "folder:busy-camera"))
    assert held is not None
    try:
        result = station.run("ingest", str(folder_camera.root), "--device", "folder:busy-camera")
    finally:
        held.release()
    assert result.returncode == 5
    assert "already being ingested by another process" in result.stderr
    assert station.stored_files() == []


def test_staging_on_another_filesystem_than_the_store_exits_8(
        station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a filesystem of its own")
    staging = Path(tempfile.mkdtemp(dir=shm))
    try:
        text = station.config_path.read_text().replace(
            "free_space_reserve = 0", f'free_space_reserve = 0\nstaging_dir = "{staging}"')
        station.config_path.write_text(text)
        result = station.run("ingest", str(folder_camera.root))
    finally:
        shutil.rmtree(staging)
    assert result.returncode == 8
    assert "is on another filesystem" in result.stderr and "Traceback" not in result.stderr
