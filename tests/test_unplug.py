"""The camera disappears mid-file: the dock is incomplete, nothing partial is stored, and the next
dock completes it without duplicates. A FUSE camera (tests/fusecam.py) pulls the cable on purpose
at a chosen offset, so the copy is always mid-file when it happens."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest_media import FolderCamera, sha256_of
from fusecam import FuseCamera, fuse_available
from helpers import BODYCAM, StationEnv


def _rows(station: StationEnv, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(station.db, timeout=30) as db:
        return db.execute(sql).fetchall()


@pytest.mark.skipif(not fuse_available(), reason="needs /dev/fuse and mfusepy (scripts/setup.sh)")
def test_unplugging_mid_copy_loses_nothing_and_the_next_dock_completes(
        station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    """The cable is pulled mid-file, on purpose: the FUSE camera holds the read at 16 KiB of the
    second recording, then answers ENODEV to everything, its root included."""
    env = {**os.environ, "BODYCAM_CONFIG": str(station.config_path)}
    mountpoint = tmp_path / "camera-mount"
    second = folder_camera.paths[1].relative_to(folder_camera.root).as_posix()
    with FuseCamera(folder_camera.root, mountpoint, hold=second, at=16384) as camera:
        proc = subprocess.Popen([*BODYCAM, "ingest", str(mountpoint), "--json"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            camera.wait_reached()
        finally:
            camera.unplug()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 7, err  # INCOMPLETE
        report = json.loads(out)
        assert report["outcome"] == "incomplete"
        assert "disappeared while copying" in report["reason"]
        assert "Dock it again" in report["reason"]

        assert list(station.staging.glob("*")) == [], "a partial copy was left in staging"
        for digest, store_path in _rows(station, "SELECT sha256, store_path FROM recordings"):
            assert sha256_of(station.store / store_path) == digest
        assert len(station.stored_files()) == len(_rows(station, "SELECT id FROM recordings"))
        rolled = _rows(station, "SELECT camera_path, error FROM transfers "
                                "WHERE state='rolled_back'")
        assert len(rolled) == 1 and rolled[0][0] == second and "camera gone" in rolled[0][1]

    with FuseCamera(folder_camera.root, mountpoint) as camera:  # docked again
        again = subprocess.run([*BODYCAM, "ingest", str(mountpoint), "--json"], env=env,
                               capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["outcome"] == "complete"
    expected = sorted(sha256_of(p) for p in folder_camera.paths)
    assert sorted(d for (d,) in _rows(station, "SELECT sha256 FROM recordings")) == expected
    assert sorted(p.name for p in station.stored_files()) == expected


@pytest.mark.skipif(not fuse_available(), reason="needs /dev/fuse and mfusepy (scripts/setup.sh)")
def test_a_bad_sector_fails_that_file_only_and_keeps_nothing_partial(
        station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    """EIO on one file (the camera is still there): that file is a per-file failure, the
    others are stored, the dock is incomplete and says which file."""
    mountpoint = tmp_path / "camera-mount"
    second = folder_camera.paths[1].relative_to(folder_camera.root).as_posix()
    with FuseCamera(folder_camera.root, mountpoint, hold=second, at=16384, error=errno.EIO):
        result = station.run("ingest", str(mountpoint), "--json")
    assert result.returncode == 7, result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "incomplete" and second in report["reason"]
    assert "Input/output error" in report["reason"]
    assert list(station.staging.glob("*")) == []
    assert sorted(d for (d,) in _rows(station, "SELECT sha256 FROM recordings")) == sorted(
        sha256_of(p) for i, p in enumerate(folder_camera.paths) if i != 1)
