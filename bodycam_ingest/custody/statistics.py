"""R7 statistics: per officer (and unit) over a period, from plain per-recording facts. Pure.

For each group: recordings, hours of footage, the share exported within the export deadline
(24 h after the recording ended), the share labelled within the labelling deadline (2 working
days), unexplained continuity findings, and storage used. The deadlines are ``custody.deadlines``'
own arithmetic, so these shares agree with ``bodycam report deadlines``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bodycam_ingest.custody.deadlines import DeadlinePolicy, export_deadline, labelling_deadline


@dataclass(frozen=True)
class RecordingFacts:
    recording_id: int
    officer: str | None
    unit: str | None
    ended: datetime
    ingested_at: datetime
    labelled_at: datetime | None
    duration_s: float | None
    size: int
    unexplained: int


@dataclass(frozen=True)
class GroupStats:
    officer: str
    unit: str
    recordings: int
    hours: float
    exported_on_time: int
    labelled_on_time: int
    unexplained_findings: int
    bytes: int

    @property
    def export_share(self) -> float:
        return self.exported_on_time / self.recordings if self.recordings else 0.0

    @property
    def labelling_share(self) -> float:
        return self.labelled_on_time / self.recordings if self.recordings else 0.0

    def as_json(self) -> dict[str, object]:
        return {"officer": self.officer, "unit": self.unit, "recordings": self.recordings,
                "hours": round(self.hours, 3), "exported_on_time": self.exported_on_time,
                "export_share": round(self.export_share, 4),
                "labelled_on_time": self.labelled_on_time,
                "labelling_share": round(self.labelling_share, 4),
                "unexplained_findings": self.unexplained_findings, "bytes": self.bytes}


UNKNOWN = "-"


def group_statistics(facts: Iterable[RecordingFacts], policy: DeadlinePolicy) -> list[GroupStats]:
    """One row per (officer, unit), sorted by unit then officer, plus nothing else: totals are
    the caller's sum (``totals``)."""
    groups: dict[tuple[str, str], list[RecordingFacts]] = {}
    for fact in facts:
        groups.setdefault((fact.officer or UNKNOWN, fact.unit or UNKNOWN), []).append(fact)
    out = []
    for (officer, unit), items in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        exported = sum(1 for f in items
                       if f.ingested_at < export_deadline(f.ended, policy.export_hours))
        labelled = sum(1 for f in items if f.labelled_at is not None and f.labelled_at
                       < labelling_deadline(f.ended, policy.calendar,
                                            policy.labelling_working_days))
        out.append(GroupStats(officer, unit, len(items),
                              sum(f.duration_s or 0 for f in items) / 3600, exported, labelled,
                              sum(f.unexplained for f in items), sum(f.size for f in items)))
    return out


def totals(rows: list[GroupStats]) -> GroupStats:
    return GroupStats(UNKNOWN, UNKNOWN, sum(r.recordings for r in rows), sum(r.hours for r in rows),
                      sum(r.exported_on_time for r in rows), sum(r.labelled_on_time for r in rows),
                      sum(r.unexplained_findings for r in rows), sum(r.bytes for r in rows))
