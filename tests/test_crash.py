"""kill -9 at any instant loses nothing and duplicates nothing; the next start finishes cleanly."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest_media import sha256_of
from fusecam import FuseCamera, fuse_available
from helpers import BODYCAM, StationEnv

from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera

KILLS = 24
FILES = 40  # each kill is placed in one of the next few files, so fewer than 40 are stored


@pytest.fixture(scope="module")
def bulk_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bulk") / "cam"
    build_folder_camera(root, CameraSpec(segments=FILES, bulk_bytes=2 * 2**20))
    return root


def _rows(db: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql).fetchall()


def _assert_no_row_claims_a_missing_file(station: StationEnv) -> None:
    for digest, size, store_path in _rows(station.db,
                                          "SELECT sha256, size, store_path FROM recordings"):
        stored = station.store / store_path
        assert stored.is_file(), f"catalog claims {digest} but the store has no such file"
        assert stored.stat().st_size == size


@pytest.mark.slow
@pytest.mark.skipif(not fuse_available(), reason="needs /dev/fuse and mfusepy")
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
        station: StationEnv, bulk_camera: Path, tmp_path: Path) -> None:
    """Each kill is placed, not raced: the FUSE camera holds the read of a file not yet stored
    at a random offset (0 = between two files), the test waits until the ingest is there and
    kills it. Every kill lands, however fast or loaded the machine is."""
    rng = random.Random(20261122)
    env = {**os.environ, "BODYCAM_CONFIG": str(station.config_path)}
    mountpoint = tmp_path / "CAM"
    argv = [*BODYCAM, "ingest", str(mountpoint), "--json"]
    digests = {p: sha256_of(p) for p in sorted((bulk_camera / "DCIM").rglob("*.MP4"))}
    kills, ended = 0, 0
    while kills < KILLS:
        # a file copied whole before a kill is finished from staging without a camera read
        done = {path.name for path in station.stored_files()} | {digest for (digest,) in _rows(
            station.db, "SELECT sha256 FROM transfers WHERE sha256 IS NOT NULL")}
        pending = [p for p, digest in digests.items() if digest not in done]
        assert pending, "the camera's work ran out before the kills: make FILES larger"
        target = rng.choice(pending[:3])  # the next few files the ingest will reach
        offset = rng.choice([0, rng.randrange(target.stat().st_size)])
        with FuseCamera(bulk_camera, mountpoint, hold=str(target.relative_to(bulk_camera)),
                        at=offset) as camera:
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                held = camera.wait_reached(unless=lambda p=proc: p.poll() is not None)
            finally:
                proc.kill()  # delivered as the held read returns: a read in flight to a FUSE
                camera.release()  # server cannot be interrupted, so the kernel waits for it
                proc.wait()
        if held:
            kills += 1
        else:  # the run finished the target without reading it (recovered from staging)
            assert proc.returncode == 0, f"an ingest run failed on its own (exit {proc.returncode})"
            ended += 1
            assert ended <= KILLS, "most runs ended before reaching the held offset"
        _assert_no_row_claims_a_missing_file(station)

    with FuseCamera(bulk_camera, mountpoint):
        final = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr
    assert json.loads(final.stdout)["outcome"] == "complete"

    camera_digests = sorted(sha256_of(p) for p in (bulk_camera / "DCIM").rglob("*.MP4"))
    rows = _rows(station.db, "SELECT sha256 FROM recordings ORDER BY sha256")
    assert [digest for (digest,) in rows] == camera_digests, "every file stored exactly once"
    stored = station.stored_files()
    assert sorted(p.name for p in stored) == camera_digests
    for path in stored:
        assert sha256_of(path) == path.name, f"stored file {path} does not match its digest"
    assert os.listdir(station.staging) == [], "staging leftovers"
    assert _rows(station.db, "SELECT count(*) FROM transfers WHERE state IN "
                             "('copying','verified')") == [(0,)]
    assert _rows(station.db, "SELECT count(*) FROM docks WHERE outcome IS NULL") == [(0,)]
    copied = _rows(station.db, "SELECT count(*) FROM sightings WHERE copied")
    assert copied == [(len(camera_digests),)], "each camera file catalogued as copied once"

