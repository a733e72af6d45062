"""Legal holds (``bodycam hold``): explicit, owned, reviewed, released only with a reason.

A hold is on a recording or on a case; a case hold applies to every recording whose *current*
label names the case, including recordings labelled into it later (the sweep reads it that way,
``state.states_for``). Active means ``released_at IS NULL``: the review date (``until``) releases
nothing, it only makes ``hold list``, ``show`` and the audit ask the owner to review the hold.

Releasing ends protection, so it is attributed like a tier lowering: the owner of the hold may
release it with a reason; anyone else makes a request that another account approves
(access.requests), which then calls ``release`` with the approver. A release is
final: the row keeps its history, a new hold is added if protection is needed again.

Each add and release writes one custody-log entry in the same transaction, carrying the SHA-256 of
what it vouches for (``added_digest``, ``released_digest``), so ``hold_audit`` can tell a hold
changed in the database after the fact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.retention_models import HoldRow
from bodycam_ingest.custody.manifest import JsonValue, canonical_json, format_timestamp, sha256_hex
from bodycam_ingest.custody.roles import Acting
from bodycam_ingest.errors import (
    HoldAlreadyReleased,
    HoldReleaseNeedsApproval,
    NotFound,
    Refused,
    SelfApproval,
)
from bodycam_ingest.retention.state import chunks, current_cases


def station_today(now: datetime, zone: str) -> date:
    """The station's calendar date at ``now``: review dates are the station's dates."""
    return now.astimezone(ZoneInfo(zone)).date()


def review_overdue(hold: HoldRow, today: date) -> bool:
    return hold.released_at is None and hold.until is not None and hold.until < today


def target_of(hold: HoldRow) -> str:
    return (f"recording {hold.recording_id}" if hold.recording_id is not None
            else f"case {hold.case_number}")


def added_content(row: HoldRow) -> dict[str, JsonValue]:
    """What the ``hold_added`` entry vouches for."""
    return {"id": row.id, "recording_id": row.recording_id, "case_number": row.case_number,
            "reason": row.reason, "owner": row.owner,
            "until": row.until.isoformat() if row.until else None,
            "created_at": format_timestamp(row.created_at), "actor": row.actor}


def released_content(row: HoldRow) -> dict[str, JsonValue]:
    """What the ``hold_released`` entry vouches for."""
    return {"id": row.id,
            "released_at": format_timestamp(row.released_at) if row.released_at else None,
            "released_by": row.released_by, "release_reason": row.release_reason,
            "release_approved_by": row.release_approved_by}


def added_digest(row: HoldRow) -> str:
    return sha256_hex(canonical_json(added_content(row)))


def released_digest(row: HoldRow) -> str:
    return sha256_hex(canonical_json(released_content(row)))


def _add(session: Session, *, recording_id: int | None, case: str | None, reason: str,
         owner: str, until: date | None, acting: Acting, at: datetime) -> HoldRow:
    row = HoldRow(recording_id=recording_id, case_number=case, reason=reason, owner=owner,
                  until=until, created_at=at, actor=acting.actor)
    session.add(row)
    session.flush()
    record_event(session, at=at, actor=acting.actor, action="hold_added",
                 recording_id=recording_id, subject=case, reason=reason,
                 approved_by=acting.approved_by,
                 details={"hold_id": row.id, "owner": owner,
                          "until": until.isoformat() if until else None,
                          "hold_sha256": added_digest(row)})
    return row


def _check_add(reason: str, owner: str) -> None:
    missing = [flag for flag, value in (("--reason", reason), ("--owner", owner))
               if not value.strip()]
    if missing:
        raise Refused(reason=f"a hold needs {' and '.join(missing)}: who answers for it and why "
                      "are recorded with it")


def add_recording_holds(session: Session, recording_ids: Sequence[int], *, reason: str,
                        owner: str, until: date | None, acting: Acting,
                        at: datetime) -> list[HoldRow]:
    """One hold per recording (the caller checked they exist and are not deleted)."""
    _check_add(reason, owner)
    return [_add(session, recording_id=i, case=None, reason=reason, owner=owner, until=until,
                 acting=acting, at=at) for i in recording_ids]


def add_case_hold(session: Session, case: str, *, reason: str, owner: str, until: date | None,
                  acting: Acting, at: datetime) -> HoldRow:
    _check_add(reason, owner)
    if not case.strip():
        raise Refused(reason="--case needs a case number")
    return _add(session, recording_id=None, case=case, reason=reason, owner=owner, until=until,
                acting=acting, at=at)


def release(session: Session, hold_id: int, *, reason: str, approved_by: str | None,
            acting: Acting, at: datetime) -> HoldRow:
    """Release hold ``hold_id``: its owner with a reason, anyone else with an approver too."""
    row = session.get(HoldRow, hold_id)
    if row is None:
        raise NotFound(what="Hold", ident=hold_id, hint="List holds with: bodycam hold list --all")
    if row.released_at is not None:
        raise HoldAlreadyReleased(hold=hold_id, when=f"{row.released_at:%Y-%m-%d %H:%M}Z",
                                  who=row.released_by, reason=row.release_reason)
    if not reason.strip():
        raise Refused(reason="releasing a hold needs --reason TEXT")
    approver = (approved_by or "").strip() or None
    if acting.actor != row.owner:
        if approver is None:
            raise HoldReleaseNeedsApproval(hold=hold_id, owner=row.owner, actor=acting.actor)
        if approver == acting.actor:
            raise SelfApproval(who=acting.actor, what=f"release of hold {hold_id}")
    row.released_at, row.released_by = at, acting.actor
    row.release_reason, row.release_approved_by = reason, approver or acting.approved_by
    session.flush()
    record_event(session, at=at, actor=acting.actor, action="hold_released",
                 recording_id=row.recording_id, subject=row.case_number, reason=reason,
                 approved_by=row.release_approved_by,
                 details={"hold_id": row.id, "owner": row.owner,
                          "release_sha256": released_digest(row)})
    return row


def active_holds(session: Session, recording_ids: Sequence[int], cases: Sequence[str]
                 ) -> tuple[dict[int, list[HoldRow]], dict[str, list[HoldRow]]]:
    """Active holds on ``recording_ids`` and on ``cases``, by recording and by case (one query
    per 500 ids or cases)."""
    by_recording: dict[int, list[HoldRow]] = defaultdict(list)
    by_case: dict[str, list[HoldRow]] = defaultdict(list)
    for part in chunks(list(recording_ids)):
        for row in session.scalars(select(HoldRow).where(HoldRow.released_at.is_(None),
                                                         HoldRow.recording_id.in_(part))):
            if row.recording_id is not None:
                by_recording[row.recording_id].append(row)
    numbers = sorted(set(cases))
    for start in range(0, len(numbers), 500):
        for row in session.scalars(select(HoldRow).where(
                HoldRow.released_at.is_(None), HoldRow.case_number.in_(numbers[start:start + 500]))):
            if row.case_number is not None:
                by_case[row.case_number].append(row)
    return by_recording, by_case


def find_holds(session: Session, *, include_released: bool = False, case: str | None = None,
               recording_id: int | None = None) -> list[HoldRow]:
    """Holds, oldest first. ``case``: the holds on the case and on the recordings currently
    labelled with it; ``recording_id``: the holds on the recording and on its current case (the
    holds that keep it)."""
    from bodycam_ingest.retention.tiering import case_recordings

    query = select(HoldRow).order_by(HoldRow.id)
    if not include_released:
        query = query.where(HoldRow.released_at.is_(None))
    conditions: list[ColumnElement[bool]] = []
    if case is not None:
        conditions.append(HoldRow.case_number == case)
        ids = case_recordings(session, case)
        if ids:
            conditions.append(HoldRow.recording_id.in_(ids))
    if recording_id is not None:
        conditions.append(HoldRow.recording_id == recording_id)
        current = current_cases(session, [recording_id]).get(recording_id)
        if current is not None:
            conditions.append(HoldRow.case_number == current)
    if conditions:
        query = query.where(or_(*conditions))
    return list(session.scalars(query))
