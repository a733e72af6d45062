"""The CLI conventions of the commands moved onto the local API, run in-process as root: unknown
and impossible ids exit 4 with one sentence, every report has --json, JSON values are objects
with snake_case keys, and the system's actor is the OS account as such."""

from __future__ import annotations

import json

from conftest_media import FolderCamera
from helpers import StationEnv

TOO_BIG = str(2**63)  # no catalog holds this id


def test_unknown_and_impossible_ids_exit_4_without_a_traceback(station: StationEnv) -> None:
    for args in (("verify", "999"), ("verify", TOO_BIG), ("log", TOO_BIG), ("log", "7"),
                 ("tag", TOO_BIG, "--case", "C-1"), ("tag", "5", "--case", "C-1"),
                 ("explain", TOO_BIG, "--reason", "rain"),
                 ("findings", "--recording", TOO_BIG), ("hold", "list", "--recording", "9"),
                 ("archive", "verify", TOO_BIG)):
        result = station.run(*args)
        assert result.returncode == 4, (args, result.stdout, result.stderr)
        assert "does not exist" in result.stderr and "Traceback" not in result.stderr, args


def test_tag_log_and_audit_speak_json_objects_with_snake_case_keys(
        station: StationEnv, folder_camera: FolderCamera) -> None:
    station.run("ingest", str(folder_camera.root), check=True)
    tagged = json.loads(station.run("tag", "1", "2", "--case", "C-9", "--json",
                                    check=True).stdout)
    assert tagged == {"labelled": [1, 2], "actor": "os:root", "approved_by": None}
    entries = json.loads(station.run("log", "1", "--json", check=True).stdout)
    label = [e for e in entries if e["action"] == "label_set"][-1]
    assert isinstance(label["details"], dict) and label["details"]["label_id"] == 1
    assert label["actor"] == "os:root"
    report = json.loads(station.run("audit", "--json", "--no-deadlines").stdout)
    assert report["clean"], report["findings"]
    assert report["sections"][:3] == ["fixity", "manifests", "custody_log"]
    assert all(" " not in key for key in report["checked"])
    text = station.run("audit", "--no-deadlines", check=True).stdout
    assert "custody log" in text and "clean" in text
