"""Disclosure (R6): an export package verifies with sha256sum, openssl and bagit.py, and one
flipped byte makes each of them fail; an export is a request that a supervisor approves, then it
is built by the station and fetched; request, approval and export are logged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from access_support import SUPERVISOR, approve_request
from custody_support import ingest, label_all, sql
from helpers import StationEnv

BAGIT = Path(sys.executable).with_name("bagit.py")
REQUEST = ("--recipient", "court", "--recipient-name", "天河区人民法院", "--reason",
           "court investigation order 7")


def request_export(station: StationEnv, *args: str) -> dict[str, Any]:
    result = station.run("export", *args, *REQUEST, "--json", check=True)
    request: dict[str, Any] = json.loads(result.stdout)["request"]
    return request


@pytest.fixture
def package(station: StationEnv, fresh_camera: Path, second_camera: Path,
            tmp_path: Path) -> Path:
    ingest(station, fresh_camera)
    ingest(station, second_camera)
    label_all(station, case="CASE-9")
    dest = tmp_path / "package"
    request = request_export(station, "--case", "CASE-9")
    approve_request(station, request["id"])
    station.run("requests", "fetch", str(request["id"]), "--to", str(dest), check=True)
    return dest


def _sha256sum(bag: Path) -> int:
    return subprocess.run(["sha256sum", "-c", "--strict", "manifest-sha256.txt"], cwd=bag,
                          capture_output=True, check=False).returncode


def _openssl(bag: Path) -> list[int]:
    pub = bag / "data" / "keys" / "station.pub"
    return [subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(pub),
                            "-rawin", "-in", str(m), "-sigfile", str(m.with_suffix(".sig"))],
                           capture_output=True, check=False).returncode
            for m in sorted((bag / "data" / "manifests").glob("*.json"))]


def _bagit(bag: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BAGIT), "--validate", str(bag)],
                          capture_output=True, text=True, check=False)


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_an_export_verifies_with_sha256sum_openssl_and_bagit(package: Path,
                                                             fresh_camera: Path) -> None:
    assert _sha256sum(package) == 0
    assert _openssl(package) == [0, 0]
    result = _bagit(package)
    assert result.returncode == 0, result.stderr
    originals = sorted(fresh_camera.rglob("*.MP4"))
    for original in originals:
        copies = list(package.glob(f"data/recordings/*/DCIM/100MEDIA/{original.name}"))
        assert [c.read_bytes() == original.read_bytes() for c in copies] == [True]
    readme = (package / "README.txt").read_text()
    assert "sha256sum -c manifest-sha256.txt" in readme and "openssl pkeyutl" in readme
    log = [json.loads(line) for line in (package / "data" / "custody-log.jsonl").open()]
    assert {e["action"] for e in log} >= {"recording_ingested", "label_set", "recording_exported"}


def test_one_flipped_byte_in_an_exported_recording_fails_every_check(package: Path) -> None:
    _flip(next(package.glob("data/recordings/1/**/*.MP4")))
    assert _sha256sum(package) != 0
    assert _bagit(package).returncode != 0


def test_one_flipped_byte_in_an_exported_manifest_fails_every_check(package: Path) -> None:
    manifest = sorted((package / "data" / "manifests").glob("*.json"))[0]
    _flip(manifest)
    assert _sha256sum(package) != 0
    assert _openssl(package)[0] != 0
    assert _bagit(package).returncode != 0


def test_the_export_is_logged_with_requester_approver_reason_and_recipient(
        package: Path, station: StationEnv) -> None:
    rows = sql(station, "SELECT recording_id, actor, approved_by, reason, details FROM events "
                        "WHERE action = 'recording_exported' ORDER BY recording_id")
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    details = json.loads(rows[0][4])
    assert (rows[0][1], rows[0][2], rows[0][3]) == ("os:root", SUPERVISOR,
                                                    "court investigation order 7")
    assert (details["requested_by"], details["recipient"]) == ("os:root", "court")
    assert details["recipient_name"] == "天河区人民法院" and details["request_id"] == 1
    trail = sql(station, "SELECT action, actor FROM events WHERE subject = 'request 1' "
                         "ORDER BY seq")
    assert trail == [("request_created", "os:root"), ("request_approved", SUPERVISOR),
                     ("request_done", SUPERVISOR), ("export_fetched", "os:root")]


def test_an_export_is_only_a_request_until_a_supervisor_approves_it(
        station: StationEnv, fresh_camera: Path, tmp_path: Path) -> None:
    ingest(station, fresh_camera)
    dest = tmp_path / "nope"
    no_reason = [a for a in REQUEST if a not in ("--reason", "court investigation order 7")]
    result = station.run("export", "1", "--to", str(dest), *no_reason)
    assert result.returncode == 5 and "--reason" in result.stderr
    request = request_export(station, "1", "--to", str(dest))
    assert (request["kind"], request["state"]) == ("export", "pending")
    fetch = station.run("requests", "fetch", str(request["id"]), "--to", str(dest))
    assert fetch.returncode == 5 and "pending" in fetch.stderr
    root = station.run("requests", "approve", str(request["id"]), "--digest", request["digest"])
    assert root.returncode == 5 and "not a person" in " ".join(root.stderr.split())
    assert not dest.exists()
    assert not (station.root / "state" / "exports" / str(request["id"])).exists()
    assert sql(station, "SELECT count(*) FROM events WHERE action='recording_exported'") == [(0,)]
