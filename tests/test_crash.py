"""kill -9 at any instant loses nothing and duplicates nothing; the next start finishes cleanly."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest_media import sha256_of
from helpers import BODYCAM, StationEnv, write_config

from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera

KILLS = 24
FILES = 40  # small files: each restart gets a few in before the next kill


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


def _wait_for(predicate, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.001)
    return False


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
        station: StationEnv, bulk_camera: Path) -> None:
    rng = random.Random(20261122)
    env = {**os.environ, "BODYCAM_CONFIG": str(station.config_path)}
    argv = [*BODYCAM, "ingest", str(bulk_camera), "--json"]
    # one timed run on a throwaway station tells how long a whole ingest takes here
    started = time.monotonic()
    subprocess.run(argv, env={**env, "BODYCAM_CONFIG": str(_spare_config(station))},
                   capture_output=True, check=True)
    full = time.monotonic() - started
    kinds: dict[str, int] = {}
    for attempt in range(3 * KILLS):
        if kinds.get("killed", 0) >= KILLS:
            break
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

        def staging_busy(proc: subprocess.Popen[bytes] = proc) -> bool:
            return any(station.staging.glob("*.part")) or proc.poll() is not None

        def staging_idle(proc: subprocess.Popen[bytes] = proc) -> bool:
            return not any(station.staging.glob("*.part")) or proc.poll() is not None

        strategy = attempt % 3
        if strategy == 0:  # anywhere: start-up, recovery, listing, copying
            time.sleep(rng.uniform(0, full / 3))
        elif strategy == 1:  # while a file is being copied into staging
            _wait_for(staging_busy)
            time.sleep(rng.uniform(0, 0.01))
        else:  # around the moment a staged file is published and catalogued
            _wait_for(staging_busy)
            _wait_for(staging_idle)
            time.sleep(rng.uniform(0, 0.004))
        returncode = proc.poll()
        proc.kill()
        proc.wait()
        assert returncode in (None, 0), f"an ingest run failed on its own (exit {returncode})"
        outcome = "killed" if returncode is None else "finished before the kill"
        kinds[outcome] = kinds.get(outcome, 0) + 1
        _assert_no_row_claims_a_missing_file(station)

    # stopgap: on a fast or loaded machine the camera's work can run out before 24 kills land
    # (15 of 72 once); the real fix is holding the copy with tests/fusecam.py (see the note)
    assert kinds.get("killed", 0) >= 12, f"the ingest finished before enough kills: {kinds}"
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


def _spare_config(station: StationEnv) -> Path:
    """A second, independent station (same settings) for the one timed run."""
    spare = station.root.parent / "spare"
    spare.mkdir(exist_ok=True)
    return write_config(spare)
