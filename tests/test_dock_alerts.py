"""Dock failures reach people through the jobs' alert path: the journal, the custody log and
jobs.alert_command (issue 11)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from conftest_media import FolderCamera
from helpers import BODYCAM, StationEnv, write_config

from bodycam_ingest.daemon.dock_alerts import refused_alert, report_alerts
from bodycam_ingest.ingest.pipeline import DockReport


def test_which_docks_alert() -> None:
    fine = DockReport(dock_id=4, outcome="complete")
    assert report_alerts("/dev/sdb1", fine, []) == []
    stopped = DockReport(dock_id=5, outcome="interrupted", reason="the station is stopping")
    assert report_alerts("/dev/sdb1", stopped, []) == []  # our own shutdown: nobody must act
    full = DockReport(dock_id=6, outcome="incomplete", reason="evidence disk full",
                      unreadable=["a.MP4"])
    alerts = report_alerts("/dev/sdb1", full, ["ends 3 h after the dock"])
    assert alerts == [
        "dock 6 from /dev/sdb1 ended incomplete: evidence disk full; dock the camera again once "
        "it is fixed",
        "dock 6 from /dev/sdb1: 1 recording(s) ffprobe cannot read (stored and flagged): a.MP4",
        "dock 6 from /dev/sdb1: camera clock off: ends 3 h after the dock"]
    assert refused_alert("/dev/sdc1", "cannot be mounted").startswith("camera /dev/sdc1 was refused")


def test_an_incomplete_dock_runs_the_alert_command_and_is_in_the_custody_log(
        tmp_path: Path, folder_camera: FolderCamera) -> None:
    got = tmp_path / "alerts.txt"
    command = tmp_path / "alert.sh"
    command.write_text(f'#!/bin/sh\nprintf "%s|%s\\n" "$BODYCAM_ALERT_JOB" '
                       f'"$BODYCAM_ALERT_MESSAGE" >> {got}\n')
    command.chmod(0o755)
    root = tmp_path / "station"
    root.mkdir()
    watch = tmp_path / "cradle"
    config = write_config(
        root, extra=f'watch_folders = [{{ path = "{watch}", camera = "cradle-cam" }}]\n'
        f'[jobs]\nalert_command = ["{command}"]\n',
        camera='[[cameras]]\nname = "cradle-cam"\nfs_labels = ["NO-SUCH-LABEL"]\n')
    config.write_text(config.read_text().replace("free_space_reserve = 0",
                                                 'free_space_reserve = "900 TiB"'))
    station = StationEnv(root=root, config_path=config)
    log = root / "daemon.log"
    proc = subprocess.Popen([*BODYCAM, "daemon"], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "BODYCAM_CONFIG": str(config)})
    try:
        deadline = time.monotonic() + 120
        while "daemon ready" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        shutil.copytree(folder_camera.root, watch / "CAM01")
        while not (got.exists() and got.read_text()):  # the command ran: the alert was raised
            assert proc.poll() is None and time.monotonic() < deadline + 60, log.read_text()
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    job, message = got.read_text().splitlines()[0].split("|", 1)
    assert job == "dock" and "ended incomplete" in message and "free-space reserve" in message
    with sqlite3.connect(station.db) as db:
        rows = db.execute("SELECT subject, reason FROM events WHERE action = 'alert'").fetchall()
    assert rows == [("dock", message)]
    assert "ALERT [dock]" in log.read_text()
