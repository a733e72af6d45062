"""The daemon: watch folders are docks too; SIGTERM mid-copy rolls back the file and exits 0."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from conftest_media import (
    FatImage,
    FolderCamera,
    SlowCamera,
    loop_device,
    sha256_of,
)
from fusecam import FuseCamera, fuse_available
from helpers import StationEnv, start_daemon, write_config


def _rows(station: StationEnv, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(station.db, timeout=30) as db:
        return db.execute(sql).fetchall()


def _wait(predicate, what: str, log: Path, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log.read_text()}"
        time.sleep(0.1)


def test_a_camera_folder_appearing_in_a_watch_folder_is_ingested(
        tmp_path: Path, folder_camera: FolderCamera) -> None:
    root = tmp_path / "station"
    root.mkdir()
    watch = tmp_path / "cradle"
    # a label no docked device has: this daemon must see the watch folder and nothing else
    station = StationEnv(root=root, config_path=write_config(
        root, extra=f'watch_folders = [{{ path = "{watch}", camera = "cradle-cam" }}]',
        camera='[[cameras]]\nname = "cradle-cam"\nfs_labels = ["NO-SUCH-LABEL"]\n'))
    proc, log = start_daemon(station)
    try:
        shutil.copytree(folder_camera.root, watch / "CAM01")  # the cradle mounts a camera
        _wait(lambda: _rows(station, "SELECT outcome FROM docks WHERE outcome IS NOT NULL"),
              "the watch-folder dock", log)
        assert _rows(station, "SELECT trigger, outcome, source FROM docks") == [
            ("watch", "complete", str(watch / "CAM01"))]
        # a recording that arrives later is picked up by the next settle, and only it is copied
        extra = watch / "CAM01" / "DCIM" / "100MEDIA" / "A1024_DSJ9X001_20261120094000_0004.MP4"
        shutil.copy(folder_camera.paths[0], extra.with_suffix(".tmp"))
        with extra.with_suffix(".tmp").open("ab") as handle:
            handle.write(b"distinct")
        extra.with_suffix(".tmp").rename(extra)
        _wait(lambda: len(_rows(station, "SELECT id FROM docks WHERE outcome IS NOT NULL")) >= 2,
              "the second watch-folder dock", log)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    assert _rows(station, "SELECT count(*) FROM recordings") == [(4,)]
    second = _rows(station, "SELECT files_skipped, files_done FROM docks ORDER BY id")[-1]
    assert second == (3, 1)


@pytest.mark.skipif(not fuse_available(), reason="needs /dev/fuse and mfusepy (scripts/setup.sh)")
def test_sigterm_mid_copy_rolls_back_the_file_and_exits_cleanly(
        tmp_path: Path, folder_camera: FolderCamera) -> None:
    """The copy is held mid-file on purpose (a FUSE camera whose read blocks at 16 KiB until
    released), so SIGTERM always arrives during the copy, however loaded the machine is."""
    root = tmp_path / "station"
    root.mkdir()
    watch = tmp_path / "cradle"
    station = StationEnv(root=root, config_path=write_config(
        root, extra=f'watch_folders = [{{ path = "{watch}", camera = "cradle-cam" }}]',
        camera='[[cameras]]\nname = "cradle-cam"\nfs_labels = ["NO-SUCH-LABEL"]\n'))
    first = folder_camera.paths[0].relative_to(folder_camera.root).as_posix()
    with FuseCamera(folder_camera.root, watch / "CAM01", hold=first, at=16384) as camera:
        proc, log = start_daemon(station)  # ingests the camera already in its watch folder
        try:
            camera.wait_reached()  # the daemon is reading the first file, past 16 KiB
            proc.send_signal(signal.SIGTERM)
            # the cancel is set before the held read returns, so the copy sees it at its next
            # chunk: the daemon says so once it has set it
            _wait(lambda: "running copies are cancelled" in log.read_text(), "the cancel", log)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            camera.release()
            code = proc.wait(timeout=60)
        assert code == 0, log.read_text()
        assert "received SIGTERM" in log.read_text()
        assert list(station.staging.iterdir()) == []
        outcome, reason = _rows(station, "SELECT outcome, reason FROM docks")[0]
        assert outcome == "interrupted" and "dock again" in reason
        assert _rows(station, "SELECT count(*) FROM transfers WHERE state IN "
                              "('copying','verified')") == [(0,)]
        assert _rows(station, f"SELECT state FROM transfers WHERE camera_path = '{first}'") \
            == [("rolled_back",)]
        assert _rows(station, "SELECT count(*) FROM recordings") == [(0,)]
        actions = [a for (a,) in _rows(station, "SELECT action FROM events ORDER BY id")]
        assert actions[-1] == "daemon_stopped" and "file_rolled_back" in actions
        # the next dock finishes the camera
        result = station.run("ingest", str(watch / "CAM01"), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outcome"] == "complete"
    assert _rows(station, "SELECT count(*) FROM recordings") == [(3,)]
    for digest, path in _rows(station, "SELECT sha256, store_path FROM recordings"):
        assert sha256_of(station.store / path) == digest


@pytest.mark.root
def test_two_cameras_docked_together_are_both_ingested(
        udevd: None, station: StationEnv, fat_image: FatImage, slow_camera: SlowCamera) -> None:
    proc, log = start_daemon(station)
    try:
        with loop_device(fat_image.image) as first, loop_device(slow_camera.image) as second:
            _wait(lambda: len(_rows(station, "SELECT id FROM docks WHERE outcome IS NOT NULL"))
                  >= 2, "both docks", log, timeout=120)
            docks = _rows(station, "SELECT source, outcome FROM docks ORDER BY source")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    assert sorted(docks) == sorted([(first, "complete"), (second, "complete")])
    assert _rows(station, "SELECT count(*) FROM recordings") == [(6,)]
    for digest, path in _rows(station, "SELECT sha256, store_path FROM recordings"):
        assert sha256_of(station.store / path) == digest
