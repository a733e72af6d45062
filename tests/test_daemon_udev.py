"""A camera docked for real: loop-attached FAT32 image, a udev event, the running daemon mounts it
read-only, ingests, unmounts; the camera image is bit-for-bit unchanged."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest_media import ROOT_MARKS, FatImage, FolderCamera, loop_device, sha256_of
from helpers import BODYCAM, StationEnv

pytestmark = ROOT_MARKS

class Daemon:
    def __init__(self, station: StationEnv) -> None:
        self.station = station
        self.log = station.root / "daemon.log"
        env = {**os.environ, "BODYCAM_CONFIG": str(station.config_path)}
        self.handle = self.log.open("w")
        self.proc = subprocess.Popen([*BODYCAM, "daemon"], env=env, stdout=self.handle,
                                     stderr=subprocess.STDOUT)
        self.wait_for_log("daemon ready")

    def text(self) -> str:
        return self.log.read_text()

    def wait_for_log(self, needle: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            assert self.proc.poll() is None, f"daemon died:\n{self.text()}"
            assert time.monotonic() < deadline, f"no {needle!r} in daemon log:\n{self.text()}"
            time.sleep(0.05)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.handle.close()
        return code


def _finished_docks(station: StationEnv) -> list[tuple[str, str, str]]:
    with sqlite3.connect(station.db, timeout=30) as db:
        return db.execute("SELECT source, outcome, mount_method FROM docks "
                          "WHERE outcome IS NOT NULL").fetchall()


def _mounted_under(path: Path) -> list[str]:
    return [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1].startswith(str(path))]


@pytest.mark.slow
def test_docked_camera_is_mounted_read_only_ingested_and_unmounted(
        udevd: None, station: StationEnv, fat_image: FatImage, camera_media: FolderCamera) -> None:
    image_digest = sha256_of(fat_image.image)
    daemon = Daemon(station)
    try:
        with loop_device(fat_image.image) as dev:
            deadline = time.monotonic() + 90
            while not _finished_docks(station):
                assert daemon.proc.poll() is None, daemon.text()
                assert time.monotonic() < deadline, f"no dock finished:\n{daemon.text()}"
                time.sleep(0.1)
            assert _finished_docks(station) == [(dev, "complete", "fusefat")], daemon.text()
            assert _mounted_under(station.root) == [], "the camera must be unmounted after ingest"
    finally:
        assert daemon.stop() == 0, daemon.text()

    assert f"camera docked: {dev}" in daemon.text()
    expected = {path.name: sha256_of(path) for path in camera_media.paths}
    with sqlite3.connect(station.db) as db:
        rows = db.execute("SELECT camera_path, sha256, camera_mtime, status FROM recordings "
                          "ORDER BY camera_path").fetchall()
    assert {Path(p).name: digest for p, digest, _m, _s in rows} == expected
    assert all(status == "ok" for *_rest, status in rows)
    for index, (_path, _digest, mtime, _status) in enumerate(rows):
        # the true FAT time (camera clock, UTC+8, 2 s resolution), not fusefat's month-late one
        true_end = camera_media.spec.to_utc(camera_media.spec.segment_end(index))
        stored = datetime.fromisoformat(mtime).replace(tzinfo=UTC)
        assert abs((stored - true_end).total_seconds()) <= 2, (stored, true_end)
    for path in station.stored_files():
        assert sha256_of(path) == path.name
    assert sha256_of(fat_image.image) == image_digest, "the camera image was modified"
    with sqlite3.connect(station.db) as db:
        actions = [a for (a,) in db.execute("SELECT action FROM events ORDER BY id")]
    assert actions[0] == "daemon_started" and actions[-1] == "daemon_stopped"


@pytest.mark.slow
def test_cli_ingest_of_a_block_device_matches_rules_and_leaves_it_untouched(
        udevd: None, station: StationEnv, fat_image: FatImage) -> None:
    image_digest = sha256_of(fat_image.image)
    with loop_device(fat_image.image) as dev:
        result = station.run("ingest", dev, "--json")
        assert result.returncode == 0, result.stderr
    assert sha256_of(fat_image.image) == image_digest
    assert len(station.stored_files()) == len(fat_image.paths)


@pytest.mark.slow
def test_a_device_matching_no_rule_is_left_alone_with_a_clear_message(
        udevd: None, tmp_path: Path, fat_image: FatImage) -> None:
    from helpers import write_config

    root = tmp_path / "other"
    root.mkdir()
    env = StationEnv(root=root, config_path=write_config(root, camera="""
[[cameras]]
name = "vendor-x"
fs_labels = ["VENDORX*"]
"""))
    with loop_device(fat_image.image) as dev:
        result = env.run("ingest", dev)
    assert result.returncode == 6
    assert "matches no [[cameras]] rule (label 'BODYCAM'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_stale_udev_control_socket_is_not_taken_for_a_running_udevd(tmp_path: Path) -> None:
    import socket

    from bodycam_ingest.detection.udev import udevd_answers

    control = tmp_path / "control"
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as server:
        server.bind(str(control))
        server.listen()
        assert udevd_answers(str(control))
    assert control.exists()  # what `udevadm control --exit` leaves behind
    assert not udevd_answers(str(control))
    assert not udevd_answers(str(tmp_path / "missing"))


@pytest.mark.slow
def test_a_block_device_udev_has_not_probed_is_matched_by_its_own_superblock(
        fat_image: FatImage) -> None:
    from bodycam_ingest.detection.dock import probe_filesystem

    with loop_device(fat_image.image, udev=False) as dev:
        props = probe_filesystem(dev)
    assert props["ID_FS_TYPE"] == "vfat"
    assert props["ID_FS_LABEL"] == "BODYCAM"
    assert props["ID_FS_USAGE"] == "filesystem"
    assert probe_filesystem("/dev/null") == {}



def test_whether_udevd_runs_is_read_from_the_process_list(tmp_path: Path) -> None:
    """What a service user falls back on: /run/udev/control is root's 0600, so its EACCES says
    nothing about udevd (the sandboxed daemon test checks the whole path as the service user)."""
    from bodycam_ingest.detection.udev import udevd_process_runs

    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    (proc / "1" / "comm").write_text("init\n")
    (proc / "self").mkdir()
    assert not udevd_process_runs(str(proc))
    (proc / "77").mkdir()
    (proc / "77" / "comm").write_text("systemd-udevd\n")
    assert udevd_process_runs(str(proc))
    assert not udevd_process_runs(str(tmp_path / "missing"))
