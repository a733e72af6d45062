"""The retention plan on PostgreSQL: its candidate rows are read from the driver's cursor (datetimes
and booleans as psycopg returns them, not as SQLite's text and 0/1), so the same plan must come
out as the reference decision of each recording's state read through the ORM."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

from pg_support import pg_server, pg_station_at, pg_url  # noqa: F401  (fixtures)
from sweep_support import Clock, add_hold, dock, open_station, utc

from bodycam_ingest.retention import service
from bodycam_ingest.retention.plan_json import write_plan_json
from bodycam_ingest.retention.rules import decide
from bodycam_ingest.retention.state import load_states


def test_the_plan_on_postgresql_is_the_reference_decision_of_each_recording(
        pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    env = pg_station_at(tmp_path / "station", pg_url)
    start = utc(2024, 1, 10, 8, 0)
    clock = Clock(start)
    station = open_station(env, clock)
    try:
        ids = dock(station, tmp_path / "cams", segments=3)
        add_hold(station, recording_id=ids[0])
        clock.now = start + timedelta(days=800)  # past 2 years: the run marks them due
        assert service.run_sweep(station, trigger="test").error is None
        clock.now = start + timedelta(days=810)  # past the grace
        report = service.make_plan(station)
        with station.catalog.reading() as session:
            policy = service.policy_state(session, station.config.retention.policy()).effective
            reference = {s.id: decide(s, policy, clock.now) for s in load_states(session, ids)}
        out = io.StringIO()
        with service.streamed_plan(station) as stream:
            write_plan_json(stream, out)
    finally:
        station.close()
    assert [d.recording_id for d in report.plan.delete_now] == ids[1:]
    assert list(report.plan.delete_now) == [reference[i] for i in ids[1:]]
    assert report.examined == 3 and report.live == 3
    document = json.loads(out.getvalue())
    assert [d["recording_id"] for d in document["delete_now"]] == ids[1:]
    assert [d["rule"] for d in document["delete_now"]] == [reference[i].rule for i in ids[1:]]
