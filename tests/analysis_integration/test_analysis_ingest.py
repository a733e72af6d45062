"""Issue 3 end to end: a dock leaves every recording with a continuity verdict, through the real
CLI, on real ffmpeg-made cameras (clean, cut, with a deleted segment, damaged)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from analysis_support import CorpusFiles, camera_of, ingest, run_json, sql
from conftest_media import FolderCamera, sha256_of
from helpers import StationEnv

from bodycam_ingest.ingest.journal import DeviceIdentity
from bodycam_ingest.ingest.pipeline import DockRequest, Ingester
from bodycam_ingest.station import Station


def test_a_clean_camera_gives_every_recording_a_clean_verdict_and_no_finding(
        station: StationEnv, folder_camera: FolderCamera) -> None:
    ingest(station, folder_camera.root)
    assert run_json(station, "findings") == {"unexplained": [], "explained": []}
    for recording in (1, 2, 3):
        shown = run_json(station, "show", str(recording))
        assert shown["continuity"]["verdict"] == "clean"
        assert shown["continuity"]["version"] == 1
        assert shown["findings"] == []
        assert shown["session_place"]["position"] == recording
    completed = sql(station, "SELECT recording_id FROM events WHERE action = "
                             "'analysis_completed' ORDER BY seq")
    assert completed == [(1,), (2,), (3,)]


def test_a_cut_is_reported_at_its_offset_then_explained_and_still_listed(
        station: StationEnv, tmp_path: Path, corpus_files: CorpusFiles) -> None:
    camera = camera_of([corpus_files.cut], tmp_path / "camera")
    ingest(station, camera)
    open_ = run_json(station, "findings", "--unexplained")["unexplained"]
    gaps = [f for f in open_ if f["kind"] == "timestamp_gap"]
    assert len(gaps) == 1, open_
    gap = gaps[0]
    assert gap["recording_id"] == 1 and gap["severity"] == "critical"
    assert abs(gap["offset_s"] - corpus_files.cut_at) <= 0.11
    assert gap["measured"] > gap["threshold"]

    missing = station.run("explain", str(gap["id"]))
    assert missing.returncode == 2 and "--reason" in missing.stderr
    unknown = station.run("explain", "999", "--reason", "rain")
    assert unknown.returncode == 4
    assert "Finding 999 does not exist" in unknown.stderr and unknown.stderr.count("\n") == 1

    station.run("explain", str(gap["id"]), "--reason", "battery swapped during heavy rain",
                check=True)
    after = run_json(station, "findings")
    assert gap["id"] not in [f["id"] for f in after["unexplained"]]
    explained = [f for f in after["explained"] if f["id"] == gap["id"]]
    assert len(explained) == 1 and explained[0]["offset_s"] == gap["offset_s"]
    assert explained[0]["explanations"][0]["reason"] == "battery swapped during heavy rain"
    assert gap["id"] not in [f["id"] for f in
                             run_json(station, "findings", "--unexplained")["unexplained"]]
    shown = run_json(station, "show", "1")
    assert shown["continuity"]["verdict"] == "findings"
    assert shown["continuity"]["explained"] >= 1
    text = station.run("show", "1", check=True).stdout
    assert "timestamp_gap" in text and "battery swapped" in text
    assert sql(station, "SELECT count(*) FROM events WHERE action = 'finding_explained'") == [(1,)]


def test_a_session_with_its_middle_segment_deleted_reports_missing_segment(
        station: StationEnv, folder_camera: FolderCamera) -> None:
    folder_camera.paths[1].unlink()  # seq 0002 deleted on the camera
    ingest(station, folder_camera.root)
    found = run_json(station, "findings", "--kind", "missing_segment")["unexplained"]
    assert [(f["kind"], f["recording_id"], f["measured"]) for f in found] == \
        [("missing_segment", 2, 1.0)]  # reported on the file after the hole (seq 0003)
    assert "0002" in found[0]["message"]
    assert run_json(station, "show", "1")["continuity"]["verdict"] == "clean"


def test_docking_a_camera_again_does_not_duplicate_findings(
        station: StationEnv, folder_camera: FolderCamera) -> None:
    folder_camera.paths[1].unlink()
    ingest(station, folder_camera.root)
    before = sql(station, "SELECT id, fingerprint, current FROM findings ORDER BY id")
    runs = sql(station, "SELECT count(*) FROM analysis_runs")
    again = ingest(station, folder_camera.root)
    assert again["skipped"] == 2
    assert sql(station, "SELECT id, fingerprint, current FROM findings ORDER BY id") == before
    assert sql(station, "SELECT count(*) FROM analysis_runs") == runs
    assert len(before) == 1


def test_a_truncated_file_is_stored_exactly_as_it_arrived_and_flagged(
        station: StationEnv, tmp_path: Path, corpus_files: CorpusFiles) -> None:
    camera = camera_of([corpus_files.truncated], tmp_path / "camera")
    report = ingest(station, camera, expect=1)  # stored, but the probe cannot read it
    assert report["stored"] == 1
    (stored,) = station.stored_files()
    assert sha256_of(stored) == sha256_of(corpus_files.truncated)
    found = run_json(station, "findings", "--kind", "truncated")["unexplained"]
    assert [f["recording_id"] for f in found] == [1]
    assert "kept as evidence" in found[0]["message"] or "incomplete" in found[0]["message"]


def test_analysis_runs_after_the_dock_is_copied_not_on_the_copy_path(
        station: StationEnv, folder_camera: FolderCamera) -> None:
    ingest(station, folder_camera.root)
    actions = [a for (a,) in sql(station, "SELECT action FROM events ORDER BY seq")]
    last_copy = max(i for i, a in enumerate(actions) if a == "recording_ingested")
    first_analysis = actions.index("analysis_completed")
    assert first_analysis > last_copy, actions
    assert actions.index("dock_finished") > max(i for i, a in enumerate(actions)
                                                if a == "analysis_completed")
    (copied_by,) = sql(station, "SELECT max(finished_at) FROM transfers")[0]
    (analysed_from,) = sql(station, "SELECT min(analyzed_at) FROM analysis_runs")[0]
    assert analysed_from >= copied_by
    readers = {r for (r,) in sql(station, "SELECT reader FROM analysis_runs")}
    assert readers == {"index"}, "analysis reads the MP4 index of the stored copy"


def test_a_stored_file_that_cannot_be_read_is_a_storage_error_not_a_finding(
        station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    """A storage error (not a finding) is the one thing that makes after_dock raise."""
    ingest(station, folder_camera.root)
    for path in station.stored_files():
        path.chmod(0o444)
    first = station.stored_files()[0]
    moved = tmp_path / "moved"
    shutil.move(first, moved)
    try:
        result = station.run("analyze", "--all")
        assert result.returncode == 8, result.stderr
        assert "cannot be read for analysis" in result.stderr
    finally:
        shutil.move(moved, first)


def test_an_impossible_name_time_is_flagged_but_a_foreign_name_is_not(
        station: StationEnv, folder_camera: FolderCamera, tmp_path: Path) -> None:
    first = folder_camera.paths[0]
    bad = tmp_path / "A1024_DSJ9X001_20261320093000_0001.MP4"  # month 13
    foreign = tmp_path / "clip one.MP4"  # matches no naming pattern: judged on its own
    shutil.copy2(first, bad)
    shutil.copy2(folder_camera.paths[1], foreign)
    ingest(station, camera_of([bad, foreign], tmp_path / "odd-camera"))
    found = run_json(station, "findings")["unexplained"]
    by_file = {f["recording_id"]: f["kind"] for f in found}
    ids = dict(sql(station, "SELECT camera_path, id FROM recordings"))
    assert by_file == {ids[f"DCIM/100MEDIA/{bad.name}"]: "time_mismatch"}
    assert run_json(station, "show", str(ids[f"DCIM/100MEDIA/{foreign.name}"]))[
        "continuity"]["verdict"] == "clean"


def test_the_custody_audit_reports_unexplained_findings_until_they_are_explained(
        station: StationEnv, tmp_path: Path, corpus_files: CorpusFiles) -> None:
    ingest(station, camera_of([corpus_files.cut], tmp_path / "camera"))
    result = station.run("audit", "--json")
    assert result.returncode == 9, result.stderr
    report = json.loads(result.stdout)
    continuity = [f for f in report["findings"] if f["section"] == "continuity"]
    assert continuity and all("unexplained" in f["problem"] for f in continuity)
    for f in run_json(station, "findings")["unexplained"]:
        station.run("explain", str(f["id"]), "--reason", "camera dropped in the rain", check=True)
    after = json.loads(station.run("audit", "--json").stdout)
    assert [f for f in after["findings"] if f["section"] == "continuity"] == []


def test_recordings_a_dock_stored_but_never_analysed_are_analysed_at_the_next_dock(
        station: StationEnv, folder_camera: FolderCamera) -> None:
    """As after a dock killed between storing its files and analysing them: the device's next
    dock (which skips the files as already stored) analyses them."""
    root = folder_camera.root.resolve()
    opened = Station.open(station.config)
    try:
        ingester = Ingester(opened.config, opened.catalog, opened.store, clock=opened.clock,
                            actor=opened.actor, prober=opened.prober, after_dock=())
        report = ingester.ingest(DockRequest(
            root=root, rule=opened.config.camera(None), trigger="cli", source=str(root),
            identity=DeviceIdentity(key=f"folder:{root}", kind="folder")))
    finally:
        opened.close()
    assert report.stored == 3
    assert sql(station, "SELECT count(*) FROM analysis_runs") == [(0,)]
    again = ingest(station, folder_camera.root)
    assert again["skipped"] == 3
    runs = sql(station, "SELECT recording_id, version, dock_id FROM analysis_runs "
                        "ORDER BY recording_id")
    assert runs == [(1, 1, 1), (2, 1, 1), (3, 1, 1)], "judged as part of their own dock"
    assert run_json(station, "findings") == {"unexplained": [], "explained": []}
