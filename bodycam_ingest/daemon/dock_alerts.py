"""Alerts for docks, through the same path as the scheduled jobs' (``jobs.alerts.raise_alerts``:
the journal, the custody log, then ``jobs.alert_command`` with ``BODYCAM_ALERT_JOB=dock``).

A dock alerts when someone must act: it ended incomplete or failed (dock again, free space), the
device was refused (cannot be mounted, locked, matches no rule when forced), recordings cannot be
read by ffprobe, or the camera's clock is off beyond ``analysis.thresholds.clock_tolerance_s``
(a clock_drift finding). A dock stopped by the daemon's own shutdown does not alert. The
decisions are pure (``report_alerts``); the daemon gathers the facts and raises them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select

from bodycam_ingest.catalog.analysis_models import AnalysisRun, FindingRow

if TYPE_CHECKING:
    from bodycam_ingest.ingest.pipeline import DockReport
    from bodycam_ingest.station import Station

JOB = "dock"
CLOCK_DRIFT = "clock_drift"


def report_alerts(source: str, report: DockReport, drift: Sequence[str]) -> list[str]:
    """What a finished dock must tell someone (pure)."""
    where = f"dock {report.dock_id} from {source}"
    alerts: list[str] = []
    if report.outcome in ("incomplete", "failed"):
        alerts.append(f"{where} ended {report.outcome}: {report.reason or 'no reason given'}; "
                      "dock the camera again once it is fixed")
    if report.unreadable:
        shown = ", ".join(report.unreadable[:3]) + (" ..." if len(report.unreadable) > 3 else "")
        alerts.append(f"{where}: {len(report.unreadable)} recording(s) ffprobe cannot read "
                      f"(stored and flagged): {shown}")
    alerts.extend(f"{where}: camera clock off: {message}" for message in drift)
    return alerts


def refused_alert(source: str, message: str) -> str:
    return f"camera {source} was refused: {message}"


def clock_drift_messages(station: Station, dock_id: int | None) -> list[str]:
    """The current clock_drift findings of the recordings analysed for this dock."""
    if dock_id is None:
        return []
    with station.catalog.reading() as session:
        rows = session.scalars(
            select(FindingRow.message).join(AnalysisRun, AnalysisRun.id == FindingRow.analysis_id)
            .where(AnalysisRun.dock_id == dock_id, FindingRow.kind == CLOCK_DRIFT,
                   FindingRow.current.is_(True)).order_by(FindingRow.id))
        return list(rows)
