"""R1 labelling deadlines follow China's official holidays and make-up working days by default,
from the chinesecalendar tables; the config overrides them; a year the calendar does not know is
reported (issue 11)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bodycam_ingest.config import Config, parse_config
from bodycam_ingest.custody import holidays
from bodycam_ingest.custody.deadlines import DeadlinePolicy, labelling_deadline
from bodycam_ingest.custody.reports import policy_of

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _config(custody: dict[str, object] | None = None) -> Config:
    return parse_config({"station": {"id": "s"}, "custody": custody or {}})


def _last_day(policy: DeadlinePolicy, ended: datetime) -> date:
    """The last local day on which labelling is on time."""
    deadline = labelling_deadline(ended, policy.calendar, policy.labelling_working_days)
    return (deadline.astimezone(SHANGHAI) - timedelta(seconds=1)).date()


def test_a_recording_ending_on_30_september_2025_must_be_labelled_by_10_october() -> None:
    ended = datetime(2025, 9, 30, 15, 0, tzinfo=SHANGHAI)
    assert _last_day(policy_of(_config()), ended) == date(2025, 10, 10)
    # without the official calendar it would have been 2 October: the wrong default
    assert _last_day(policy_of(_config({"holiday_calendar": "none"})), ended) == date(2025, 10, 2)


def test_spring_festival_2026_and_its_make_up_saturday() -> None:
    calendar = policy_of(_config()).calendar
    assert not calendar.is_working_day(date(2026, 2, 17))  # 春节
    assert calendar.is_working_day(date(2026, 2, 14))  # a Saturday worked (调休)


def test_configured_dates_override_the_official_ones() -> None:
    policy = policy_of(_config({"holidays": ["2025-10-09"], "makeup_workdays": ["2025-10-08"]}))
    assert not policy.calendar.is_working_day(date(2025, 10, 9))
    assert policy.calendar.is_working_day(date(2025, 10, 8))


def test_a_year_the_calendar_does_not_cover_is_named_with_the_fix() -> None:
    official = holidays.official_days()
    assert official.source == "chinesecalendar" and 2025 in official.years
    assert holidays.coverage_problem(official, date(2025, 6, 1)) is None
    future = max(official.years) + 1
    problem = holidays.coverage_problem(official, date(future, 1, 5))
    assert problem is not None and f"does not cover {future}" in problem
    assert "custody.holidays" in problem and "pip install -U chinesecalendar" in problem
    assert holidays.coverage_problem(official, date(future, 1, 5), [date(future, 1, 1)]) is None
