"""A bureau on real servers (issue 12, "Must show"): two stations, two configs, ONE PostgreSQL 15
catalog and ONE Ceph bucket with Object Lock, both started by the tests. The stations ingest at
the same time and replicate at the same time; then each sees only its own recordings, both
station audits and the bureau-wide audit are clean, every recording of both is verified on the
bucket, each station's anchors are in its own folder there, and a third station started under a
taken id is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from helpers import BODYCAM, StationEnv
from object_store_support import Ceph, object_store_section, s3_client
from test_stations import audit, bureau_audit, camera, ids, make_station
from test_stations import masters as masters  # noqa: PLC0414  (a module fixture)

from bodycam_ingest.errors import ExitCode
from bodycam_ingest.storage.s3 import ensure_bucket

pytestmark = pytest.mark.slow
TESTS = Path(__file__).resolve().parent


def with_object_store(station: StationEnv, ceph: Ceph, bucket: str) -> StationEnv:
    with station.config_path.open("a") as config:
        config.write(object_store_section(station.root, ceph, bucket))
    return station


def started(station: StationEnv, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(argv or [*BODYCAM], text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env={**os.environ, "BODYCAM_CONFIG": str(station.config_path),
                                 "PYTHONPATH": os.pathsep.join(
                                     [str(TESTS.parent), os.environ.get("PYTHONPATH", "")])})


def finished(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=900)
    return process.returncode, out, err


def test_two_stations_share_one_postgresql_catalog_and_one_object_lock_bucket(
        tmp_path: Path, pg_url: str, ceph: Ceph, masters: dict[str, Path]) -> None:
    bucket = f"bureau-{uuid.uuid4().hex[:10]}"
    ensure_bucket(s3_client(ceph.endpoint), bucket)
    a = with_object_store(make_station(tmp_path / "a", "station-a", pg_url), ceph, bucket)
    b = with_object_store(make_station(tmp_path / "b", "station-b", pg_url), ceph, bucket)

    # both stations dock at once (the first start of each also registers it on the catalog)
    docks = [started(s, *BODYCAM, "ingest", str(camera(masters, name, tmp_path / f"cam-{name}")),
                     "--json")
             for s, name in ((a, "A"), (b, "B"))]
    for code, out, err in map(finished, docks):
        assert code == 0, out + err
        assert json.loads(out)["stored"] == 2, out

    # both replicate at once, each through its own queue, to the one bucket
    workers = [started(s, sys.executable, str(TESTS / "object_store_worker.py"),
                       str(s.config_path)) for s in (a, b)]
    for code, out, err in map(finished, workers):
        assert code == 0, out + err

    # each sees only its own recordings
    mine_a, mine_b = ids(a), ids(b)
    assert len(mine_a) == 2 and len(mine_b) == 2 and not set(mine_a) & set(mine_b)
    foreign = a.run("show", str(mine_b[0]))
    assert foreign.returncode == ExitCode.NOT_FOUND, foreign.stdout + foreign.stderr

    # both station audits and the bureau's audit are clean; replication is complete
    for station in (a, b):
        code, report = audit(station)
        assert code == 0, report
    code, report = bureau_audit(b)
    assert code == 0 and report["clean"], report
    assert {part["station"] for part in report["stations"]} == {"station-a", "station-b"}

    # every recording of both stations is on the bucket, verified, locked; anchors per station
    client = s3_client(ceph.endpoint)
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    keys = {item["Key"] for item in listed}
    for station, mine in ((a, mine_a), (b, mine_b)):
        for ident in mine:
            shown = json.loads(station.run("show", str(ident), "--json", check=True).stdout)
            key = next(k for k in keys if k.endswith(shown["sha256"]))
            head = client.head_object(Bucket=bucket, Key=key)
            assert head["ObjectLockMode"] == "COMPLIANCE", head
        prefix = f"anchors/{station.config.station.id}/"
        assert any(k.startswith(prefix + "checkpoints/") for k in keys), sorted(keys)

    # a third station started under station-a's id, with its own key, is refused at start
    c = make_station(tmp_path / "c", "station-a", pg_url)
    refused = c.run("list")
    assert refused.returncode == ExitCode.CONFIG, refused.stdout + refused.stderr
    assert "station-a" in refused.stderr and "Traceback" not in refused.stderr
