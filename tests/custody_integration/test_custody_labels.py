"""Labels that never overwrite, `bodycam log`, `bodycam report deadlines`, and `--as` roles."""

from __future__ import annotations

import json
from pathlib import Path

from custody_support import audit, ingest, label_all, problems, sql
from helpers import StationEnv

from bodycam_ingest.config import load_config
from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera


def test_a_label_change_supersedes_and_keeps_the_history_attributed(station: StationEnv,
                                                                    fresh_camera: Path) -> None:
    ingest(station, fresh_camera)
    label_all(station)
    station.run("tag", "1", "--case", "人社监察[2026]13号", "--reason", "wrong case number",
                check=True)
    shown = json.loads(station.run("show", "1", "--json", check=True).stdout)
    history = shown["labels"]
    assert [h["case_number"] for h in history] == ["人社监察[2026]12号", "人社监察[2026]13号"]
    assert history[1]["supersedes_id"] == history[0]["id"]
    assert history[1]["party"] == "某某建筑有限公司", "fields not given are carried over"
    assert [o["certificate"] for o in history[1]["officers"]] == ["44010001", "44010002"]
    assert history[1]["actor"] == "os:root" and history[1]["reason"] == "wrong case number"
    code, report = audit(station)
    assert code == 0, problems(report)


def test_tag_selects_by_officer_and_time_range_in_station_time(station: StationEnv,
                                                               fresh_camera: Path) -> None:
    ingest(station, fresh_camera)
    station.run("tag", "--by-officer", "A1024", "--since", "2000-01-01", "--case", "X-1",
                "--matter", "现场检查", check=True)
    assert sql(station, "SELECT count(*), min(matter) FROM custody_labels WHERE case_number='X-1'"
               ) == [(2, "on-site-inspection")]
    unknown = station.run("tag", "1", "--matter", "karaoke")
    assert unknown.returncode == 2 and "on-site-inspection" in unknown.stderr


def test_log_shows_the_custody_history_of_a_recording_and_of_a_case(station: StationEnv,
                                                                    fresh_camera: Path) -> None:
    ingest(station, fresh_camera)
    label_all(station, case="CASE-7")
    by_id = json.loads(station.run("log", "1", "--json", check=True).stdout)
    actions = [e["action"] for e in by_id]
    assert actions[0] == "recording_ingested" and actions[-1] == "label_set"
    assert [e["seq"] for e in by_id] == sorted(e["seq"] for e in by_id)
    assert {e["recording_id"] for e in by_id} == {1}
    by_case = json.loads(station.run("log", "--case", "CASE-7", "--json", check=True).stdout)
    assert {e["recording_id"] for e in by_case} == {1, 2}
    assert sql(station, "SELECT count(*) FROM events WHERE action='custody_log_viewed'") == [(2,)]
    assert station.run("log", "--case", "NOPE").returncode == 4


def test_nobody_acts_for_another_by_typing_a_name(station: StationEnv,
                                                  fresh_camera: Path) -> None:
    ingest(station, fresh_camera)
    typed = station.run("tag", "1", "--case", "C-1", "--as", "officer-wang")
    assert typed.returncode == 2 and "No such option: --as" in typed.stderr
    assert sql(station, "SELECT count(*) FROM custody_labels") == [(0,)]
    old = station.config_path.read_text()
    station.config_path.write_text(old + '\n[custody]\nact_for_others = ["custodian"]\n')
    refused = station.run("list")
    assert refused.returncode == 3
    assert "custody.act_for_others is no longer used" in refused.stderr
    assert "bodycam requests act-for" in refused.stderr.replace("\n", " ")


def test_report_deadlines_lists_missed_exports_and_labelling(station: StationEnv,
                                                             tmp_path: Path) -> None:
    old = tmp_path / "old-camera"
    build_folder_camera(old, CameraSpec(segments=1, seconds=1.0))  # recorded 2026-11-20 09:30
    ingest(station, old)
    rows = json.loads(station.run("report", "deadlines", "--json", check=True).stdout)
    assert len(rows) == 1
    assert rows[0]["export_status"] == "missed"
    assert rows[0]["export_deadline"].startswith("2026-11-21T01:30:01")
    # 2026-11-20 is a Friday in Shanghai: 2 working days -> Tuesday 24th ends at 16:00Z on the 24th
    assert rows[0]["labelling_deadline"].startswith("2026-11-24T16:00:00")
    station.config_path.write_text(station.config_path.read_text()
                                   + '\n[custody]\nholidays = ["2026-11-23"]\n')
    assert load_config(station.config_path).custody.holidays
    rows = json.loads(station.run("report", "deadlines", "--all", "--json", check=True).stdout)
    assert rows[0]["labelling_deadline"].startswith("2026-11-25T16:00:00")
