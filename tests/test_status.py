"""`bodycam status` shows a dock while it runs, with its progress, and how it ended."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from conftest_media import SlowCamera, loop_device, wait_for_copy_to_start
from helpers import BODYCAM, StationEnv
from typer.testing import CliRunner

from bodycam_ingest.cli.app import app


def _status(station: StationEnv, *args: str) -> str:
    result = CliRunner().invoke(app, ["status", "--config", str(station.config_path), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.root
def test_status_shows_the_running_dock_with_progress_then_the_outcome(
        udevd: None, station: StationEnv, slow_camera: SlowCamera) -> None:
    env = {**os.environ, "BODYCAM_CONFIG": str(station.config_path)}
    with loop_device(slow_camera.image) as dev:
        proc = subprocess.Popen([*BODYCAM, "ingest", dev], env=env, text=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_copy_to_start(station.staging, proc)  # type: ignore[arg-type]
            # in-process (the same command, no interpreter start-up): the dock lasts ~0.3 s
            running: list[dict[str, object]] = []
            deadline = time.monotonic() + 30
            while not running and time.monotonic() < deadline and proc.poll() is None:
                running = json.loads(_status(station, "--json"))["running"]
            table = _status(station)
        finally:
            proc.wait(timeout=120)
    assert running, "the running dock was not shown"
    dock = running[0]
    assert dock["source"] == dev and dock["outcome"] is None
    assert dock["bytes_total"] > 0 and dock["files_total"] == 3
    assert str(dock["current_file"]).startswith("DCIM/100MEDIA/")
    assert "Docks in progress" in table and "running" in table and "━" in table
    finished = json.loads(station.run("status", "--json", check=True).stdout)
    assert finished["running"] == []
    assert finished["recent"][0]["outcome"] == "complete"
    assert finished["recent"][0]["bytes_done"] == finished["recent"][0]["bytes_total"]
