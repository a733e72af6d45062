"""Audit section 'scrub' (issue 5): see ``check``.

A failed re-hash is not forgotten when the next one is due: the audit keeps failing for a
recording until a later check of the same recording passes (someone restored the file from a
replica and re-verified it). The audit also notes when the scrub is not keeping up, since a
store nobody re-reads is the failure this job exists to prevent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.catalog.retention_models import FixityCheck, JobRun
from bodycam_ingest.jobs.settings import DEFAULT_SCHEDULES, FIXITY_SCRUB

if TYPE_CHECKING:
    from bodycam_ingest.custody.audit import AuditInputs, AuditReport

SECTION = 'scrub'
DEFAULT_PERIOD = timedelta(days=7)  # of the default schedule; AuditInputs may pass the real one


def _latest_checks(session: Session, ids: list[int]) -> dict[int, FixityCheck]:
    newest = (select(FixityCheck.recording_id, func.max(FixityCheck.id).label("id"))
              .where(FixityCheck.recording_id.in_(ids)).group_by(FixityCheck.recording_id)
              .subquery())
    return {row.recording_id: row for row in session.scalars(
        select(FixityCheck).join(newest, FixityCheck.id == newest.c.id))}


def check(session: Session, inputs: AuditInputs, keyring: Mapping[str, Ed25519PublicKey],
          report: AuditReport) -> None:
    """Add every problem of this section to ``report`` (``report.checked[SECTION]`` counts objects).

    A finding for each live recording whose latest fixity check failed; a note when the scrub
    never ran, or when the live recording checked longest ago was checked more than two scrub
    periods ago. ``inputs.now`` and ``inputs.scrub_period`` are used when the caller provides
    them (the wall clock and the default weekly period otherwise).
    """
    live = Recording.deleted_at.is_(None)
    report.checked[SECTION] += session.scalar(
        select(func.count()).select_from(Recording).where(live)) or 0
    failing = list(session.scalars(select(Recording).where(live, Recording.fixity_ok.is_(False))
                                   .order_by(Recording.id)))
    latest = _latest_checks(session, [r.id for r in failing]) if failing else {}
    for recording in failing:
        last = latest.get(recording.id)
        if last is not None and last.ok:
            continue  # the flag lags a passing check written elsewhere: the check decides
        seen = (f"seen sha256 {last.sha256_seen}" if last is not None and last.sha256_seen
                else (last.error if last is not None and last.error else "unreadable"))
        when = f" on {last.checked_at:%Y-%m-%d %H:%M}Z by {last.source}" if last else ""
        report.add(SECTION, f"recording {recording.id} ({recording.camera_path})",
                   f"its stored copy {recording.store_path} failed its latest fixity "
                   f"check{when}: expected sha256 {recording.sha256}, {seen}; restore it from a "
                   "verified replica, then run `bodycam jobs run fixity-scrub`")
    now = inputs.now or datetime.now(UTC)
    period = inputs.scrub_period or DEFAULT_PERIOD
    ran = session.scalar(select(func.max(JobRun.started_at)).where(
        JobRun.job == FIXITY_SCRUB, JobRun.outcome.in_(("ok", "alert"))))
    if ran is None:
        if report.checked[SECTION]:
            report.notes.append(f"scrub: the fixity scrub never ran; the daemon runs it "
                                f"({DEFAULT_SCHEDULES[FIXITY_SCRUB]!r} by default) or run "
                                "`bodycam jobs run fixity-scrub`")
        return
    # a recording ingested since is not behind until it waited two periods for its first check
    oldest = session.scalar(select(func.min(func.coalesce(Recording.fixity_checked_at,
                                                          Recording.ingested_at))).where(live))
    if oldest is not None and now - _aware(oldest) > 2 * period:
        report.notes.append(f"scrub: a live recording was last re-hashed (or ingested) on "
                            f"{oldest:%Y-%m-%d}, more than two scrub periods ({2 * period}) ago; "
                            "the scrub is not keeping up: check that it runs, raise "
                            "jobs.scrub_max_mb_per_s or jobs.scrub_max_hours")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
