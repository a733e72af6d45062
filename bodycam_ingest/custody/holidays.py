"""China's public holidays and make-up working days (调休), from a maintained source.

The State Council publishes each year's holidays in November or December; the ``chinesecalendar``
package (PyPI, maintained since 2017, one release per announcement) carries them as two tables.
Reading them is the only I/O here: ``official_days`` returns plain data, ``merge`` (pure) applies
the station's own ``custody.holidays`` / ``custody.makeup_workdays`` on top (a date given in the
config wins over the package), and ``coverage_problem`` (pure) says when the calendar does not
cover a year, so the station warns instead of silently treating 国庆 as working days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

SOURCE = "chinesecalendar"


@dataclass(frozen=True)
class OfficialDays:
    holidays: frozenset[date]
    makeup_workdays: frozenset[date]
    years: frozenset[int]  # the years the source knows
    source: str

    @classmethod
    def empty(cls) -> OfficialDays:
        return cls(frozenset(), frozenset(), frozenset(), "none")


def official_days() -> OfficialDays:
    """The package's tables (an empty calendar, with source 'none', if it is not installed)."""
    try:
        from chinese_calendar import constants
    except ImportError:  # pragma: no cover - a runtime dependency; doctor reports it missing
        return OfficialDays.empty()
    holidays = frozenset(constants.holidays)
    return OfficialDays(holidays=holidays, makeup_workdays=frozenset(constants.workdays),
                        years=frozenset(d.year for d in holidays), source=SOURCE)


def merge(official: OfficialDays, holidays: Iterable[date], makeup_workdays: Iterable[date]
          ) -> tuple[frozenset[date], frozenset[date]]:
    """(holidays, make-up working days): the official ones, with the config's dates winning."""
    extra_off, extra_on = frozenset(holidays), frozenset(makeup_workdays)
    off = (official.holidays - extra_on) | extra_off
    on = (official.makeup_workdays - extra_off) | extra_on
    return off, on


def coverage_problem(official: OfficialDays, today: date, configured: Iterable[date] = ()
                     ) -> str | None:
    """One sentence when ``today``'s year has no known holidays, else None (pure)."""
    if today.year in official.years or any(d.year == today.year for d in configured):
        return None
    known = f"{min(official.years)}-{max(official.years)}" if official.years else "no year"
    return (f"the holiday calendar does not cover {today.year} (source {official.source}: "
            f"{known}), so labelling deadlines count public holidays as working days; upgrade it "
            "(pip install -U chinesecalendar, or re-run scripts/install-station.sh) or list the "
            "year's dates in custody.holidays and custody.makeup_workdays")
