"""R1 deadlines: 24 h export, 2 working days labelling, in the station's local zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bodycam_ingest.custody.deadlines import (
    DeadlinePolicy,
    DeadlineStatus,
    WorkCalendar,
    assess,
    deadline_status,
    export_deadline,
    labelling_deadline,
    nth_working_day_after,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SANTIAGO = ZoneInfo("America/Santiago")


def days(first: str, last: str) -> set[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return {start + timedelta(n) for n in range((end - start).days + 1)}


# China's 2025 public holidays and make-up working days (调休), as an agency would configure them.
CN_2025 = WorkCalendar.of(
    "Asia/Shanghai",
    holidays=days("2025-01-28", "2025-02-04") | days("2025-05-01", "2025-05-05")
    | days("2025-10-01", "2025-10-08"),
    makeup_workdays={date(2025, 1, 26), date(2025, 2, 8), date(2025, 4, 27),
                     date(2025, 9, 28), date(2025, 10, 11)},
)  # fmt: skip
PLAIN = WorkCalendar()


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --------------------------------------------------------------------------- labelling


@pytest.mark.parametrize(
    ("ended", "deadline_local"),
    [
        ("2025-03-03 10:00", "2025-03-06 00:00"),  # Monday: Tue, Wed
        ("2025-03-06 10:00", "2025-03-11 00:00"),  # Thursday: Fri, Mon (weekend skipped)
        ("2025-03-07 10:00", "2025-03-12 00:00"),  # Friday: Mon, Tue
        ("2025-03-08 10:00", "2025-03-12 00:00"),  # Saturday: Mon, Tue
        ("2025-03-09 23:59", "2025-03-12 00:00"),  # Sunday: Mon, Tue
        ("2025-03-03 00:00", "2025-03-06 00:00"),  # the ending day never counts, however early
    ],
)
def test_labelling_deadline_skips_weekends(ended: str, deadline_local: str) -> None:
    assert labelling_deadline(cst(ended), PLAIN) == cst(deadline_local)


def test_default_is_asia_shanghai_and_the_deadline_comes_back_in_utc() -> None:
    deadline = labelling_deadline(cst("2025-03-07 10:00"), WorkCalendar())
    assert deadline == utc("2025-03-11 16:00")
    assert deadline.tzinfo is UTC


@pytest.mark.parametrize(
    ("ended", "deadline_local"),
    [
        ("2025-09-30 18:00", "2025-10-11 00:00"),  # National Day: Oct 9, Oct 10
        ("2025-10-03 10:00", "2025-10-11 00:00"),  # ended inside the holiday
        ("2025-01-27 09:00", "2025-02-07 00:00"),  # Spring Festival: Feb 5, Feb 6
        ("2025-04-30 17:00", "2025-05-08 00:00"),  # Labour Day: May 6, May 7
    ],
)
def test_labelling_deadline_skips_configured_holidays(ended: str, deadline_local: str) -> None:
    assert labelling_deadline(cst(ended), CN_2025) == cst(deadline_local)


@pytest.mark.parametrize(
    ("ended", "with_makeup", "without"),
    [
        # Friday; Sunday Sep 28 is worked, so it is working day 1 and Monday is day 2.
        ("2025-09-26 15:00", "2025-09-30 00:00", "2025-10-01 00:00"),
        # Thursday after the holiday; Saturday Oct 11 is worked and is working day 2.
        ("2025-10-09 15:00", "2025-10-12 00:00", "2025-10-14 00:00"),
        # Friday before Spring Festival; Sunday Jan 26 is worked.
        ("2025-01-24 15:00", "2025-01-28 00:00", "2025-02-06 00:00"),
    ],
)
def test_make_up_working_days_count_as_working_days(ended: str, with_makeup: str, without: str) -> None:
    assert labelling_deadline(cst(ended), CN_2025) == cst(with_makeup)
    no_makeup = WorkCalendar(CN_2025.zone, CN_2025.holidays)
    assert labelling_deadline(cst(ended), no_makeup) == cst(without)


def test_the_local_date_decides_not_the_utc_date() -> None:
    # Friday 07:30 in Shanghai is still Thursday in UTC: counting starts after Friday.
    friday_morning = cst("2025-03-07 07:30")
    assert friday_morning.astimezone(UTC).date() == date(2025, 3, 6)
    assert labelling_deadline(friday_morning, PLAIN) == cst("2025-03-12 00:00")
    # 23:59 and one minute later fall on different local days.
    assert labelling_deadline(cst("2025-03-06 23:59"), PLAIN) == cst("2025-03-11 00:00")
    assert labelling_deadline(cst("2025-03-07 00:00"), PLAIN) == cst("2025-03-12 00:00")
    # Thursday 23:59 in New York is Friday in UTC; a New York station counts from Thursday.
    ny = WorkCalendar.of("America/New_York")
    thursday_night = datetime(2025, 3, 6, 23, 59, tzinfo=NEW_YORK)
    assert thursday_night.astimezone(UTC).date() == date(2025, 3, 7)
    assert labelling_deadline(thursday_night, ny) == datetime(2025, 3, 11, tzinfo=NEW_YORK)


def test_an_instant_given_in_any_zone_is_judged_in_the_station_zone() -> None:
    same_instant = cst("2025-03-07 07:30").astimezone(NEW_YORK)
    assert labelling_deadline(same_instant, PLAIN) == cst("2025-03-12 00:00")


def test_daylight_saving_changes_move_the_deadline_in_utc_but_not_on_the_wall_clock() -> None:
    berlin = WorkCalendar.of("Europe/Berlin")
    # Clocks go forward on Sunday 2025-03-30: Wednesday midnight is CEST (UTC+2).
    spring = labelling_deadline(datetime(2025, 3, 28, 12, tzinfo=BERLIN), berlin)
    assert spring == utc("2025-04-01 22:00")
    assert spring.astimezone(BERLIN).replace(tzinfo=None) == datetime(2025, 4, 2)
    # Clocks go back on Sunday 2025-10-26: Wednesday midnight is CET (UTC+1).
    autumn = labelling_deadline(datetime(2025, 10, 24, 12, tzinfo=BERLIN), berlin)
    assert autumn == utc("2025-10-28 23:00")


def test_where_local_midnight_does_not_exist_the_deadline_is_when_the_day_ended() -> None:
    # Santiago springs forward at midnight: 2024-09-08 00:00 never happened (23:59 -04 -> 01:00 -03)
    santiago = WorkCalendar.of("America/Santiago", makeup_workdays={date(2024, 9, 7)})
    deadline = labelling_deadline(datetime(2024, 9, 6, 12, tzinfo=SANTIAGO), santiago, 1)
    assert deadline == utc("2024-09-08 04:00")
    assert (deadline - timedelta(microseconds=1)).astimezone(SANTIAGO).date() == date(2024, 9, 7)


def test_the_number_of_working_days_is_configurable() -> None:
    friday = cst("2025-03-07 10:00")
    assert labelling_deadline(friday, PLAIN, 1) == cst("2025-03-11 00:00")
    assert labelling_deadline(friday, PLAIN, 5) == cst("2025-03-15 00:00")
    with pytest.raises(ValueError, match="at least 1"):
        labelling_deadline(friday, PLAIN, 0)


_zones = st.sampled_from(
    [
        "Asia/Shanghai",
        "Europe/Berlin",
        "America/New_York",
        "America/Santiago",
        "UTC",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
        "Pacific/Kiritimati",
    ]
)
_dates = st.dates(date(2023, 1, 1), date(2027, 12, 31))


@st.composite
def calendars(draw: st.DrawFn) -> WorkCalendar:
    holidays = draw(st.frozensets(_dates, max_size=40))
    makeup = draw(st.frozensets(_dates, max_size=10)) - holidays
    weekend = draw(st.frozensets(st.integers(0, 6), max_size=3))
    return WorkCalendar.of(draw(_zones), holidays, makeup, weekend)


_ends = st.datetimes(datetime(2023, 1, 1), datetime(2027, 12, 1), timezones=_zones.map(ZoneInfo))


@settings(deadline=None)  # no test may depend on wall-clock speed
@given(_ends, calendars(), st.integers(1, 6))
def test_the_deadline_ends_the_nth_working_day_after_the_local_day_of_the_end(
    end: datetime, calendar: WorkCalendar, n: int
) -> None:
    deadline = labelling_deadline(end, calendar, n)
    ended_on = end.astimezone(calendar.zone).date()
    last_day = (deadline - timedelta(microseconds=1)).astimezone(calendar.zone).date()
    assert deadline.astimezone(calendar.zone).date() == last_day + timedelta(1)
    assert calendar.is_working_day(last_day)
    between = [ended_on + timedelta(k) for k in range(1, (last_day - ended_on).days + 1)]
    assert sum(map(calendar.is_working_day, between)) == n
    assert deadline > end


@settings(deadline=None)
@given(_ends, st.timedeltas(timedelta(0), timedelta(days=20)), calendars())
def test_a_later_end_never_gives_an_earlier_deadline(
    end: datetime, later: timedelta, calendar: WorkCalendar
) -> None:
    assert labelling_deadline(end + later, calendar) >= labelling_deadline(end, calendar)


# --------------------------------------------------------------------------- calendar


def test_a_date_cannot_be_both_holiday_and_make_up_day() -> None:
    with pytest.raises(ValueError, match="2025-10-11 is configured both"):
        WorkCalendar.of(holidays={date(2025, 10, 11)}, makeup_workdays={date(2025, 10, 11)})


def test_a_calendar_without_working_days_is_refused_instead_of_looping() -> None:
    never = WorkCalendar.of(weekend=range(7))
    with pytest.raises(ValueError, match="no working day in the year after"):
        labelling_deadline(cst("2025-03-07 10:00"), never)
    assert nth_working_day_after(
        date(2025, 3, 7), 1, WorkCalendar.of(weekend=range(7), makeup_workdays={date(2025, 12, 1)})
    ) == date(2025, 12, 1)


def test_unknown_zone_and_bad_weekday_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match="'Asia/Nowhere' is not a known IANA time zone"):
        WorkCalendar.of("Asia/Nowhere")
    with pytest.raises(ValueError, match="0 \\(Monday\\) to 6"):
        WorkCalendar.of(weekend={7})


# --------------------------------------------------------------------------- export


def test_export_deadline_is_24_elapsed_hours_even_across_a_clock_change() -> None:
    end = datetime(2025, 3, 29, 12, tzinfo=BERLIN)  # the night the clocks go forward follows
    deadline = export_deadline(end)
    assert deadline - end == timedelta(hours=24)
    assert deadline.astimezone(BERLIN).hour == 13  # the wall clock shows 25 hours later
    # (not ``end + timedelta(hours=48)``: Python adds to an aware datetime on the wall clock)
    assert export_deadline(end, hours=48) == end.astimezone(UTC) + timedelta(hours=48)
    with pytest.raises(ValueError, match="at least 1"):
        export_deadline(end, hours=0)


def test_naive_times_are_refused_everywhere() -> None:
    naive = datetime(2025, 3, 7, 10)
    with pytest.raises(ValueError, match="no time zone"):
        export_deadline(naive)
    with pytest.raises(ValueError, match="no time zone"):
        labelling_deadline(naive, PLAIN)
    with pytest.raises(ValueError, match="no time zone"):
        deadline_status(naive, utc("2025-03-08 02:00"), warn_before=timedelta(hours=1))


# --------------------------------------------------------------------------- status


DEADLINE = utc("2025-03-08 02:00")
WARN = timedelta(hours=4)
TICK = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("now", "done_at", "status"),
    [
        (DEADLINE - WARN - TICK, None, DeadlineStatus.OK),
        (DEADLINE - WARN, None, DeadlineStatus.DUE_SOON),
        (DEADLINE - TICK, None, DeadlineStatus.DUE_SOON),
        (DEADLINE, None, DeadlineStatus.MISSED),
        (DEADLINE + timedelta(days=30), DEADLINE - TICK, DeadlineStatus.OK),
        (DEADLINE + timedelta(days=30), DEADLINE, DeadlineStatus.MISSED),
        (DEADLINE - WARN, DEADLINE - timedelta(days=1), DeadlineStatus.OK),
    ],
)
def test_status_is_ok_due_soon_or_missed_with_the_deadline_itself_too_late(
    now: datetime, done_at: datetime | None, status: DeadlineStatus
) -> None:
    assert deadline_status(now, DEADLINE, warn_before=WARN, done_at=done_at) is status


def test_assess_reports_both_deadlines_of_a_recording() -> None:
    end = cst("2025-03-07 10:00")  # Friday
    policy = DeadlinePolicy(calendar=CN_2025)
    monday_noon = cst("2025-03-10 12:00")
    result = assess(
        end, now=monday_noon, exported_at=cst("2025-03-08 11:00"), labelled_at=None, policy=policy
    )
    assert result.export_deadline == cst("2025-03-08 10:00")
    assert result.export_status is DeadlineStatus.MISSED  # exported an hour late
    assert result.labelling_deadline == cst("2025-03-12 00:00")
    assert result.labelling_status is DeadlineStatus.OK
    tuesday_noon = assess(end, now=cst("2025-03-11 12:00"), exported_at=None, labelled_at=None, policy=policy)
    assert tuesday_noon.labelling_status is DeadlineStatus.DUE_SOON
    assert tuesday_noon.export_status is DeadlineStatus.MISSED
