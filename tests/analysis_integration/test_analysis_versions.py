"""Re-analysis, device profiles and the [analysis] config: new versions never erase old ones, a
learned profile judges what the camera delivers next, and a bad threshold is a config error."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from analysis_support import CorpusFiles, camera_of, ingest, run_json, sql
from conftest_media import FolderCamera
from helpers import StationEnv, write_config

from bodycam_ingest.analysis.extract import extract
from bodycam_ingest.analysis.model import learn_profile
from bodycam_ingest.analysis.profiles import (
    fields_from_profile,
    profile_from_fields,
    profile_from_json,
    profile_to_json,
)
from bodycam_ingest.sim.camera import build_folder_camera


def test_analyze_all_after_a_threshold_change_adds_a_version_and_keeps_the_old_rows(
        station: StationEnv, tmp_path: Path, corpus_files: CorpusFiles) -> None:
    ingest(station, camera_of([corpus_files.cut], tmp_path / "camera"))
    (gap_id,) = [f["id"] for f in run_json(station, "findings")["unexplained"]
                 if f["kind"] == "timestamp_gap"]
    # the 1.3 s hole is 13 video frames and 61 audio packets: a limit of 100 lets it through
    write_config(station.root, "[analysis.thresholds]\ngap_frames = 100\n")
    result = run_json(station, "analyze", "--all")
    assert [(r["recording_id"], r["version"]) for r in result] == [(1, 2)]
    current = run_json(station, "findings")["unexplained"]
    assert "timestamp_gap" not in {f["kind"] for f in current}
    history = run_json(station, "findings", "--history")["unexplained"]
    old = [f for f in history if f["id"] == gap_id]
    assert len(old) == 1 and old[0]["current"] is False and old[0]["analysis_version"] == 1
    assert sql(station, "SELECT version, current FROM analysis_runs ORDER BY version") == \
        [(1, 0), (2, 1)]
    (thresholds,) = sql(station, "SELECT thresholds FROM analysis_runs WHERE version = 2")[0]
    assert '"gap_frames": 100.0' in thresholds
    superseded = station.run("explain", str(gap_id), "--reason", "rain")
    assert superseded.returncode == 5 and "superseded" in superseded.stderr


def test_an_explanation_carries_over_to_the_next_version_of_the_same_finding(
        station: StationEnv, tmp_path: Path, corpus_files: CorpusFiles) -> None:
    ingest(station, camera_of([corpus_files.cut], tmp_path / "camera"))
    (gap,) = [f for f in run_json(station, "findings")["unexplained"]
              if f["kind"] == "timestamp_gap"]
    station.run("explain", str(gap["id"]), "--reason", "lens cleaned", check=True)
    station.run("analyze", "1", check=True)
    now = run_json(station, "findings")
    (again,) = [f for f in now["explained"] if f["kind"] == "timestamp_gap"]
    assert again["id"] != gap["id"] and again["analysis_version"] == 2
    assert again["fingerprint"] == gap["fingerprint"]
    assert [e["reason"] for e in again["explanations"]] == ["lens cleaned"]


def test_a_device_profile_is_learned_shown_and_judges_the_next_recordings(
        station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    ingest(station, folder_camera.root)
    device = run_json(station, "devices", "show", "DSJ9X001")
    profile = device["profile_in_force"]
    assert profile["source"] == "learned" and profile["learned_from"] == [1, 2, 3]
    assert profile["fields"]["resolutions"] == ["160x120"]
    assert profile["fields"]["frame_rates"] == ["10"]
    listed = run_json(station, "devices", "list")
    assert [(d["device"], d["recordings"], d["profile"]) for d in listed] == \
        [("DSJ9X001", 3, "learned from 3 recordings")]
    assert sql(station, "SELECT count(*) FROM events WHERE action = 'profile_learned'") == [(1,)]
    text = station.run("devices", "show", "DSJ9X001", check=True).stdout
    assert "learned from recordings" in text and "160x120" in text

    # The same camera now delivers a segment written at another resolution: not its own output.
    spec = replace(folder_camera.spec, width=320, height=240, segments=1, first_seq=4,
                   start=folder_camera.spec.segment_start(3))
    odd = build_folder_camera(tmp_path / "odd", spec)
    ingest(station, camera_of(odd, tmp_path / "camera-2"))
    found = run_json(station, "findings", "--recording", "4")["unexplained"]
    changes = [f for f in found if f["kind"] == "parameter_change" and f["offset_s"] is None]
    assert len(changes) == 1 and "320x240" in changes[0]["measured"]
    unknown = station.run("devices", "show", "NOPE")
    assert unknown.returncode == 4


def test_a_configured_profile_overrides_learning(station: StationEnv,
                                                 folder_camera: FolderCamera) -> None:
    write_config(station.root, "[analysis.profiles.DSJ9X001]\nresolutions = [\"1920x1080\"]\n")
    ingest(station, folder_camera.root)
    found = run_json(station, "findings", "--kind", "parameter_change")["unexplained"]
    assert sorted(f["recording_id"] for f in found) == [1, 2, 3]
    assert all("1920x1080" in f["threshold"] for f in found)
    shown = run_json(station, "devices", "show", "DSJ9X001")
    assert shown["profile_in_force"]["source"] == "config"
    assert sql(station, "SELECT source FROM device_profiles") == [("config",)]


def test_a_bad_analysis_setting_is_a_config_error_naming_the_key(station: StationEnv) -> None:
    write_config(station.root, "[analysis.thresholds]\ngap_frames = 0\n")
    result = station.run("findings")
    assert result.returncode == 3
    assert "analysis.thresholds.gap_frames" in result.stderr
    write_config(station.root, "[analysis.profiles.X]\nresolutions = [\"wide\"]\n")
    result = station.run("findings")
    assert result.returncode == 3 and "'wide' is not a resolution" in result.stderr


def test_a_learned_profile_survives_its_text_form_unchanged(
        folder_camera: FolderCamera) -> None:
    timelines = [extract(p).timeline for p in folder_camera.paths]
    profile = learn_profile(t for t in timelines if t is not None)
    assert profile_from_fields(fields_from_profile(profile)) == profile
    assert profile_from_json(profile_to_json(profile)) == profile


def test_the_analysis_commands_refuse_bad_input_with_one_sentence(station: StationEnv) -> None:
    neither = station.run("analyze")
    assert neither.returncode == 2 and "--all" in neither.stderr
    assert station.run("analyze", "1", "--all").returncode == 2
    unknown = station.run("analyze", "99")
    assert unknown.returncode == 4 and "Recording 99 does not exist" in unknown.stderr
    assert station.run("findings", "--recording", "99").returncode == 4
    bad_kind = station.run("findings", "--kind", "gap")
    assert bad_kind.returncode == 2 and "timestamp_gap" in bad_kind.stderr
    empty = station.run("explain", "1", "--reason", "  ")
    assert empty.returncode == 2
