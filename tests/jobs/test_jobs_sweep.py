"""The retention sweep as a station job: run through the same runner, recorded and alerted."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from helpers import StationEnv
from sqlalchemy import select

from bodycam_ingest.catalog.retention_models import JobRun
from bodycam_ingest.jobs.registry import run_job
from bodycam_ingest.station import Station


def test_the_retention_sweep_runs_as_a_recorded_job(
        populated: StationEnv, open_station: Callable[..., Station]) -> None:
    pytest.importorskip("bodycam_ingest.retention.service",
                        reason="retention.service.sweep_job is written by the retention part; "
                               "the lead integrates it")
    station = open_station(populated)
    result = run_job(station, "retention-sweep", "cli")
    assert result.outcome in ("ok", "alert"), result.summary
    with station.catalog.reading() as session:
        runs = list(session.scalars(select(JobRun).where(JobRun.job == "retention-sweep")))
    assert [(r.trigger, r.outcome) for r in runs] == [("cli", result.outcome)]
