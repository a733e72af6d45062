"""ffprobe runs with the configured binary and timeout everywhere: a hanging ffprobe never stops a
dock (issue 11)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest_media import FolderCamera
from helpers import StationEnv, write_config


def test_a_hanging_ffprobe_makes_the_recording_unreadable_and_the_dock_finishes(
        tmp_path: Path, folder_camera: FolderCamera) -> None:
    hang = tmp_path / "ffprobe-that-hangs"
    hang.write_text("#!/bin/sh\nexec sleep 600\n")
    hang.chmod(0o755)
    root = tmp_path / "station"
    root.mkdir()
    env = StationEnv(root=root, config_path=write_config(
        root, f'\n[analysis]\nffprobe = "{hang}"\nffprobe_timeout_s = 1\n'))
    result = env.run("ingest", str(folder_camera.root), "--json", timeout=300)
    assert result.returncode == 1, result.stderr  # done, with recordings ffprobe cannot read
    assert json.loads(result.stdout)["stored"] == 3
    with sqlite3.connect(env.db) as db:
        rows = db.execute("SELECT status, probe_error FROM recordings").fetchall()
    assert len(rows) == 3
    assert all(status == "unreadable" and "took longer than 1 s" in error
               for status, error in rows), rows


def test_the_summary_reads_real_media_through_the_same_runner(camera_media: FolderCamera) -> None:
    from bodycam_ingest.ingest.probe import probe_file

    summary = probe_file(camera_media.paths[0], ffprobe="ffprobe", timeout_s=60)
    assert summary.status == "ok" and summary.video_codec == "h264" and summary.duration_s
    missing = probe_file(camera_media.paths[0], ffprobe="/nonexistent/ffprobe", timeout_s=60)
    assert missing.status == "unreadable" and "is not installed" in (missing.error or "")
