"""Fast unit tests of the object store: the pure lock core, the queue on a real SQLite catalog,
the config section, and S3Store's protocol handling on moto (moto is not the proof of Object Lock:
tests/test_object_store_ceph.py runs on a real radosgw)."""

from __future__ import annotations

import hashlib
import io
import os
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bodycam_ingest.config import parse_config
from bodycam_ingest.errors import ConfigError
from bodycam_ingest.retention.policy import RetentionPolicy
from bodycam_ingest.retention.rules import CaseTier, Hold, RecordingState
from bodycam_ingest.retention.tiers import Tier
from bodycam_ingest.storage.locks import Lock, backoff, desired_lock, merge

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
MiB = 1 << 20


def state(tier: Tier = Tier.STANDARD, **extra: Any) -> RecordingState:
    return RecordingState(id=1, tier=tier, tier_reason=None, recording_end=None,
                          ingested_at=NOW - timedelta(days=10), **extra)


# --- the pure lock core ---------------------------------------------------------------------------

def test_retain_until_is_the_end_of_the_retention_period_of_the_effective_tier() -> None:
    policy = RetentionPolicy()
    standard = desired_lock(state(), policy, NOW, 365)
    start = NOW - timedelta(days=10)
    # 730 days, or 2 calendar years when longer (a 29 February in between): never a day early
    assert start + timedelta(days=730) <= standard.retain_until <= start + timedelta(days=731)
    assert not standard.legal_hold and not standard.open_ended
    by_case = desired_lock(state(case_tiers=(CaseTier("C-1", Tier.EVIDENCE),)), policy, NOW, 365)
    assert by_case.retain_until > standard.retain_until + timedelta(days=365 * 27)
    long_term = desired_lock(state(Tier.LONG_TERM), policy, NOW, 365)
    assert long_term.open_ended and long_term.retain_until == NOW + timedelta(days=365)


def test_an_active_hold_is_a_legal_hold_and_a_released_one_is_not() -> None:
    held = state(holds=(Hold(1, "order", "legal", until=date(2027, 1, 1)),))
    assert desired_lock(held, RetentionPolicy(), NOW, 365).legal_hold
    released = state(holds=(Hold(1, "order", "legal", released_at=NOW - timedelta(hours=1)),))
    assert not desired_lock(released, RetentionPolicy(), NOW, 365).legal_hold


def test_a_lock_is_never_shortened() -> None:
    current = Lock(NOW + timedelta(days=900), False)
    assert merge(current, Lock(NOW + timedelta(days=800), False), NOW, 365) is None
    lowered_hold = merge(current, Lock(NOW + timedelta(days=800), True), NOW, 365)
    assert lowered_hold == Lock(NOW + timedelta(days=900), True)
    raised = merge(current, Lock(NOW + timedelta(days=9000), False), NOW, 365)
    assert raised == Lock(NOW + timedelta(days=9000), False)
    assert merge(None, Lock(NOW, False), NOW, 365) == Lock(NOW, False)


def test_an_open_ended_lock_is_extended_once_half_its_window_is_used() -> None:
    window = 365
    wanted = Lock(NOW + timedelta(days=window), False, open_ended=True)
    assert merge(Lock(NOW + timedelta(days=300), False), wanted, NOW, window) is None
    assert merge(Lock(NOW + timedelta(days=100), False), wanted, NOW, window) == wanted


@pytest.mark.parametrize(("attempts", "seconds"), [(1, 5), (2, 10), (5, 80), (20, 900),
                                                    (10**6, 900)])
def test_backoff_doubles_up_to_its_cap(attempts: int, seconds: int) -> None:
    assert backoff(attempts, cap=900) == timedelta(seconds=seconds)


# --- config ---------------------------------------------------------------------------------------

def _config(**object_store: Any) -> Any:
    return parse_config({"station": {"id": "s1"},
                         "storage": {"object_store": {"bucket": "evidence", **object_store}}})


def test_the_object_store_section_is_validated() -> None:
    config = _config(endpoint="http://127.0.0.1:7480")
    settings = config.storage.object_store
    assert settings.lock_mode == "COMPLIANCE" and settings.addressing_style == "path"
    for bad, key in (({"endpoint": "127.0.0.1:7480"}, "endpoint"),
                     ({"lock_mode": "NONE"}, "lock_mode"),
                     ({"credentials_file": "creds"}, "credentials_file"),
                     ({"part_size": 1024}, "part_size"),
                     ({"bucket": "Bad_Bucket"}, "bucket"),
                     ({"retries": 3}, "retries")):
        with pytest.raises(ConfigError, match=key):
            _config(**bad)


def test_a_credentials_file_others_can_read_is_refused(tmp_path: Path) -> None:
    from bodycam_ingest.storage.errors import ObjectStoreCredentialsTooOpen
    from bodycam_ingest.storage.s3 import read_credentials

    path = tmp_path / "creds"
    path.write_text("[default]\naws_access_key_id = A\naws_secret_access_key = S\n")
    path.chmod(0o644)
    with pytest.raises(ObjectStoreCredentialsTooOpen, match="chmod 600"):
        read_credentials(path, "default")
    path.chmod(0o600)
    assert read_credentials(path, "default") == ("A", "S")
    with pytest.raises(ConfigError, match=r"\[other\]"):
        read_credentials(path, "other")


# --- S3Store's protocol handling on moto (fast; Ceph is the proof) --------------------------------

@pytest.fixture
def moto_store() -> Iterator[Any]:
    moto = pytest.importorskip("moto")
    from bodycam_ingest.storage.s3 import S3Store, ensure_bucket, make_client
    from bodycam_ingest.storage.settings import ObjectStoreConfig

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        config = ObjectStoreConfig(bucket="evidence", multipart_threshold=5 * MiB,
                                   part_size=5 * MiB)
        client = make_client(config, ("testing", "testing"))
        ensure_bucket(client, "evidence")
        yield S3Store(config, client, concurrency=2)


def _blob(size: int, seed: int) -> tuple[bytes, str]:
    data = random.Random(seed).randbytes(size)
    return data, hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("size", [1000, 11 * MiB])
def test_put_verifies_and_a_second_put_is_a_no_op(moto_store: Any, size: int) -> None:
    data, digest = _blob(size, size)
    lock = None  # moto has no GetObjectRetention (the recipe's notes): locks are tested on Ceph
    first = moto_store.put(digest, io.BytesIO(data), size, lock)
    assert first.size == size and moto_store.verify(digest, first.version)
    calls: list[str] = []
    real = moto_store.client.put_object
    moto_store.client.put_object = lambda **kw: calls.append("put") or real(**kw)
    again = moto_store.put(digest, io.BytesIO(data), size, lock)
    assert again.version == first.version and calls == []
    assert b"".join(moto_store.open(digest, first.version)) == data


def test_a_source_that_does_not_hash_to_the_digest_is_never_completed(moto_store: Any) -> None:
    from bodycam_ingest.storage.errors import LocalCopyChanged

    data, digest = _blob(12 * MiB, 7)
    with pytest.raises(LocalCopyChanged):
        moto_store.put(digest, io.BytesIO(data[:-1] + b"\0"), len(data), None)
    assert moto_store.head(digest) is None


# --- the queue on a real SQLite catalog ------------------------------------------------------------

@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Any]:
    from bodycam_ingest.catalog.db import open_catalog

    catalog = open_catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}", lock_dir=tmp_path,
                           station_id="s1")
    try:
        yield catalog
    finally:
        catalog.close()


def _recordings(catalog: Any, count: int) -> list[str]:
    from bodycam_ingest.catalog.models import Dock, Recording

    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(count)]
    with catalog.session() as session:
        dock = Dock(camera_rule="c", trigger="cli", source="/x", actor="os:root", host="h", pid=1,
                    lock_token="t", started_at=NOW, updated_at=NOW)
        session.add(dock)
        session.flush()
        for i, digest in enumerate(digests):
            session.add(Recording(sha256=digest, size=10 + i, store_path="p", first_dock_id=dock.id,
                                  camera_path=f"F{i}.MP4", ingested_at=NOW - timedelta(hours=30),
                                  zone="UTC", status="ok"))
    return digests


def test_every_live_recording_is_queued_once_and_replicated_gates_on_done(catalog: Any) -> None:
    from sqlalchemy import update

    from bodycam_ingest.catalog.storage_models import Replication
    from bodycam_ingest.storage import queue

    digests = _recordings(catalog, 3)
    with catalog.session() as session:
        assert queue.enqueue(session, "s3://b/", NOW) == 3
        assert queue.enqueue(session, "s3://b/", NOW) == 0
        assert not queue.replicated(session, digests[:1])
        assert queue.replicated(session, [])
        session.execute(update(Replication).where(Replication.sha256 == digests[0])
                        .values(state=queue.DONE))
    with catalog.reading() as session:
        assert queue.replicated(session, digests[:1])
        assert not queue.replicated(session, digests[:2])
        assert not queue.replicated(session, ["f" * 64])
        lag = queue.lag(session, NOW, timedelta(hours=24))
        assert (lag.live, lag.done, lag.pending, lag.overdue) == (3, 1, 2, 2)
        assert lag.seconds(NOW) == 30 * 3600


def test_a_recording_past_the_deadline_raises_one_alert(catalog: Any) -> None:
    from bodycam_ingest.daemon.replication import Replicator
    from bodycam_ingest.storage.s3 import S3Store, make_client
    from bodycam_ingest.storage.settings import ObjectStoreConfig

    _recordings(catalog, 2)
    # nothing listens on port 9: every upload fails as with the network away
    config = ObjectStoreConfig(endpoint="http://127.0.0.1:9", bucket="evidence",
                               replication_deadline_hours=24, timeout_seconds=2)
    remote = S3Store(config, make_client(config, ("a", "b")))
    alerts: list[list[str]] = []
    replicator = Replicator(catalog, remote, lambda d: io.BytesIO(b"x"), config,
                            RetentionPolicy(), lambda: NOW, "os:bodycam", alert=alerts.append)
    report = replicator.run_once()
    assert report.queued == 2 and len(report.retried) == 2
    assert len(alerts) == 1 and len(alerts[0]) == 2
    assert "has not reached the object store" in alerts[0][0] and "24 h" in alerts[0][0]
    replicator.run_once()
    assert len(alerts) == 1  # alerted once per recording, not on every pass


def test_the_example_config_documents_every_object_store_key() -> None:
    import tomllib

    from bodycam_ingest.storage.settings import ObjectStoreConfig

    text = (Path(__file__).resolve().parent.parent / "config.example.toml").read_text()
    block = text.split("# [storage.object_store]\n", 1)[1].split("\n\n", 1)[0]
    example = tomllib.loads("\n".join(line[2:] for line in block.splitlines()))
    assert set(example) == set(ObjectStoreConfig.model_fields)
    ObjectStoreConfig.model_validate(example)


def test_eviction_takes_the_least_recently_used_replicated_unheld_recordings_first() -> None:
    from bodycam_ingest.storage.cache import Cached, choose

    def item(rid: int, hours_ago: int, replicated: bool = True, held: bool = False) -> Cached:
        return Cached(rid, f"{rid:064x}", 100, NOW - timedelta(hours=hours_ago), replicated, held)

    cached = [item(1, 50, replicated=False), item(2, 40, held=True), item(3, 30), item(4, 20),
              item(5, 10), item(6, 1)]
    # 600 bytes in a 350-byte cache: 3 must go; 1 (not replicated) and 2 (held) never do
    assert [c.recording_id for c in choose(cached, 600, 350)] == [3, 4, 5]
    assert choose(cached, 600, 600) == []
    # not enough that may go: all that may, and the store stays over its size
    assert [c.recording_id for c in choose(cached, 600, 0)] == [3, 4, 5, 6]
