"""The scheduler keeps a stored next run unless the schedule changed, removes disabled jobs, and
names a run "missed" when it fell due while the station was off (in-process; no job runs)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import StationEnv
from jobs_support import make_station
from sqlalchemy import select

from bodycam_ingest.catalog.retention_models import SchedulerJob
from bodycam_ingest.jobs.scheduler import JobScheduler, classify
from bodycam_ingest.jobs.settings import cron_trigger
from bodycam_ingest.station import Station

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
STARTED = NOW - timedelta(minutes=1)


@pytest.mark.parametrize(("first", "scheduled", "started", "expected"), [
    (NOW, NOW, NOW - timedelta(hours=1), "schedule"),  # on time
    (NOW - timedelta(days=3), NOW - timedelta(minutes=30), STARTED, "missed"),  # coalesced
    (NOW - timedelta(hours=2), NOW - timedelta(hours=2), STARTED, "missed"),  # due while off
    (STARTED + timedelta(seconds=5), STARTED + timedelta(seconds=5), STARTED, "schedule"),
    (NOW - timedelta(minutes=6), NOW - timedelta(minutes=6), NOW - timedelta(hours=1),
     "missed"),  # the machine was suspended: late
    (None, None, STARTED, "schedule"),
])
def test_a_run_is_missed_when_it_fell_due_while_the_station_was_off(
        first: datetime | None, scheduled: datetime | None, started: datetime,
        expected: str) -> None:
    assert classify(first, scheduled, scheduler_started=started, now=NOW) == expected


def _stored(station: Station) -> dict[str, float | None]:
    with station.catalog.reading() as session:
        return {row.id: row.next_run_time for row in session.scalars(select(SchedulerJob))}


def _run_scheduler(env: StationEnv, open_station: Callable[..., Station]) -> dict[str, float | None]:
    station = open_station(env)
    scheduler = JobScheduler(station, threading.Event())
    scheduler.start()
    scheduler.stop()
    stored = _stored(station)
    station.close()
    return stored


def test_only_a_changed_schedule_moves_the_stored_next_run(
        tmp_path: Path, open_station: Callable[..., Station]) -> None:
    env = make_station(tmp_path / "station")
    base = env.config_path.read_text()
    far = "[jobs.fixity_scrub]\nschedule = \"0 3 1 1 *\"\n"  # yearly: never due in this test
    env.config_path.write_text(base + far)
    first = _run_scheduler(env, open_station)
    assert set(first) == {"retention-sweep", "fixity-scrub", "deadline-check", "catalog-backup"}

    again = _run_scheduler(env, open_station)
    assert again == first  # unchanged config: the store is left as it was

    env.config_path.write_text(base + "[jobs.fixity_scrub]\nschedule = \"0 4 1 1 *\"\n"
                               "[jobs.catalog_backup]\nenabled = false\n")
    changed = _run_scheduler(env, open_station)
    assert "catalog-backup" not in changed  # disabled: removed from the store
    expected = cron_trigger("0 4 1 1 *", "Asia/Shanghai").get_next_fire_time(None, datetime.now(UTC))
    assert changed["fixity-scrub"] == expected.timestamp()  # rescheduled to 04:00
    assert changed["deadline-check"] == first["deadline-check"]
