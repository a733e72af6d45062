"""Issue 9, D7 and D8 (item 5): an export package of files FAT forbids passes the recipient's own
checks (``sha256sum -c`` and ``bagit.py --validate``, as README.txt tells them), and a package is
never written into the station's own folders nor deletes a folder it did not create."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from access_support import approve_request
from helpers import StationEnv

from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera

BAGIT = Path(sys.executable).with_name("bagit.py")
REQUEST = ("--recipient", "court", "--reason", "court investigation order 7")
# every character FAT refuses but an ext4 cradle folder holds, the bag's own escape character
# (with what looks like an escape), non-ASCII and blanks at both ends. A backslash or a control
# character (newline) is refused by the ingest (entry_rejected), so no recording carries one:
# package_name's table below covers them all the same.
ODD_NAMES = ["12:30:00.MP4", "100% 50%25 %0A.MP4", 'a?b*c"d<e>f|g.MP4', "天河区 现场 é.MP4",
             " both ends .MP4"]


def _camera(root: Path, names: list[str], device: str = "DSJ9X001") -> Path:
    """A folder camera whose recordings (real ffmpeg media, recorded minutes ago) carry
    ``names``."""
    now = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    spec = replace(CameraSpec(segments=len(names), seconds=1.0), device=device,
                   start=now - timedelta(minutes=10))
    files = build_folder_camera(root, spec)
    for file, name in zip(sorted(files), names, strict=True):
        file.rename(file.with_name(name))
    return root


def _export(station: StationEnv, *ids: str) -> dict[str, Any]:
    result = station.run("export", *ids, *REQUEST, "--json", check=True)
    request: dict[str, Any] = json.loads(result.stdout)["request"]
    approve_request(station, request["id"])
    return request


def _sha256sum(bag: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sha256sum", "-c", "--strict", "manifest-sha256.txt"], cwd=bag,
                          capture_output=True, text=True, check=False)


def _bagit(bag: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BAGIT), "--validate", str(bag)],
                          capture_output=True, text=True, check=False)


# --------------------------------------------------------------------------- D7


@pytest.mark.parametrize(("camera_path", "expected"), [
    ("DCIM/100MEDIA/12:30:00.MP4", "DCIM/100MEDIA/12_30_00.MP4"),
    ("DCIM/100% 50%25.MP4", "DCIM/100_ 50_25.MP4"),
    ('a?b*c"d<e>f|g\\h.MP4', "a_b_c_d_e_f_g_h.MP4"),
    ("new\nline\r\t.MP4", "new_line__.MP4"),
    ("天河区 é.MP4", "天河区 é.MP4"),
    (" both ends .MP4 ", "_both ends .MP4_"),
    ("/../x/./y//z.", "__/x/_/y/z_"),
    ("*star", "_star"),
    ("rlo\u202egnp.MP4", "rlo_gnp.MP4"),
    ("", "_"),
])
def test_d7_package_names_read_the_same_in_every_checker(camera_path: str, expected: str) -> None:
    from bodycam_ingest.custody.export import package_name

    assert package_name(camera_path) == expected


def test_d7_an_export_of_names_fat_forbids_passes_sha256sum_and_bagit(
        station: StationEnv, tmp_path: Path) -> None:
    camera = _camera(tmp_path / "camera", ODD_NAMES)
    station.run("ingest", str(camera), "--json", check=True)
    request = _export(station, *map(str, range(1, len(ODD_NAMES) + 1)))
    package = tmp_path / "package"
    station.run("requests", "fetch", str(request["id"]), "--to", str(package), check=True)

    checked = _sha256sum(package)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    validated = _bagit(package)
    assert validated.returncode == 0, validated.stderr
    facts = json.loads((package / "data" / "recordings.json").read_text())
    by_name = {Path(f["camera_path"]).name: package / f["file"] for f in facts}
    assert sorted(by_name) == sorted(ODD_NAMES)  # the camera's own names, as evidence
    for original in (camera / "DCIM" / "100MEDIA").iterdir():
        assert by_name[original.name].read_bytes() == original.read_bytes()
    # the recipient's checks still catch a flipped byte in the oddest name
    target = by_name["100% 50%25 %0A.MP4"]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 1
    target.chmod(0o644)
    target.write_bytes(bytes(data))
    assert _sha256sum(package).returncode != 0
    assert _bagit(package).returncode != 0


# --------------------------------------------------------------------------- D8


@pytest.fixture
def approved(station: StationEnv, tmp_path: Path) -> int:
    """An approved export request of a small camera's recordings."""
    station.run("ingest", str(_camera(tmp_path / "camera", ["A.MP4"])), check=True)
    return int(_export(station, "1")["id"])


def test_d8_fetch_never_deletes_a_partial_folder_it_did_not_create(
        station: StationEnv, approved: int, tmp_path: Path) -> None:
    dest = tmp_path / "court"
    unrelated = tmp_path / "court.partial"
    unrelated.mkdir()
    (unrelated / "someone's work.txt").write_text("keep me")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep me too")
    (tmp_path / ".court.partial").symlink_to(elsewhere)

    fetched = station.run("requests", "fetch", str(approved), "--to", str(dest))
    assert fetched.returncode == 0, fetched.stderr
    assert (unrelated / "someone's work.txt").read_text() == "keep me"
    assert (elsewhere / "keep.txt").read_text() == "keep me too"
    assert _sha256sum(dest).returncode == 0
    assert not (dest / ".bodycam-partial").exists()  # the run marker is not part of the package
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == [
        ".court.partial", "court.partial"]  # no temporary folder of this run left behind

    # a symlinked X.partial used to end in a traceback (exit 70): now it is simply not touched
    (tmp_path / "court2.partial").symlink_to(elsewhere)
    again = station.run("requests", "fetch", str(approved), "--to", str(tmp_path / "court2"))
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"]


def _places(station: StationEnv) -> dict[str, Path]:
    state = station.root / "state"
    return {"state": state / "pkg", "keys": state / "keys" / "pkg",
            "manifests": next(p for p in state.rglob("*.sig")).parent / "pkg",
            "store": station.store / "pkg", "store itself": station.store}


def test_d8_a_package_is_refused_inside_the_station_folders(
        station: StationEnv, approved: int, tmp_path: Path) -> None:
    link = tmp_path / "innocent"
    link.symlink_to(station.root / "state" / "keys")
    targets = {**_places(station), "through a symlink": link / "pkg",
               "a symlink into the store": tmp_path / "alias"}
    (tmp_path / "alias").symlink_to(station.store)
    for what, target in targets.items():
        before = sorted(p.name for p in target.parent.iterdir()) if target.parent.exists() else []
        fetched = station.run("requests", "fetch", str(approved), "--to", str(target))
        assert fetched.returncode == 5, (what, fetched.stderr)
        assert "inside the station's" in " ".join(fetched.stderr.split()), (what, fetched.stderr)
        assert "Traceback" not in fetched.stderr
        after = sorted(p.name for p in target.parent.iterdir()) if target.parent.exists() else []
        assert after == before, what  # nothing written, nothing removed
        requested = station.run("export", "1", "--to", str(target), *REQUEST)
        assert requested.returncode == 5, (what, requested.stderr)
        assert "inside the station's" in " ".join(requested.stderr.split())


def test_d8_an_archive_is_refused_inside_the_station_folders(station: StationEnv,
                                                              approved: int) -> None:
    for what, target in _places(station).items():
        target.mkdir(exist_ok=True)
        result = station.run("archive", "--all", "--to", str(target), "--same-device-ok")
        assert result.returncode == 5, (what, result.stdout, result.stderr)
        assert "inside the station's" in " ".join(result.stderr.split()), (what, result.stderr)
        assert [p.name for p in target.iterdir()] == [] or target == station.store, what


def test_d8_an_archive_never_removes_a_partial_folder_without_its_marker(
        station: StationEnv, approved: int, tmp_path: Path) -> None:
    """A folder named like this station's unfinished archive but without the run marker (made
    by hand, or by another program) is left in place."""
    import sqlite3

    medium = tmp_path / "medium"
    medium.mkdir()
    with sqlite3.connect(station.db) as db:  # an archive that never finished, as a crash leaves
        db.execute("INSERT INTO retention_archives (station_id, target, tier, created_at, actor, entries) "
                   "VALUES ('test-station', ?, 'all', '2026-01-01 00:00:00.000000', 'crash', 0)",
                   (str(medium / "test-station-archive-1-20260101"),))
    lookalike = medium / ".test-station-archive-1-20260101.partial"
    lookalike.mkdir()
    (lookalike / "notes.txt").write_text("mine")
    result = station.run("archive", "--all", "--to", str(medium), "--same-device-ok", "--json")
    assert result.returncode in (0, 1), result.stderr
    assert (lookalike / "notes.txt").read_text() == "mine"
