"""A full evidence disk, or one at its free-space reserve, loses nothing and stores nothing partial."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_media import IS_ROOT, FolderCamera, sha256_of
from fusecam import FuseCamera, fuse_available
from helpers import BODYCAM, StationEnv, write_config


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if not IS_ROOT:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _count(db: Path, sql: str) -> int:
    return int(_rows(db, sql)[0][0])


def _rows(db: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.root
@pytest.mark.skipif(not fuse_available(), reason="needs /dev/fuse and mfusepy (scripts/setup.sh)")
def test_a_disk_that_fills_up_mid_file_keeps_nothing_partial_and_the_next_dock_finishes(
        tmp_path: Path, small_disk: Path, folder_camera: FolderCamera) -> None:
    """The copy is held mid-file on purpose (a FUSE camera whose read blocks at 16 KiB), the disk
    is filled while it waits, then the read is released: the write after it always hits ENOSPC."""
    root = tmp_path / "station"
    root.mkdir()
    station = StationEnv(root=root, config_path=write_config(root))
    station.config_path.write_text(station.config_path.read_text().replace(
        "free_space_reserve = 0",
        f'free_space_reserve = 0\nstore_dir = "{small_disk}/evidence"\n'
        f'staging_dir = "{small_disk}/staging"'))
    env = {**os.environ, "BODYCAM_CONFIG": str(station.config_path)}
    filler = small_disk / "another-program.bin"
    mountpoint = tmp_path / "camera-mount"
    first = folder_camera.paths[0].relative_to(folder_camera.root).as_posix()
    with FuseCamera(folder_camera.root, mountpoint, hold=first, at=16384) as camera:
        proc = subprocess.Popen([*BODYCAM, "ingest", str(mountpoint), "--json"], env=env,
                                text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            camera.wait_reached()  # mid-file: 16 KiB read, the rest held
            # another program fills the disk to the last byte (dd stops at ENOSPC)
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True,
                           check=False)
        finally:
            camera.release()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 7, err
        report = json.loads(out)
        assert report["outcome"] == "incomplete"
        assert "evidence disk is full" in report["reason"] and "Free space" in report["reason"]
        assert list((small_disk / "staging").iterdir()) == [], "partial copy left in staging"
        stored = [p for p in (small_disk / "evidence").rglob("*") if p.is_file()]
        assert stored == [] and _count(station.db, "SELECT count(*) FROM recordings") == 0
        errors = _rows(station.db, "SELECT camera_path, error FROM transfers "
                                   "WHERE state='rolled_back'")
        assert errors == [(first, "evidence disk full")]

        filler.unlink()
        again = subprocess.run([*BODYCAM, "ingest", str(mountpoint), "--json"], env=env,
                               text=True, capture_output=True, check=False)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["outcome"] == "complete"
    stored_names = sorted(p.name for p in (small_disk / "evidence").rglob("*") if p.is_file())
    assert stored_names == sorted(sha256_of(p) for p in folder_camera.paths)
    assert _count(station.db, "SELECT count(*) FROM recordings") == 3


def test_a_file_that_would_break_the_free_space_reserve_is_not_started(
        station: StationEnv, folder_camera: FolderCamera) -> None:
    text = station.config_path.read_text().replace("free_space_reserve = 0",
                                                   'free_space_reserve = "100 TiB"')
    station.config_path.write_text(text)
    result = station.run("ingest", str(folder_camera.root), "--json")
    assert result.returncode == 7
    report = json.loads(result.stdout)
    assert report["outcome"] == "incomplete"
    assert "free-space reserve" in report["reason"] and "free space or add disk" in report["reason"]
    assert _count(station.db, "SELECT count(*) FROM transfers") == 0, "no copy may start"
    assert station.stored_files() == []
