"""The camera disappears mid-file: the dock is incomplete, nothing partial is stored, and the next
dock completes it without duplicates."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest_media import ROOT_MARKS, SlowCamera, loop_device, sha256_of, wait_for_copy_to_start
from helpers import BODYCAM, StationEnv

pytestmark = ROOT_MARKS

def _fusefat_pids(devnode: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"fusefat") and devnode.encode() in argv:
            pids.append(int(entry.name))
    return pids


def _rows(station: StationEnv, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(station.db, timeout=30) as db:
        return db.execute(sql).fetchall()


@pytest.mark.slow
def test_unplugging_mid_copy_loses_nothing_and_the_next_dock_completes(
        udevd: None, station: StationEnv, slow_camera: SlowCamera) -> None:
    image, originals = slow_camera.image, slow_camera.originals
    image_digest = sha256_of(image)
    env = {**os.environ, "BODYCAM_CONFIG": str(station.config_path)}
    with loop_device(image) as dev:
        proc = subprocess.Popen([*BODYCAM, "ingest", dev, "--json"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_copy_to_start(station.staging, proc)
        pids = _fusefat_pids(dev)
        assert pids, "the camera is not mounted through fusefat"
        for pid in pids:  # the cable is pulled: every further read fails
            os.kill(pid, signal.SIGKILL)
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
        rolled = _rows(station, "SELECT error FROM transfers WHERE state='rolled_back'")
        assert len(rolled) == 1 and "camera gone" in rolled[0][0]
        assert not [line for line in Path("/proc/mounts").read_text().splitlines()
                    if str(station.root) in line], "the dead mount was not cleaned up"

    with loop_device(image) as dev:  # docked again
        again = subprocess.run([*BODYCAM, "ingest", dev, "--json"], env=env,
                               capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["outcome"] == "complete"
    expected = sorted(sha256_of(p) for p in (originals / "DCIM").rglob("*.MP4"))
    assert sorted(d for (d,) in _rows(station, "SELECT sha256 FROM recordings")) == expected
    assert sorted(p.name for p in station.stored_files()) == expected
    assert sha256_of(image) == image_digest
