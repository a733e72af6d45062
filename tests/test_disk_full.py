"""A full evidence disk, or one at its free-space reserve, loses nothing and stores nothing partial."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_media import (
    IS_ROOT,
    FolderCamera,
    SlowCamera,
    loop_device,
    sha256_of,
    wait_for_copy_to_start,
)
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
def test_a_disk_that_fills_up_mid_file_keeps_nothing_partial_and_the_next_dock_finishes(
        udevd: None, tmp_path: Path, small_disk: Path, slow_camera: SlowCamera) -> None:
    root = tmp_path / "station"
    root.mkdir()
    station = StationEnv(root=root, config_path=write_config(root))
    station.config_path.write_text(station.config_path.read_text().replace(
        "free_space_reserve = 0",
        f'free_space_reserve = 0\nstore_dir = "{small_disk}/evidence"\n'
        f'staging_dir = "{small_disk}/staging"'))
    env = {**os.environ, "BODYCAM_CONFIG": str(station.config_path)}
    filler = small_disk / "another-program.bin"
    with loop_device(slow_camera.image) as dev:
        proc = subprocess.Popen([*BODYCAM, "ingest", dev, "--json"], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for_copy_to_start(small_disk / "staging", proc)
        # another program fills the disk to the last byte (dd stops at ENOSPC)
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True,
                       check=False)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 7, err
        report = json.loads(out)
        assert report["outcome"] == "incomplete"
        assert "evidence disk is full" in report["reason"] and "Free space" in report["reason"]
        assert list((small_disk / "staging").iterdir()) == [], "partial copy left in staging"
        stored = [p for p in (small_disk / "evidence").rglob("*") if p.is_file()]
        assert len(stored) == _count(station.db, "SELECT count(*) FROM recordings")
        assert all(sha256_of(p) == p.name for p in stored)
        errors = _rows(station.db, "SELECT error FROM transfers WHERE state='rolled_back'")
        assert errors == [("evidence disk full",)]

        filler.unlink()
        again = subprocess.run([*BODYCAM, "ingest", dev, "--json"], env=env, text=True,
                               capture_output=True, check=False)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["outcome"] == "complete"
    stored_names = sorted(p.name for p in (small_disk / "evidence").rglob("*") if p.is_file())
    originals = (slow_camera.originals / "DCIM").rglob("*.MP4")
    assert stored_names == sorted(sha256_of(p) for p in originals)
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
