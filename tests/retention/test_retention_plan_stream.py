"""The streamed plan (one snapshot, id order, ``--json`` written as decided) against the batched
one (the keyset batches the sweep reads, ``states_for``, the pure ``plan``), on a real catalog.

The catalog is written with plain INSERTs into the migrated schema (as bench/retention.py does),
seeded so that every branch of the rules appears: each tier, due marks that are valid, stale,
from the future or older than a hold's release, fixity verified/failed/unknown, holds active,
released and past their review date on recordings and on cases, case tiers, deleted rows.
"""

from __future__ import annotations

import io
import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import write_config

from bodycam_ingest.catalog.db import open_catalog
from bodycam_ingest.config import load_config
from bodycam_ingest.retention import service
from bodycam_ingest.retention.plan import Plan, plan
from bodycam_ingest.retention.plan_json import (
    _dumps,
    decision_json,
    decision_line,
    policy_text,
    write_plan_json,
)
from bodycam_ingest.retention.rules import RecordingState
from bodycam_ingest.retention.state import candidate_batches, states_for, tier_cutoffs
from bodycam_ingest.station import Station

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def build_catalog(db_path: Path, size: int, seed: int) -> None:
    rng = random.Random(seed)
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("BEGIN")
    db.execute("INSERT INTO devices (id, key, kind, first_seen, last_seen) VALUES "
               "(1, 'usb:test', 'usb', ?, ?)", (_ts(NOW), _ts(NOW)))
    db.execute("INSERT INTO docks (station_id, id, device_id, camera_rule, trigger, source, actor, "
               "host, pid, "
               "lock_token, started_at, updated_at, finished_at, outcome, files_total, files_done,"
               " files_skipped, files_rejected, files_failed, files_wiped, bytes_total, bytes_done)"
               " VALUES ('test-station', 1, 1, 'test-cam', 'cli', '/t', 't', 't', 1, 't', ?, ?, ?, "
               "'complete', "
               "0, 0, 0, 0, 0, 0, 0, 0)", (_ts(NOW), _ts(NOW), _ts(NOW)))
    cases = [f"2026-{k:02d}" for k in range(8)]
    for k, case in enumerate(cases[:4]):
        cursor = db.execute("INSERT INTO retention_tier_changes (station_id, case_number, new_tier, reason, "
                            "actor, at) VALUES ('test-station', ?, ?, 'court', 't', ?)",
                            (case, ("long_term", "evidence", "standard", "bogus")[k], _ts(NOW)))
        db.execute("INSERT INTO retention_case_tiers (station_id, case_number, tier, reason, "
                   "change_id) VALUES ('test-station', ?, ?, ?, ?)",
                   (case, ("long_term", "evidence", "standard", "bogus")[k],
                   rng.choice([None, "dispute"]), cursor.lastrowid))
    for case in cases[4:6]:  # holds on cases: one active and past its review date, one released
        db.execute("INSERT INTO retention_holds (station_id, case_number, reason, owner, until, created_at, "
                   "actor, released_at) VALUES ('test-station', ?, 'order', 'legal', ?, ?, 't', ?)",
                   (case, "2026-01-01", _ts(NOW - 900 * DAY),
                    None if case == cases[4] else _ts(NOW - 3 * DAY)))
    for ident in range(1, size + 1):
        clock = NOW - timedelta(days=rng.choice([rng.uniform(0, 1500), rng.uniform(720, 770)]))
        tier = rng.choices(["standard", "evidence", "long_term", "weird"], [70, 15, 10, 5])[0]
        due = rng.choice([None, None, clock + 731 * DAY, clock + 735 * DAY, clock + 700 * DAY,
                          NOW - 2 * DAY, NOW + 3 * DAY])
        fixity = rng.choice([1, 1, 0, None])
        deleted = _ts(NOW - 10 * DAY) if rng.random() < 0.05 else None
        db.execute(
            "INSERT INTO recordings (station_id, id, sha256, size, store_path, device_id, "
            "first_dock_id, "
            "camera_path, ingested_at, name_officer, name_device, start_utc, duration_s, zone, "
            "status, tier, tier_reason, clock_start, due_since, fixity_ok, deleted_at) VALUES "
            "('test-station', ?, ?, 1, ?, 1, 1, ?, ?, 'A1', 'D1', ?, 60.0, 'UTC', 'ok', ?, ?, ?, "
            "?, ?, ?)",
            (ident, f"{ident:064x}", f"sha256/{ident:064x}", f"DCIM/{ident}.MP4",
             _ts(clock - rng.choice([0, 1, 40]) * DAY), _ts(clock), tier,
             rng.choice([None, "why"]),
             None if rng.random() < 0.03 else _ts(clock), None if due is None else _ts(due),
             fixity, deleted))
        if rng.random() < 0.15:
            for _ in range(rng.choice([1, 2])):
                db.execute("INSERT INTO custody_labels (station_id, recording_id, case_number, created_at, "
                           "actor) VALUES ('test-station', ?, ?, ?, 't')",
                           (ident, rng.choice([*cases, None]), _ts(NOW - 5 * DAY)))
        if rng.random() < 0.04:
            db.execute("INSERT INTO retention_holds (station_id, recording_id, reason, owner, until, "
                       "created_at, actor, released_at) VALUES ('test-station', ?, 'order', "
                       "'legal', ?, ?, 't', ?)",
                       (ident, rng.choice([None, "2026-01-01", "2027-01-01"]), _ts(NOW - 800 * DAY),
                        rng.choice([None, _ts(NOW - 4 * DAY), _ts(NOW + 4 * DAY)])))
    db.execute("COMMIT")
    db.close()


@pytest.fixture(params=[1, 2])
def station(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Station]:
    config = write_config(tmp_path, "[retention]\nplan_horizon_days = 30\n", station_key=False)
    catalog = tmp_path / "state" / "catalog.sqlite3"
    open_catalog(f"sqlite:///{catalog}").close()
    build_catalog(catalog, 1200, request.param)
    opened = Station.open(load_config(config), clock=Clock(NOW), actor="tester")
    try:
        yield opened
    finally:
        opened.catalog.close()


def batched_plan(station: Station, horizon: int) -> tuple[Plan, int]:
    """The plan the way it was made before it streamed: keyset batches, each in its own
    session, decided by the pure ``plan`` (the reference)."""
    sessions: service.SessionFactory = station.catalog.reading
    with sessions() as session:
        state = service.policy_state(session, station.config.retention.policy())
    cutoffs = tier_cutoffs(state.effective, NOW, horizon)
    examined = 0

    def everything() -> Iterator[RecordingState]:
        nonlocal examined
        for rows in candidate_batches(sessions, cutoffs, include_due=True):
            with sessions() as session:
                batch = states_for(session, rows)
            examined += len(batch)
            yield from batch
        with sessions() as session:
            extra = states_for(session, service.attention_rows(session, NOW, cutoffs))
        examined += len(extra)
        yield from extra

    return service._as_a_run_sees_it(plan(everything(), state.effective, NOW, horizon)), examined


def test_the_streamed_plan_decides_exactly_what_the_batched_plan_decides(station: Station) -> None:
    reference, examined = batched_plan(station, 30)
    assert reference.delete_now and reference.upcoming and reference.attention  # all branches
    report = service.make_plan(station)
    assert report.plan == reference
    assert [d.rule for d in report.plan.delete_now] == [d.rule for d in reference.delete_now]
    assert report.examined == examined


def test_plan_json_streamed_equals_the_document_built_in_memory(station: Station) -> None:
    reference, examined = batched_plan(station, 30)
    report = service.make_plan(station)
    state = report.policy
    expected: dict[str, Any] = json.loads(json.dumps({
        "now": report.now, "horizon_days": 30, "horizon_end": reference.horizon_end,
        "live_recordings": report.live, "examined": examined,
        "policy_in_force": {"digest": state.digest, "text": policy_text(state.effective)},
        "policy_configured": {"digest": service.policy_digest(state.configured),
                              "text": policy_text(state.configured)},
        "delete_now": [decision_json(d) for d in reference.delete_now],
        "upcoming": [decision_json(d) for d in reference.upcoming],
        "attention": [decision_json(d) for d in reference.attention],
        "counts": {why.value: n for why, n in sorted(reference.counts.items())},
        "pending_policy_change": None}, default=lambda v: v.isoformat()))
    out = io.StringIO()
    with service.streamed_plan(station) as stream:
        write_plan_json(stream, out)
    assert json.loads(out.getvalue()) == expected


def test_each_written_line_is_the_encoded_decision(station: Station) -> None:
    report = service.make_plan(station)
    decisions = [*report.plan.delete_now, *report.plan.upcoming, *report.plan.attention]
    assert {d.why for d in decisions} >= {"expired", "grace", "newly_due"}
    assert any(d.alerts for d in decisions) and any(d.active_holds for d in decisions)
    for decision in decisions:
        assert decision_line(decision) == _dumps(decision_json(decision))


def test_a_stream_read_out_of_order_is_refused(station: Station) -> None:
    with service.streamed_plan(station) as stream, pytest.raises(RuntimeError, match="in this order"):
        next(stream.upcoming())


def test_an_empty_list_is_written_as_valid_json(tmp_path: Path) -> None:
    config = write_config(tmp_path, station_key=False)
    open_catalog(f"sqlite:///{tmp_path / 'state' / 'catalog.sqlite3'}").close()
    opened = Station.open(load_config(config), clock=Clock(NOW), actor="tester")
    try:
        out = io.StringIO()
        with service.streamed_plan(opened) as stream:
            write_plan_json(stream, out)
    finally:
        opened.catalog.close()
    document = json.loads(out.getvalue())
    assert (document["delete_now"], document["upcoming"], document["attention"]) == ([], [], [])
    assert document["examined"] == 0


