"""``[jobs]`` section of the station config: when the station's jobs run, and how hard they may work.

Schedules are five-field crontab expressions in the station's zone (``station.zone``). They are
parsed here, with cron's own meaning of the day-of-week field (0 and 7 are Sunday), and handed to
APScheduler as explicit day names: APScheduler 3's ``CronTrigger.from_crontab`` reads 0 as Monday,
so a weekly "0 3 * * 0" would otherwise silently run a day late. Cron ORs day-of-month and
day-of-week when both are restricted while APScheduler ANDs them, so that form is refused instead
of being run differently from what the operator read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

# Job names as the CLI, the scheduler's job ids and the job_runs table spell them.
RETENTION_SWEEP = "retention-sweep"
FIXITY_SCRUB = "fixity-scrub"
DEADLINE_CHECK = "deadline-check"
CATALOG_BACKUP = "catalog-backup"
JOB_NAMES = (RETENTION_SWEEP, FIXITY_SCRUB, DEADLINE_CHECK, CATALOG_BACKUP)

DEFAULT_SCHEDULES = {
    RETENTION_SWEEP: "30 2 * * *",  # daily 02:30
    FIXITY_SCRUB: "0 3 * * 0",  # weekly, Sunday 03:00
    DEADLINE_CHECK: "5 * * * *",  # hourly at :05
    CATALOG_BACKUP: "15 1 * * *",  # daily 01:15
}

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _day_number(token: str) -> int:
    """0-7 (0 and 7 are Sunday) or a day name, as cron reads it."""
    if token.lower() in _DAY_NAMES:
        return _DAY_NAMES.index(token.lower())
    if not token.isdigit() or not 0 <= int(token) <= 7:
        raise ValueError(f"day of week {token!r} is not 0-7 or a day name (sun, mon, ...)")
    return int(token)


def cron_weekdays(field: str) -> str:
    """Cron's day-of-week field as APScheduler day names ('1-5' -> 'mon,tue,wed,thu,fri')."""
    days: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        if slash and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"day of week step {step_text!r} is not a positive number")
        step = int(step_text) if slash else 1
        if base == "*":
            low, high = 0, 6
        elif "-" in base:
            first, last = base.split("-", 1)
            low, high = _day_number(first), _day_number(last)
            if high < low:
                raise ValueError(f"day of week range {base!r} runs backwards")
        else:
            low = _day_number(base)
            high = 6 if slash else low
        days.update(day % 7 for day in range(low, high + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(_DAY_NAMES[day] for day in sorted(days))


def cron_trigger(expression: str, zone: str) -> CronTrigger:
    """A five-field crontab expression as an APScheduler trigger in ``zone`` (cron's meaning)."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"has {len(fields)} fields; write 5: minute hour day-of-month month "
                         "day-of-week, e.g. '0 3 * * 0' (Sundays 03:00)")
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        raise ValueError("restricts both day of month and day of week, which cron and the "
                         "scheduler combine differently; restrict only one of them")
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=cron_weekdays(weekday), timezone=zone)


def _valid_cron(value: str) -> str:
    cron_trigger(value, "UTC")  # raises ValueError naming the problem
    return value


Cron = Annotated[str, AfterValidator(_valid_cron)]


def period(expression: str, zone: str, samples: int = 16) -> timedelta:
    """The longest gap between consecutive runs of a schedule (the scrub's 'period')."""
    trigger = cron_trigger(expression, zone)
    moment = datetime(2030, 1, 1, tzinfo=UTC)  # any fixed origin: the answer must not drift
    previous = trigger.get_next_fire_time(None, moment)
    longest = timedelta(0)
    for _ in range(samples):
        following = trigger.get_next_fire_time(previous, previous + timedelta(seconds=1))
        longest = max(longest, following - previous)
        previous = following
    return longest


class JobSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # crontab (minute hour day-of-month month day-of-week), station zone; None: the default
    schedule: Cron | None = None
    # false: the daemon does not run it (e.g. a systemd timer does); `bodycam jobs run` still works
    enabled: bool = True


class JobsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    retention_sweep: JobSchedule = JobSchedule()
    fixity_scrub: JobSchedule = JobSchedule()
    deadline_check: JobSchedule = JobSchedule()
    catalog_backup: JobSchedule = JobSchedule()
    # Fixity scrub read rate in MB/s (10^6 bytes), so docks keep the disk; 0 = unlimited.
    scrub_max_mb_per_s: float = Field(default=50.0, ge=0)
    # Hours one scrub run may take; it then stops and the next run continues with the files
    # checked longest ago. 0 = no limit (the run covers the whole store).
    scrub_max_hours: float = Field(default=0.0, ge=0)
    # Catalog backups (SQLite copies or pg_dump files). Default <state_dir>/backups
    backup_dir: Path | None = None
    backup_keep: int = Field(default=14, ge=1)
    # argv of a command run once per alert (no shell), e.g. ["/usr/local/bin/sms-alert", "ops"];
    # the alert is in its environment: BODYCAM_ALERT_JOB, _MESSAGE, _STATION, _TIME.
    alert_command: tuple[str, ...] | None = None
    alert_timeout_s: float = Field(default=30.0, gt=0)

    @field_validator("backup_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError(f"{str(value)!r} must be an absolute path")
        return value

    @field_validator("alert_command")
    @classmethod
    def _argv(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or not value[0]):
            raise ValueError("must name a program, e.g. ['/usr/local/bin/sms-alert', 'ops']")
        return value

    def job(self, name: str) -> JobSchedule:
        return getattr(self, name.replace("-", "_"))  # type: ignore[no-any-return]

    def schedule_of(self, name: str) -> str:
        return self.job(name).schedule or DEFAULT_SCHEDULES[name]

    def backup_path(self, state_dir: Path) -> Path:
        return self.backup_dir or state_dir / "backups"

    def scrub_rate(self) -> float | None:
        """Bytes per second, or None for unlimited."""
        return self.scrub_max_mb_per_s * 1e6 if self.scrub_max_mb_per_s > 0 else None
