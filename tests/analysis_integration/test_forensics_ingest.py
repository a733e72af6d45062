"""Issue 13 through the real station: a configured chain profile and overlay judge each dock, the
re-used content check finds a recording the station already holds, and every finding comes out
of the CLI like the others."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from analysis_support import camera_of, ingest, run_json, sql
from conftest_media import FolderCamera
from helpers import StationEnv, write_config

from bodycam_ingest.sim.camera import build_folder_camera

PROFILE = """
[analysis.profiles.DSJ9X001]
gop = 5
split_s = [3.0]
start_marks = ["audio-first", "nal:6", "sei:5"]
audio_continues = true
overlay_crop = "316x22+0+0"
overlay_format = "{device} {officer} %Y-%m-%d %H:%M:%S"
"""


def kinds(station: StationEnv, recording: int) -> set[str]:
    found = run_json(station, "findings", "--recording", str(recording))["unexplained"]
    return {f["kind"] for f in found}


def test_a_gop_cut_with_rewritten_timestamps_is_a_short_segment_at_its_own_dock(
        station: StationEnv, tmp_path: Path, forensic_files: dict[str, list[Path]]) -> None:
    write_config(station.root, PROFILE)
    ingest(station, camera_of(forensic_files["gop_cut"], tmp_path / "camera"))
    ids = dict(sql(station, "SELECT camera_path, id FROM recordings"))
    cut = ids[f"DCIM/100MEDIA/{forensic_files['gop_cut'][1].name}"]
    assert kinds(station, cut) == {"segment_short"}
    others = [i for i in ids.values() if i != cut]
    assert all(kinds(station, i) == set() for i in others)
    (engine,) = {e for (e,) in sql(station, "SELECT engine FROM analysis_runs")}
    assert engine == "2"


def test_names_and_times_moved_together_are_caught_by_the_burned_in_clock(
        station: StationEnv, tmp_path: Path, forensic_files: dict[str, list[Path]]) -> None:
    write_config(station.root, PROFILE)
    ingest(station, camera_of(forensic_files["shifted"], tmp_path / "camera"))
    (found,) = run_json(station, "findings")["unexplained"]
    assert found["kind"] == "overlay_mismatch" and found["severity"] == "critical"
    assert found["measured"] == "2026-11-20 12:30:00", found


def test_a_recording_the_station_already_holds_is_re_used_content_when_it_comes_back(
        station: StationEnv, tmp_path: Path, forensic_files: dict[str, list[Path]]) -> None:
    ingest(station, camera_of(forensic_files["old"], tmp_path / "first"))
    assert sql(station, "SELECT count(DISTINCT recording_id) FROM content_fingerprints") == [(1,)]
    ingest(station, camera_of(forensic_files["reused"], tmp_path / "second"))
    found = run_json(station, "findings", "--kind", "reused_content")["unexplained"]
    assert [(f["recording_id"], f["threshold"]) for f in found] == [(2, "recording 1")]
    assert "already holds" in found[0]["message"]


def test_a_camera_that_encodes_every_file_afresh_learns_no_chain_and_is_not_flagged(
        station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    """The simulated camera writes equal-length files, each a fresh encode: no chain to learn,
    so its next full-length file is not a 'missing continuation'."""
    ingest(station, folder_camera.root)
    fields = run_json(station, "devices", "show", "DSJ9X001")["profile_in_force"]["fields"]
    assert fields["split_s"] == [] and fields["start_marks"] == []
    fourth = build_folder_camera(tmp_path / "more", replace(folder_camera.spec, segments=4))[3]
    ingest(station, camera_of([fourth], tmp_path / "camera-2"))
    found = run_json(station, "findings", "--recording", "4")["unexplained"]
    # clock_drift: the simulated files are dated before the first dock (the station's clock)
    assert [f["kind"] for f in found] == ["clock_drift"], [(f["kind"], f["message"]) for f in found]
