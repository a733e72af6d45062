"""The object store on a REAL S3 server with Object Lock: Ceph radosgw started by this module
(scripts/ceph-up.sh, ports picked free), never a mock. What must hold (issue 12):

* a stored object cannot be deleted or overwritten before its retain-until; retention cannot be
  shortened; a legal hold blocks deletion; after the period the object can be deleted;
* the replication queue survives a network cut mid-upload and resumes; kill -9 of the uploading
  process at random points (each placed by a hold, not by timing) never leaves a recording both
  unreplicated and unqueued, and the next run finishes with every object verified.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from object_store_support import (
    ACCESS,
    SECRET,
    Ceph,
    HeldReader,
    object_store_section,
    s3_client,
)

from bodycam_ingest.errors import BodycamError
from bodycam_ingest.storage.errors import ObjectLocked
from bodycam_ingest.storage.locks import Lock
from bodycam_ingest.storage.s3 import S3Store, ensure_bucket
from bodycam_ingest.storage.settings import ObjectStoreConfig

pytestmark = pytest.mark.slow
MiB = 1 << 20


def settings(ceph: Ceph, bucket: str, **extra: Any) -> ObjectStoreConfig:
    return ObjectStoreConfig(endpoint=ceph.endpoint, bucket=bucket, multipart_threshold=5 * MiB,
                             part_size=5 * MiB, **extra)


@pytest.fixture
def bucket(ceph: Ceph) -> str:
    name = f"ev-{uuid.uuid4().hex[:12]}"
    ensure_bucket(s3_client(ceph.endpoint), name)
    return name


def store_for(ceph: Ceph, bucket: str) -> S3Store:
    config = settings(ceph, bucket)
    from bodycam_ingest.storage.s3 import make_client

    return S3Store(config, make_client(config, (ACCESS, SECRET)))


def blob(size: int, seed: int = 0) -> tuple[bytes, str]:
    data = random.Random(seed).randbytes(size)
    return data, hashlib.sha256(data).hexdigest()


def soon(seconds: float) -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)


# --- Object Lock semantics, as the store uses them ----------------------------------------------

@pytest.mark.parametrize("size", [300_000, 12 * MiB], ids=["single-put", "multipart"])
def test_a_stored_object_cannot_be_deleted_or_overwritten_before_retain_until(
        ceph: Ceph, bucket: str, size: int) -> None:
    store = store_for(ceph, bucket)
    data, digest = blob(size)
    stored = store.put(digest, io.BytesIO(data), size, Lock(soon(3600), legal_hold=False))
    assert stored.lock is not None and stored.lock.retain_until >= soon(3500)
    with pytest.raises(ObjectLocked):
        store.delete(digest, stored.version)
    client = store.client
    # an overwrite of the key makes a new version; the locked one is untouched
    client.put_object(Bucket=bucket, Key=store.key(digest), Body=b"forged")
    assert store.verify(digest, stored.version)
    assert store.head(digest, stored.version) == stored
    # a batch delete of the version is refused too
    answer = client.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": store.key(digest), "VersionId": stored.version}]})
    assert answer.get("Errors") and not answer.get("Deleted")
    assert store.verify(digest, stored.version)


def test_compliance_retention_cannot_be_shortened(ceph: Ceph, bucket: str) -> None:
    store = store_for(ceph, bucket)
    data, digest = blob(1000, 1)
    until = soon(3600)
    stored = store.put(digest, io.BytesIO(data), len(data), Lock(until, False))
    # the store never asks (it keeps the later date) ...
    after = store.set_lock(digest, stored.version, Lock(until - timedelta(minutes=30), False))
    assert after is not None and after.retain_until == until
    # ... and the server refuses when asked directly, even with the governance bypass
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match=r"AccessDenied|InvalidRequest|denied"):
        store.client.put_object_retention(
            Bucket=bucket, Key=store.key(digest), VersionId=stored.version,
            BypassGovernanceRetention=True,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until - timedelta(minutes=30)})
    lock = store.lock_of(digest, stored.version)
    assert lock is not None and lock.retain_until == until
    # extending works
    later = store.set_lock(digest, stored.version, Lock(until + timedelta(days=1), False))
    assert later is not None and later.retain_until == until + timedelta(days=1)


def test_a_legal_hold_blocks_deletion_after_the_period(ceph: Ceph, bucket: str) -> None:
    store = store_for(ceph, bucket)
    data, digest = blob(2000, 2)
    stored = store.put(digest, io.BytesIO(data), len(data), Lock(soon(4), legal_hold=True))
    assert stored.lock is not None and stored.lock.legal_hold
    time.sleep(6)  # the server's own clock passes the retain-until: not a race, a date
    with pytest.raises(ObjectLocked):
        store.delete(digest, stored.version)
    assert store.verify(digest, stored.version)
    store.set_lock(digest, stored.version, Lock(stored.lock.retain_until, legal_hold=False))
    store.delete(digest, stored.version)
    assert store.head(digest, stored.version) is None


def test_an_object_can_be_deleted_once_its_period_is_over(ceph: Ceph, bucket: str) -> None:
    store = store_for(ceph, bucket)
    data, digest = blob(6 * MiB, 3)
    stored = store.put(digest, io.BytesIO(data), len(data), Lock(soon(4), legal_hold=False))
    with pytest.raises(ObjectLocked):
        store.delete(digest, stored.version)
    time.sleep(6)
    store.delete(digest, stored.version)
    assert store.head(digest, stored.version) is None


def test_a_corrupted_part_is_refused_by_the_server(ceph: Ceph, bucket: str) -> None:
    """Content-MD5 is one checksum RGW verifies (it ignores x-amz-checksum-sha256): a wrong one
    fails."""
    store = store_for(ceph, bucket)
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="BadDigest"):
        store.client.put_object(Bucket=bucket, Key="x", Body=b"abc",
                                ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")


@pytest.mark.parametrize(("part_checksum", "refusal"), [("md5", "BadDigest"),
                                                        ("sha256", "XAmzContentSHA256Mismatch")])
def test_a_part_changed_on_the_wire_is_refused_whichever_checksum_it_carries(
        ceph: Ceph, bucket: str, part_checksum: str, refusal: str) -> None:
    """What each ``part_checksum`` relies on, checked on the real server: a part whose bytes
    change after the station hashed and signed them (flipped in botocore's last hook before the
    socket) is refused, and the upload does not count."""
    from bodycam_ingest.storage.errors import ObjectStoreRefused
    from bodycam_ingest.storage.s3 import make_client

    config = settings(ceph, bucket, part_checksum=part_checksum)
    store = S3Store(config, make_client(config, (ACCESS, SECRET)))
    data, digest = blob(11 * MiB, 9)
    sent: list[str | None] = []

    def flip_second_part(request: Any, **_kwargs: Any) -> None:
        sent.append(request.headers.get("X-Amz-Content-SHA256", b"").decode()[:16] or None)
        if "partNumber=2" in request.url:
            raw = request.body  # bytes: the store keeps a part as bytes (make_client)
            body = bytearray(raw if isinstance(raw, bytes) else raw.read())
            body[100] ^= 1
            request.body = bytes(body)

    store.client.meta.events.register("before-send.s3.UploadPart", flip_second_part)
    with pytest.raises(ObjectStoreRefused, match=refusal):
        store.put(digest, io.BytesIO(data), len(data), Lock(soon(600), False))
    assert store.head(digest) is None
    # md5: the payload is not hashed a third time (UNSIGNED-PAYLOAD); sha256: it is the check
    assert (set(sent) == {"UNSIGNED-PAYLOAD"}) == (part_checksum == "md5"), sent


def test_a_local_file_that_changed_is_not_counted(ceph: Ceph, bucket: str) -> None:
    from bodycam_ingest.storage.errors import LocalCopyChanged

    store = store_for(ceph, bucket)
    data, digest = blob(11 * MiB, 4)
    bad = bytearray(data)
    bad[7 * MiB] ^= 1
    with pytest.raises(LocalCopyChanged):
        store.put(digest, io.BytesIO(bytes(bad)), len(bad), Lock(soon(600), False))
    assert store.head(digest) is None
    answer = store.client.list_multipart_uploads(Bucket=bucket, Prefix=store.key(digest))
    assert not answer.get("Uploads")


def test_a_network_cut_mid_upload_resumes_the_parts_the_server_has(ceph: Ceph,
                                                                  bucket: str) -> None:
    store = store_for(ceph, bucket)
    store.concurrency = 1
    data, digest = blob(17 * MiB, 5)
    held = HeldReader(io.BytesIO(data), hold_at=11 * MiB)
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            store.put(digest, held, len(data), Lock(soon(3600), False))
        except BaseException as exc:
            errors.append(exc)

    import threading

    thread = threading.Thread(target=upload)
    thread.start()
    assert held.reached.wait(300)

    def parts_on_server() -> list[int]:
        listing = store.client.list_multipart_uploads(Bucket=bucket, Prefix=store.key(digest))
        upload_id = listing["Uploads"][0]["UploadId"]
        return [p["PartNumber"] for p in store.client.list_parts(
            Bucket=bucket, Key=store.key(digest), UploadId=upload_id)["Parts"]]

    for _ in range(3000):  # part 2 may still be on its way while part 3 is read: let it land
        if parts_on_server() == [1, 2]:
            break
        time.sleep(0.1)
    ceph.stop_rgw()
    held.release()
    thread.join(600)
    assert errors, "the upload cannot have finished with radosgw down"
    ceph.start_rgw()
    uploads = store.client.list_multipart_uploads(Bucket=bucket, Prefix=store.key(digest))
    assert len(uploads["Uploads"]) == 1
    parts = store.client.list_parts(Bucket=bucket, Key=store.key(digest),
                                    UploadId=uploads["Uploads"][0]["UploadId"])["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2]  # 10 MiB were on the server before the cut
    sent: list[int] = []
    real = store.client.upload_part

    def counting(**kwargs: Any) -> Any:
        sent.append(kwargs["PartNumber"])
        return real(**kwargs)

    store.client.upload_part = counting
    stored = store.put(digest, io.BytesIO(data), len(data), Lock(soon(3600), False))
    assert sent == [3, 4]  # only what the server lacked was sent again
    assert store.verify(digest, stored.version)


# --- the replication queue on a real station ----------------------------------------------------

def station_with_object_store(root: Path, ceph: Ceph, bucket: str) -> Any:
    from helpers import StationEnv, write_config

    root.mkdir()
    return StationEnv(root=root, config_path=write_config(
        root, object_store_section(root, ceph, bucket)))


def ingest_camera(station: Any, sizes: list[int], seed: int) -> None:
    camera = station.root / "cam"
    folder = camera / "DCIM" / "100CAM"
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    for number, size in enumerate(sizes, 1):
        (folder / f"FILE{number:04d}.MP4").write_bytes(rng.randbytes(size))
    # random bytes, not video: the analysis flags them (exit 1), the store keeps them all
    result = station.run("ingest", str(camera), "--camera", "test-cam", "--json", timeout=600)
    import json

    assert json.loads(result.stdout)["stored"] == len(sizes), result.stdout + result.stderr


def queue_view(station: Any) -> dict[str, tuple[int, str | None, str | None]]:
    """digest -> (recording id, replication state or None when unqueued, version)."""
    import sqlite3

    with sqlite3.connect(station.db) as db:
        rows = db.execute("SELECT r.id, r.sha256, q.state, q.version_id FROM recordings r "
                          "LEFT JOIN replications q ON q.recording_id = r.id "
                          "WHERE r.deleted_at IS NULL").fetchall()
    return {digest: (rid, state, version) for rid, digest, state, version in rows}


def run_worker(station: Any, *hold: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("object_store_worker.py")),
         str(station.config_path), *hold], env=env, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)


def assert_nothing_unreplicated_and_unqueued(station: Any, store: S3Store) -> int:
    """Every live recording is verified on the server (row done) or queued; returns done count."""
    done = 0
    for digest, (rid, state, version) in queue_view(station).items():
        if state == "done":
            stored = store.head(digest, version)
            assert stored is not None, f"recording {rid} marked done but not on the server"
            assert stored.lock is not None, f"recording {rid} stored unlocked"
            done += 1
        else:
            # unqueued is allowed only before the worker's first enqueue (no row at all yet,
            # and then no row for any recording); a row that exists must be queued
            assert state in ("queued", None), (rid, state)
    return done


def test_kill_9_of_the_uploading_worker_at_random_points_loses_nothing(
        tmp_path: Path, ceph: Ceph, bucket: str) -> None:
    station = station_with_object_store(tmp_path / "station", ceph, bucket)
    sizes = [3 * MiB, 12 * MiB, 700_000, 11 * MiB, 6 * MiB, 2 * MiB, 16 * MiB, 9 * MiB]
    ingest_camera(station, sizes, seed=12)
    store = store_for(ceph, bucket)
    rng = random.Random(int(os.environ.get("BODYCAM_KILL_SEED", "1212")))
    kills = 0
    marker = tmp_path / "held"
    size_of = {hashlib.sha256(p.read_bytes()).hexdigest(): p.stat().st_size
               for p in (station.root / "cam").rglob("*.MP4")}
    while kills < 12:
        pending = sorted(d for d, (_rid, state, _v) in queue_view(station).items()
                         if state != "done")
        if not pending:
            break
        digest = rng.choice(pending)
        offset = rng.choice([0, size_of[digest], rng.randrange(size_of[digest])])
        marker.unlink(missing_ok=True)
        worker = run_worker(station, digest, str(offset), str(marker))
        for _ in range(6000):  # the hold is reached, or the worker ends (it never should)
            if marker.exists() or worker.poll() is not None:
                break
            time.sleep(0.1)
        assert marker.exists(), worker.communicate()[0]
        worker.send_signal(signal.SIGKILL)
        worker.wait(60)
        kills += 1
        assert_nothing_unreplicated_and_unqueued(station, store)
    assert kills >= 10
    worker = run_worker(station)
    output = worker.communicate(timeout=900)[0]
    assert worker.returncode == 0, output
    view = queue_view(station)
    assert {state for _rid, state, _v in view.values()} == {"done"}, view
    assert assert_nothing_unreplicated_and_unqueued(station, store) == len(sizes)
    for digest, (_rid, _state, version) in view.items():
        assert store.verify(digest, version)
    audit = station.run("audit", "--json", timeout=900)
    import json

    findings = [f for f in json.loads(audit.stdout)["findings"] if f["section"] != "continuity"]
    assert findings == [], audit.stdout  # random bytes are not video: continuity flags them
    notes = json.loads(audit.stdout)["notes"]
    assert f"object store: all {len(sizes)} live recording(s) verified there" in notes, notes


def test_a_network_cut_mid_upload_leaves_the_row_queued_and_the_queue_resumes(
        tmp_path: Path, ceph: Ceph, bucket: str) -> None:
    import json
    import threading
    from contextlib import contextmanager

    from bodycam_ingest.daemon import replication
    from bodycam_ingest.station import Station
    from bodycam_ingest.storage.local import LocalStore

    station = station_with_object_store(tmp_path / "station", ceph, bucket)
    ingest_camera(station, [12 * MiB, 1 * MiB], seed=21)
    big = max(queue_view(station), key=lambda d: queue_view(station)[d][0] == 1)
    opened = Station.open(station.config)
    held: list[HeldReader] = []
    clock_shift = [timedelta(0)]

    @contextmanager
    def opener(digest: str) -> Iterator[Any]:
        with LocalStore(opened.store).open_file(digest) as handle:
            if digest == big and not held:
                held.append(HeldReader(handle, hold_at=7 * MiB))
                yield held[0]
            else:
                yield handle

    try:
        replicator = replication.build(opened, opener)
        assert replicator is not None
        replicator.clock = lambda: datetime.now(UTC) + clock_shift[0]
        first = threading.Thread(target=replicator.run_once)
        first.start()
        for _ in range(3000):
            if held and held[0].reached.is_set():
                break
            time.sleep(0.1)
        assert held and held[0].reached.is_set()
        ceph.stop_rgw()
        held[0].release()
        first.join(900)
        view = queue_view(station)
        assert view[big][1] == "queued"  # not lost, not done: still queued
        assert all(state in ("queued", "done") for _r, state, _v in view.values())
        ceph.start_rgw()
        clock_shift[0] = timedelta(hours=1)  # past the backoff, as after a restart of the daemon
        replicator.drain()
        view = queue_view(station)
        assert {state for _r, state, _v in view.values()} == {"done"}
        store = store_for(ceph, bucket)
        for digest, (_rid, _state, version) in view.items():
            assert store.verify(digest, version)
        status = json.loads(station.run("status", "--json", check=True).stdout)["object_store"]
        assert (status["verified"], status["waiting"], status["failed"]) == (2, 0, 0)
        # the tier rises: the lock follows (extended, never shortened); a hold: S3 legal hold
        rid = view[big][0]
        before = store.lock_of(big, view[big][2])
        assert before is not None and not before.legal_hold
        station.run("retain", str(rid), "--tier", "evidence", "--reason", "case C-12",
                    check=True)
        station.run("hold", "add", str(rid), "--reason", "order 12", "--owner", "legal",
                    check=True)
        report = replicator.run_once()
        assert report.relocked == 1
        after = store.lock_of(big, view[big][2])
        assert after is not None and after.legal_hold
        assert after.retain_until - before.retain_until > timedelta(days=365 * 25)
        with pytest.raises(ObjectLocked):
            store.delete(big, view[big][2])
    finally:
        opened.close()


def test_the_daemon_replicates_what_it_has_stored(tmp_path: Path, ceph: Ceph,
                                                  bucket: str) -> None:
    from helpers import start_daemon

    station = station_with_object_store(tmp_path / "station", ceph, bucket)
    text = station.config_path.read_text().replace(
        f"part_size = {5 * MiB}\n", f"part_size = {5 * MiB}\npoll_seconds = 0.5\n")
    assert "poll_seconds" in text  # a short idle wait between the worker's passes
    station.config_path.write_text(text)
    ingest_camera(station, [6 * MiB, 300_000], seed=31)
    daemon, log = start_daemon(station)
    try:
        for _ in range(6000):  # until the queue is done (or the daemon dies): a condition
            if {s for _r, s, _v in queue_view(station).values()} == {"done"}:
                break
            assert daemon.poll() is None, log.read_text()
            time.sleep(0.1)
        view = queue_view(station)
        assert {s for _r, s, _v in view.values()} == {"done"}, log.read_text()
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(120)
    assert daemon.returncode == 0, log.read_text()
    store = store_for(ceph, bucket)
    for digest, (_rid, _state, version) in view.items():
        assert store.verify(digest, version)


def test_the_custody_anchors_are_kept_locked_on_the_object_store(
        tmp_path: Path, ceph: Ceph, bucket: str) -> None:
    """Issue 9 item 2 with issue 12: checkpoint files and signed manifests are copied to
    ``anchors/<station id>/`` on the bucket, byte for byte, under COMPLIANCE retention: whoever
    can rewrite the station's catalog and manifest folder cannot remove the copies the history
    is checked with."""
    from bodycam_ingest.custody.anchors import anchor_files
    from bodycam_ingest.daemon import replication
    from bodycam_ingest.station import Station

    station = station_with_object_store(tmp_path / "station", ceph, bucket)
    ingest_camera(station, [300_000], seed=41)
    opened = Station.open(station.config)
    try:
        replicator = replication.build(opened)
        assert replicator is not None and replicator.anchor_dir is not None
        report = replicator.drain()
        manifest_dir = replicator.anchor_dir
        local = anchor_files(manifest_dir)
        assert any("checkpoints/" in p.as_posix() for p in local), local
        assert any(p.suffix == ".sig" and "checkpoints/" not in p.as_posix() for p in local)
        assert report.anchors == len(local)
        store = store_for(ceph, bucket)
        for path in local:
            key = store.anchor_key(f"{opened.config.station.id}/"
                                   f"{path.relative_to(manifest_dir).as_posix()}")
            got = store.client.get_object(Bucket=bucket, Key=key)
            assert got["Body"].read() == path.read_bytes(), key
            retention = store.client.get_object_retention(
                Bucket=bucket, Key=key, VersionId=got["VersionId"])["Retention"]
            assert retention["Mode"] == "COMPLIANCE"
            assert retention["RetainUntilDate"] > datetime.now(UTC) + timedelta(days=300)
            with pytest.raises(Exception, match=r"AccessDenied|[Ll]ocked"):
                store.client.delete_object(Bucket=bucket, Key=key, VersionId=got["VersionId"])
        assert replicator.run_once().anchors == 0  # copied once
        # a later command's checkpoint is copied by the next pass; an anchor's name on the
        # store holding other bytes is refused, never replaced
        station.run("retain", "1", "--tier", "evidence", "--reason", "case C-41", check=True)
        assert replicator.run_once().anchors >= 2
        first = f"{opened.config.station.id}/{local[0].relative_to(manifest_dir).as_posix()}"
        with pytest.raises(BodycamError, match="other bytes"):
            store.put_anchor(first, b"forged", Lock(datetime.now(UTC), False))
    finally:
        opened.close()


# --- lock checks are incremental (issue 12 item 2) ----------------------------------------------

LOCK_CALLS = ("GetObjectRetention", "GetObjectLegalHold", "PutObjectRetention",
              "PutObjectLegalHold")


def test_lock_checks_follow_the_custody_log_and_leave_unchanged_objects_alone(
        tmp_path: Path, ceph: Ceph, bucket: str) -> None:
    """Each pass re-checks only the recordings a tier, hold or label entry named since the last
    pass (a case's entries: the case's recordings); an unchanged catalog costs no lock call at
    all, counted on the real bucket's requests through botocore's event hook; a full sweep runs
    on the first pass and every ``lock_sweep_hours``."""
    from bodycam_ingest.daemon import replication
    from bodycam_ingest.station import Station

    station = station_with_object_store(tmp_path / "station", ceph, bucket)
    ingest_camera(station, [300_000, 200_000, 100_000, 50_000], seed=41)
    opened = Station.open(station.config)
    calls: list[tuple[str, str]] = []

    def count(model: Any, params: dict[str, Any], **_kwargs: Any) -> None:
        if model.name in LOCK_CALLS:
            calls.append((model.name, params["Key"]))

    try:
        replicator = replication.build(opened)
        assert replicator is not None
        shift = [timedelta(0)]
        replicator.clock = lambda: datetime.now(UTC) + shift[0]
        remote = replicator.remote
        assert isinstance(remote, S3Store)
        remote.client.meta.events.register("before-parameter-build.s3", count)
        assert replicator.drain().stored == 4
        view = queue_view(station)
        ids = {rid: digest for digest, (rid, _state, _version) in view.items()}
        version = {rid: view[digest][2] for rid, digest in ids.items()}
        first, second, third, fourth = sorted(ids)

        calls.clear()
        report = replicator.run_once()
        assert (report.lock_scope, report.relocked, calls) == (0, 0, [])

        station.run("retain", str(first), "--tier", "evidence", "--reason", "case C-12",
                    check=True)
        station.run("hold", "add", str(second), "--reason", "order 12", "--owner", "legal",
                    check=True)
        report = replicator.run_once()
        assert (report.lock_scope, report.relocked) == (2, 2)
        assert {key for _name, key in calls} == {remote.key(ids[first]), remote.key(ids[second])}
        raised = remote.lock_of(ids[first], version[first])
        held = remote.lock_of(ids[second], version[second])
        assert raised is not None and raised.retain_until > datetime.now(UTC) + timedelta(
            days=365 * 25)
        assert held is not None and held.legal_hold

        calls.clear()  # the worker's own object_lock_changed entries change nothing
        report = replicator.run_once()
        assert (report.lock_scope, report.relocked, calls) == (0, 0, [])

        # a case: the label puts the third into case C-7, the case's hold reaches it next pass
        station.run("tag", str(third), "--case", "C-7", "--reason", "filed", check=True)
        station.run("hold", "add", "--case", "C-7", "--reason", "order 7", "--owner", "legal",
                    check=True)
        report = replicator.run_once()
        assert report.relocked == 1
        assert {key for _name, key in calls} == {remote.key(ids[third])}
        case_held = remote.lock_of(ids[third], version[third])
        assert case_held is not None and case_held.legal_hold
        untouched = remote.lock_of(ids[fourth], version[fourth])
        assert untouched is not None and not untouched.legal_hold

        calls.clear()  # a day later: the full sweep looks at every recording, finds all in order
        shift[0] = timedelta(hours=opened.config.storage.object_store.lock_sweep_hours + 1)
        report = replicator.run_once()
        assert (report.lock_scope, report.relocked, calls) == ("all", 0, [])
    finally:
        opened.close()


# --- the local store as a cache of the object store (issue 12 item 3) ---------------------------

def test_the_local_store_evicts_replicated_recordings_and_refetches_them_verified(
        tmp_path: Path, ceph: Ceph, bucket: str) -> None:
    """Over ``cache_size``, the least recently used recordings verified on the object store are
    evicted (never an unreplicated one, never a held one), each with a custody entry; the audit
    counts an evicted recording as remote, verified by the object store's HEAD, not as a missing
    file; ``bodycam verify`` of one re-fetches it, checks its SHA-256 and logs the re-fetch."""
    import json
    import sqlite3

    from bodycam_ingest.daemon import replication
    from bodycam_ingest.station import Station
    from bodycam_ingest.storage import cache

    station = station_with_object_store(tmp_path / "station", ceph, bucket)
    text = station.config_path.read_text().replace(
        f"part_size = {5 * MiB}\n", f"part_size = {5 * MiB}\ncache_size = 700000\n")
    assert "cache_size" in text
    station.config_path.write_text(text)
    ingest_camera(station, [300_000] * 4, seed=51)
    view = queue_view(station)
    ids = {rid: digest for digest, (rid, _state, _version) in view.items()}
    first, second, third, fourth = sorted(ids)
    opened = Station.open(station.config)

    def present(rid: int) -> bool:
        return opened.store.contains(ids[rid])

    def entries(action: str) -> list[int]:
        with sqlite3.connect(station.db) as db:
            return [r for (r,) in db.execute(
                "SELECT recording_id FROM events WHERE action = ? ORDER BY seq", (action,))]

    try:
        replicator = replication.build(opened)
        assert replicator is not None
        # 1.2 MB over a 0.7 MB cache, but nothing is on the object store yet: nothing goes
        assert cache.evict(opened.catalog, opened.store, replicator.remote, 700_000,
                           opened.clock, opened.actor) == []
        station.run("hold", "add", str(first), "--reason", "order 51", "--owner", "legal",
                    check=True)
        station.run("show", str(second), check=True)  # the second is the most recently used
        report = replicator.drain()
        assert report.stored == 4
        assert [present(rid) for rid in (first, second, third, fourth)] == [
            True, True, False, False]
        assert entries(cache.EVICTED) == [third, fourth]

        audit = station.run("audit", "--json")
        result = json.loads(audit.stdout)
        fixity = [f for f in result["findings"] if f["section"] == "fixity"]
        assert fixity == [], fixity
        assert any("evicted from this station are remote, verified" in note
                   for note in result["notes"]), result["notes"]

        from bodycam_ingest.jobs.scrub import scrub

        scrub(opened)  # the fixity scrub too: an evicted recording is checked on the object store
        with sqlite3.connect(station.db) as db:
            checks = dict(db.execute("SELECT recording_id, source FROM fixity_checks WHERE ok"))
            assert db.execute("SELECT count(*) FROM fixity_checks WHERE NOT ok").fetchone() == (0,)
        assert checks == {first: "scrub", second: "scrub", third: "scrub-remote",
                          fourth: "scrub-remote"}

        station.run("verify", str(third), check=True)
        assert present(third)
        path = opened.store.path_for(ids[third])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == ids[third]
        assert entries(cache.REFETCHED) == [third]
        with opened.catalog.reading() as session:
            assert cache.evicted(session) == {fourth}

        # a re-analysis reads the evicted one: fetched back and verified first
        analyzed = station.run("analyze", str(fourth), "--json")
        assert analyzed.returncode in (0, 1), analyzed.stdout + analyzed.stderr  # not video
        assert present(fourth) and entries(cache.REFETCHED) == [third, fourth]

        # a second medium (R2) gets evicted ones too: fetched back and verified first
        assert len(cache.evict(opened.catalog, opened.store, replicator.remote, 700_000,
                               opened.clock, opened.actor)) == 2
        with opened.catalog.reading() as session:
            gone = sorted(cache.evicted(session))
        medium = tmp_path / "medium"
        medium.mkdir()
        archived = station.run("archive", "--all", "--to", str(medium), "--same-device-ok",
                               "--json")
        assert archived.returncode == 0, archived.stdout + archived.stderr
        assert all(present(rid) for rid in ids)
        assert entries(cache.REFETCHED) == [third, fourth, *gone]
        copies = {hashlib.sha256(f.read_bytes()).hexdigest() for f in medium.rglob("*.MP4")}
        assert copies == set(ids.values()), sorted(p.name for p in medium.rglob("*"))
    finally:
        opened.close()


# --- deletion follows the retention sweep, the server guards the date ----------------------------

def test_the_worker_deletes_the_object_of_a_deleted_recording_once_its_lock_is_over(
        tmp_path: Path, ceph: Ceph, bucket: str) -> None:
    """The worker's side of "the retention sweep deletes an object after its period": a recording
    whose period ends 20 s from now is replicated with that retain-until; once the sweep has
    deleted it (its ``deleted_at``, the sweep's own effect, written here), the worker leaves the
    object while the lock lasts (the server would refuse: checked), then deletes that version,
    marks the row and logs ``object_deleted``."""
    import contextlib
    import sqlite3

    from bodycam_ingest.catalog.db import open_catalog
    from bodycam_ingest.catalog.models import Dock, Recording
    from bodycam_ingest.daemon.replication import Replicator
    from bodycam_ingest.ingest.store import relpath_for
    from bodycam_ingest.retention.policy import RetentionPolicy, expires_at
    from bodycam_ingest.retention.tiers import Tier

    data, digest = blob(300_000, 61)
    policy = RetentionPolicy()
    now = datetime.now(UTC)
    guess = now - timedelta(days=730)
    start = guess + (now + timedelta(seconds=20) - expires_at(policy, Tier.STANDARD, guess))
    database = tmp_path / "catalog.sqlite3"
    catalog = open_catalog(f"sqlite:///{database}", lock_dir=tmp_path, station_id="s1")
    try:
        with catalog.session() as session:
            dock = Dock(camera_rule="c", trigger="cli", source="/x", actor="os:root", host="h",
                        pid=1, lock_token="t", started_at=start, updated_at=start)
            session.add(dock)
            session.flush()
            session.add(Recording(sha256=digest, size=len(data), store_path=relpath_for(digest),
                                  first_dock_id=dock.id, camera_path="F1.MP4", ingested_at=start,
                                  zone="UTC", status="ok"))
        store = store_for(ceph, bucket)
        replicator = Replicator(catalog, store, lambda _d: contextlib.nullcontext(
            io.BytesIO(data)), settings(ceph, bucket), policy, lambda: datetime.now(UTC),
            "test:worker")
        assert replicator.drain().stored == 1
        with sqlite3.connect(database) as db:
            version, until = db.execute("SELECT version_id, retain_until FROM replications"
                                        ).fetchone()
            db.execute("UPDATE recordings SET deleted_at = ?", (now.isoformat(),))
        lock = store.lock_of(digest, version)
        assert lock is not None and lock.retain_until > datetime.now(UTC), (lock, until)
        assert replicator.run_once().deleted == 0  # the lock lasts: not even tried
        with pytest.raises(ObjectLocked):
            store.delete(digest, version)
        for _ in range(600):  # until the server's clock is past retain-until: a condition
            if datetime.now(UTC) > lock.retain_until + timedelta(seconds=1):
                break
            time.sleep(0.1)
        assert replicator.run_once().deleted == 1
        assert store.head(digest, version) is None
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT state FROM replications").fetchone() == ("deleted",)
            assert db.execute("SELECT count(*) FROM events WHERE action = 'object_deleted'"
                              ).fetchone() == (1,)
    finally:
        catalog.close()
