"""`bodycam status` shows a dock while it runs, with its progress, and how it ended."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest_media import FolderCamera
from fusecam import FuseCamera, fuse_available
from helpers import BODYCAM, StationEnv
from typer.testing import CliRunner

from bodycam_ingest.cli.app import app


def _status(station: StationEnv, *args: str) -> str:
    result = CliRunner().invoke(app, ["status", "--config", str(station.config_path), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.skipif(not fuse_available(), reason="needs /dev/fuse and mfusepy (scripts/setup.sh)")
def test_status_shows_the_running_dock_with_progress_then_the_outcome(
        station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    """The dock is held mid-copy on purpose (a FUSE camera blocks the second file's read at
    16 KiB) while `status` looks at it."""
    env = {**os.environ, "BODYCAM_CONFIG": str(station.config_path)}
    mountpoint = tmp_path / "camera-mount"
    second = folder_camera.paths[1].relative_to(folder_camera.root).as_posix()
    with FuseCamera(folder_camera.root, mountpoint, hold=second, at=16384) as camera:
        proc = subprocess.Popen([*BODYCAM, "ingest", str(mountpoint)], env=env, text=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            camera.wait_reached()
            running: list[dict[str, object]] = json.loads(_status(station, "--json"))["running"]
            table = _status(station)
        finally:
            camera.release()
            proc.wait(timeout=120)
    dev = str(mountpoint.resolve())
    assert running, "the running dock was not shown"
    dock = running[0]
    assert dock["source"] == dev and dock["outcome"] is None
    assert dock["bytes_total"] > 0 and dock["files_total"] == 3
    assert dock["current_file"] == second
    assert "Docks in progress" in table and "running" in table and "━" in table
    finished = json.loads(station.run("status", "--json", check=True).stdout)
    assert finished["running"] == []
    assert finished["recent"][0]["outcome"] == "complete"
    assert finished["recent"][0]["bytes_done"] == finished["recent"][0]["bytes_total"]
