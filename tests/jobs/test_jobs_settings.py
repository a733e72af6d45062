"""[jobs] config: cron's meaning of a schedule (0 is Sunday), and a bad one named at start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jobs_support import make_station, with_jobs

from bodycam_ingest.config import parse_config
from bodycam_ingest.errors import ConfigError, ExitCode
from bodycam_ingest.jobs.settings import (
    DEFAULT_SCHEDULES,
    JOB_NAMES,
    cron_trigger,
    cron_weekdays,
    period,
)

BASE = {"station": {"id": "s1"}}


def _next(expression: str, after: datetime, zone: str = "Asia/Shanghai") -> datetime:
    fire: datetime = cron_trigger(expression, zone).get_next_fire_time(None, after)
    return fire


@pytest.mark.parametrize(("field", "days"), [
    ("*", "*"), ("0", "sun"), ("7", "sun"), ("1-5", "mon,tue,wed,thu,fri"), ("sat,sun", "sun,sat"),
    ("*/2", "sun,tue,thu,sat"), ("5-7", "sun,fri,sat"), ("MON", "mon"),
])
def test_day_of_week_means_what_cron_means(field: str, days: str) -> None:
    assert cron_weekdays(field) == days


def test_the_weekly_scrub_runs_on_sunday_in_the_station_zone() -> None:
    fire = _next(DEFAULT_SCHEDULES["fixity-scrub"], datetime(2026, 1, 1, tzinfo=UTC))
    assert fire.strftime("%A %H:%M") == "Sunday 03:00"
    assert fire.utcoffset() == timedelta(hours=8)
    assert period("0 3 * * 0", "Asia/Shanghai") == timedelta(days=7)
    assert period("5 * * * *", "Asia/Shanghai") == timedelta(hours=1)


def test_defaults_and_every_job_named() -> None:
    jobs = parse_config(BASE).jobs
    assert {name: jobs.schedule_of(name) for name in JOB_NAMES} == DEFAULT_SCHEDULES
    assert all(jobs.job(name).enabled for name in JOB_NAMES)
    assert jobs.scrub_rate() == 50e6 and jobs.backup_keep == 14 and jobs.alert_command is None
    assert jobs.backup_path(Path("/var/lib/bodycam")) == Path("/var/lib/bodycam/backups")
    assert parse_config({**BASE, "jobs": {"scrub_max_mb_per_s": 0}}).jobs.scrub_rate() is None


@pytest.mark.parametrize(("jobs", "expected"), [
    ({"fixity_scrub": {"schedule": "0 3 * *"}}, "jobs.fixity_scrub.schedule = '0 3 * *': has 4 "
     "fields; write 5"),
    ({"deadline_check": {"schedule": "61 * * * *"}}, "jobs.deadline_check.schedule = '61 * * * *'"),
    ({"catalog_backup": {"schedule": "0 1 1 * 1"}}, "restricts both day of month and day of week"),
    ({"catalog_backup": {"schedule": "0 1 * * 8"}}, "day of week '8' is not 0-7"),
    ({"fixity_scrub": {"enabeld": False}}, "jobs.fixity_scrub.enabeld is not a known key"),
    ({"backup_dir": "backups"}, "jobs.backup_dir = 'backups': 'backups' must be an absolute path"),
    ({"alert_command": []}, "jobs.alert_command = []: must name a program"),
    ({"backup_keep": 0}, "jobs.backup_keep = 0"),
])
def test_a_bad_jobs_key_fails_loading_and_names_it(jobs: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, "jobs": jobs}, "/etc/bodycam/config.toml")
    assert expected in str(info.value)
    assert info.value.exit_code == ExitCode.CONFIG


def test_the_cli_refuses_a_bad_schedule_with_exit_3(tmp_path: Path) -> None:
    station = with_jobs(make_station(tmp_path / "s"),
                        '[jobs.fixity_scrub]\nschedule = "0 3 * *"')
    result = station.run("jobs", "list")
    assert result.returncode == 3, result.stderr
    assert "jobs.fixity_scrub.schedule" in result.stderr and "write 5" in result.stderr
