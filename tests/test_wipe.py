"""Wiping the camera: off by default; when on, only verified, stored files that read back from the
camera with the stored digest are deleted."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from conftest_media import FatImage, FolderCamera, loop_device, sha256_of
from helpers import StationEnv


def _rows(station: StationEnv, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(station.db) as db:
        return db.execute(sql).fetchall()


def _enable_wipe(station: StationEnv) -> None:
    text = station.config_path.read_text().replace("[ingest]\n", "[ingest]\nwipe_after_ingest = true\n")
    station.config_path.write_text(text)


def test_wipe_deletes_only_verified_stored_files(station: StationEnv,
                                                 folder_camera: FolderCamera) -> None:
    _enable_wipe(station)
    originals = {p.name: sha256_of(p) for p in folder_camera.paths}
    report = json.loads(station.run("ingest", str(folder_camera.root), "--json", check=True).stdout)
    assert (report["stored"], report["wiped"]) == (3, 3)
    assert list((folder_camera.root / "DCIM" / "100MEDIA").iterdir()) == []
    assert sorted(p.name for p in station.stored_files()) == sorted(originals.values())
    assert _rows(station, "SELECT count(*) FROM sightings WHERE wiped_at IS NOT NULL") == [(3,)]
    wiped = _rows(station, "SELECT subject FROM events WHERE action='camera_file_wiped'")
    assert sorted(Path(s).name for (s,) in wiped) == sorted(originals)


def test_a_camera_file_that_no_longer_matches_its_stored_copy_is_never_wiped(
        station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    station.run("ingest", str(folder_camera.root), check=True)  # wipe off: nothing deleted
    assert all(p.exists() for p in folder_camera.paths)
    changed = folder_camera.paths[1]
    stat = changed.stat()
    data = bytearray(changed.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the camera now reads differently: same path, size, mtime
    changed.write_bytes(bytes(data))
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    _enable_wipe(station)
    result = station.run("ingest", str(folder_camera.root), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["wiped"] == 2
    assert changed.exists() and not folder_camera.paths[0].exists()
    refused = _rows(station, "SELECT subject, reason FROM events WHERE action='wipe_refused'")
    assert len(refused) == 1 and refused[0][0].endswith(changed.name)
    assert "the camera file now reads" in refused[0][1]


@pytest.mark.root
def test_a_fuse_mounted_camera_is_never_written_even_with_wipe_on(
        udevd: None, station: StationEnv, fat_image: FatImage) -> None:
    _enable_wipe(station)
    before = sha256_of(fat_image.image)
    with loop_device(fat_image.image) as dev:
        report = json.loads(station.run("ingest", dev, "--json", check=True).stdout)
    assert (report["stored"], report["wiped"]) == (3, 0)
    assert sha256_of(fat_image.image) == before
    skipped = _rows(station, "SELECT reason FROM events WHERE action='wipe_skipped'")
    assert len(skipped) == 1 and "cannot be written safely" in skipped[0][0]




def test_with_an_object_store_only_what_it_verified_is_wiped(
        station: StationEnv, folder_camera: FolderCamera) -> None:
    """Issue 12: a station with an object store wipes a camera file only once the object store
    holds a verified copy. The CLI's ingest runs no replication worker, so the first dock wipes
    nothing; the queue's rows marked verified (what the worker writes after its HEAD check, shown
    on a real radosgw in test_object_store_ceph.py) let the next dock wipe."""
    _enable_wipe(station)
    with station.config_path.open("a") as config:
        config.write('\n[storage.object_store]\nendpoint = "http://127.0.0.1:9"\n'
                     'bucket = "evidence"\n')
    first = json.loads(station.run("ingest", str(folder_camera.root), "--json", check=True).stdout)
    assert (first["stored"], first["wiped"]) == (3, 0)
    assert all(p.exists() for p in folder_camera.paths)
    refused = _rows(station, "SELECT reason FROM events WHERE action='wipe_refused'")
    assert len(refused) == 3 and all("not verified on the object store" in r for (r,) in refused)

    with sqlite3.connect(station.db) as db:
        db.execute("INSERT INTO replications (station_id, recording_id, sha256, size, target, "
                   "state, queued_at, attempts, next_attempt_at, legal_hold) SELECT station_id, "
                   "id, sha256, size, "
                   "'s3://evidence/', 'queued', '2026-01-01 00:00:00', 0, '2026-01-01 00:00:00', "
                   "0 FROM recordings WHERE id <> (SELECT min(id) FROM recordings)")
        db.execute("UPDATE replications SET state='done', verified_at='2026-01-01 00:00:00'")
    second = json.loads(station.run("ingest", str(folder_camera.root), "--json",
                                    check=True).stdout)
    assert second["wiped"] == 2, second
    assert sum(p.exists() for p in folder_camera.paths) == 1
