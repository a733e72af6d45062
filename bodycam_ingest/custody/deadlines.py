"""Deadline arithmetic for R1: export within 24 hours, labelling within 2 working days.

Pure: every function takes the moments, the calendar and ``now`` as arguments and reads no
clock, file or configuration, so the rules can be tested across weekends, holidays and zones.

Definitions (the numbers are configurable; these are the defaults)
------------------------------------------------------------------
A *deadline* is the first instant that is too late: something done strictly before it is on
time, something done at or after it missed.

Export deadline
    ``recording end + 24 hours`` of elapsed time. It is not a wall-clock rule, so a daylight
    saving change in between neither adds nor removes an hour.

Labelling deadline ("within 2 working days")
    Take the *local date* on which the recording ended, in the station's zone (Asia/Shanghai by
    default), not the UTC date. Count working days strictly after that date: the 2nd one is the
    last day allowed, and the deadline is the end of that day, i.e. local midnight at the start
    of the following day. The day the recording ended never counts, even if it is a working day
    and the recording ended at 08:00: "within N working days after" gives N whole days.

    A working day is a make-up working day (调休: a configured weekend date that is worked),
    otherwise any day that is neither a weekend day (Saturday and Sunday by default) nor a
    configured holiday.

    Example (Asia/Shanghai): a recording that ends on Friday 2025-03-07 at 10:00 must be
    labelled before Wednesday 2025-03-12 00:00 local (2025-03-11T16:00Z): Monday is working
    day 1, Tuesday working day 2.

    Where local midnight does not exist (a zone that springs forward at 00:00), the deadline is
    the instant the last allowed day ended, which is what ``zoneinfo`` gives for ``fold=0``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Asia/Shanghai"
DEFAULT_EXPORT_HOURS = 24
DEFAULT_LABELLING_WORKING_DAYS = 2
SATURDAY, SUNDAY = 5, 6
_MAX_SEARCH_DAYS = 366  # a calendar with no working day in a year is a configuration mistake


class DeadlineStatus(StrEnum):
    OK = "ok"  # done on time, or not yet due soon
    DUE_SOON = "due_soon"  # not done, and the deadline is within the warning window
    MISSED = "missed"  # done late, or not done and the deadline has passed


def _aware(name: str, moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} {moment.isoformat()} has no time zone; pass an aware datetime")


@dataclass(frozen=True)
class WorkCalendar:
    """Which local dates are working days at the station."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_ZONE))
    holidays: frozenset[date] = frozenset()
    makeup_workdays: frozenset[date] = frozenset()
    weekend: frozenset[int] = frozenset({SATURDAY, SUNDAY})  # date.weekday() numbers

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "makeup_workdays", frozenset(self.makeup_workdays))
        object.__setattr__(self, "weekend", frozenset(self.weekend))
        both = sorted(self.holidays & self.makeup_workdays)
        if both:
            raise ValueError(
                f"{', '.join(d.isoformat() for d in both)} is configured both as a holiday and "
                "as a make-up working day; remove it from one of the lists"
            )
        if not self.weekend <= set(range(7)):
            raise ValueError(f"weekend days {sorted(self.weekend)} must be 0 (Monday) to 6")

    @classmethod
    def of(
        cls,
        zone: str = DEFAULT_ZONE,
        holidays: Iterable[date] = (),
        makeup_workdays: Iterable[date] = (),
        weekend: Iterable[int] = (SATURDAY, SUNDAY),
    ) -> WorkCalendar:
        """Build from configuration values (a zone name, lists of dates)."""
        try:
            station_zone = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{zone!r} is not a known IANA time zone") from exc
        return cls(station_zone, frozenset(holidays), frozenset(makeup_workdays), frozenset(weekend))

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_workdays:
            return True
        return day not in self.holidays and day.weekday() not in self.weekend

    def local_date(self, moment: datetime) -> date:
        _aware("moment", moment)
        return moment.astimezone(self.zone).date()

    def start_of(self, day: date) -> datetime:
        """The UTC instant at which local ``day`` begins."""
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)


def nth_working_day_after(day: date, n: int, calendar: WorkCalendar) -> date:
    """The ``n``-th working day strictly after ``day`` (n >= 1)."""
    if n < 1:
        raise ValueError(f"working days must be at least 1, not {n}")
    found = 0
    current = day
    gap = 0
    while found < n:
        current += timedelta(days=1)
        gap += 1
        if calendar.is_working_day(current):
            found += 1
            gap = 0
        elif gap > _MAX_SEARCH_DAYS:
            raise ValueError(
                f"the work calendar has no working day in the year after {current - timedelta(gap)}"
                "; check the configured weekend and holidays"
            )
    return current


def export_deadline(recording_end: datetime, hours: int = DEFAULT_EXPORT_HOURS) -> datetime:
    """First instant at which the recording is exported too late (UTC)."""
    _aware("recording end", recording_end)
    if hours < 1:
        raise ValueError(f"export deadline hours must be at least 1, not {hours}")
    return recording_end.astimezone(UTC) + timedelta(hours=hours)


def labelling_deadline(
    recording_end: datetime,
    calendar: WorkCalendar,
    working_days: int = DEFAULT_LABELLING_WORKING_DAYS,
) -> datetime:
    """First instant at which the recording is labelled too late (UTC); see the module doc."""
    last_day = nth_working_day_after(calendar.local_date(recording_end), working_days, calendar)
    return calendar.start_of(last_day + timedelta(days=1))


def deadline_status(
    now: datetime,
    deadline: datetime,
    *,
    warn_before: timedelta,
    done_at: datetime | None = None,
) -> DeadlineStatus:
    """Where one obligation stands at ``now``; ``done_at`` is when it was met, if it was."""
    _aware("now", now)
    _aware("deadline", deadline)
    if warn_before < timedelta(0):
        raise ValueError(f"warning window {warn_before} is negative")
    if done_at is not None:
        _aware("done_at", done_at)
        return DeadlineStatus.OK if done_at < deadline else DeadlineStatus.MISSED
    if now >= deadline:
        return DeadlineStatus.MISSED
    if now >= deadline - warn_before:
        return DeadlineStatus.DUE_SOON
    return DeadlineStatus.OK


@dataclass(frozen=True)
class DeadlinePolicy:
    """The configurable numbers of R1, with the strictest seed's values as defaults."""

    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    export_hours: int = DEFAULT_EXPORT_HOURS
    labelling_working_days: int = DEFAULT_LABELLING_WORKING_DAYS
    export_warn_before: timedelta = timedelta(hours=4)
    labelling_warn_before: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Assessment:
    """Both R1 deadlines of one recording, as ``bodycam report deadlines`` lists them."""

    export_deadline: datetime
    export_status: DeadlineStatus
    labelling_deadline: datetime
    labelling_status: DeadlineStatus


def assess(
    recording_end: datetime,
    *,
    now: datetime,
    exported_at: datetime | None,
    labelled_at: datetime | None,
    policy: DeadlinePolicy,
) -> Assessment:
    """Both deadlines and their status for one recording at ``now``."""
    export = export_deadline(recording_end, policy.export_hours)
    label = labelling_deadline(recording_end, policy.calendar, policy.labelling_working_days)
    return Assessment(
        export_deadline=export,
        export_status=deadline_status(
            now, export, warn_before=policy.export_warn_before, done_at=exported_at
        ),
        labelling_deadline=label,
        labelling_status=deadline_status(
            now, label, warn_before=policy.labelling_warn_before, done_at=labelled_at
        ),
    )
