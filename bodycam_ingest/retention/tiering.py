"""Setting retention tiers on recordings and on cases (``bodycam retain``), and reading them back.

The vocabulary and the two rules come from ``tiers``: raising a tier (or setting the same tier
with a new reason) needs only a valid reason (``tier_reason_problem``); lowering one shortens
retention, so it also needs an approver (``tier_change_requires_approval``): a four-eyes request
(access.requests) approved by another account, which then calls this code with the requester as
actor and the approver as ``approved_by``; "approved by myself" approves nothing.

Every change is one ``TierChange`` row (who, approver, reason, note, old and new tier, when) and
one custody-log entry, written in the caller's write transaction together with the change itself.
The entry carries the SHA-256 of the ``TierChange`` row's content (``change_digest``), so an edit
made later directly in the database no longer matches what the log vouched for (``hold_audit``).

A tier set on a case is stored once (``CaseTierRow``); it applies to every recording whose
*current* label names the case, including recordings labelled into it later. That is computed
when a decision is made (``state.current_cases``), never copied onto recordings here. A case that
no recording is labelled with yet may get a tier: labels often come after the decision to keep a
case's footage (the caller warns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.custody_models import LabelRow
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.catalog.retention_models import CaseTierRow, HoldRow, TierChange, Tombstone
from bodycam_ingest.custody.manifest import JsonValue, canonical_json, format_timestamp, sha256_hex
from bodycam_ingest.custody.roles import Acting
from bodycam_ingest.errors import (
    NotFound,
    RecordingDeleted,
    Refused,
    SelfApproval,
    TierLoweringNeedsApproval,
)
from bodycam_ingest.retention import holds as hold_service
from bodycam_ingest.retention.state import chunks, current_cases, tier_of
from bodycam_ingest.retention.tiers import (
    Tier,
    strongest,
    tier_change_requires_approval,
    tier_reason_problem,
)

# Short names for the ``keep`` column of ``bodycam list``.
SHORT = {Tier.STANDARD: "std", Tier.EVIDENCE: "evid", Tier.LONG_TERM: "LT"}


@dataclass(frozen=True)
class TierOutcome:
    """What ``retain`` did to one recording or case (``changed`` False: already so, nothing logged)."""

    target: str  # "recording 3" or "case X"
    recording_id: int | None
    case_number: str | None
    old: str | None
    new: str
    reason: str
    changed: bool
    change_id: int | None = None


def change_content(row: TierChange) -> dict[str, JsonValue]:
    """What the change's custody entry vouches for."""
    return {"id": row.id, "recording_id": row.recording_id, "case_number": row.case_number,
            "old_tier": row.old_tier, "new_tier": row.new_tier, "reason": row.reason,
            "note": row.note, "actor": row.actor, "approved_by": row.approved_by,
            "at": format_timestamp(row.at)}


def change_digest(row: TierChange) -> str:
    return sha256_hex(canonical_json(change_content(row)))


def check_change(target: str, old: Tier | None, new: Tier, *, reason: str, note: str | None,
                 actor: str, approved_by: str | None) -> None:
    """Refuse a change that lacks what the rules ask for (pure: no catalog, no clock).

    ``old`` None is a case without a tier, which is ``standard`` for every recording in it.
    """
    check_reason(target, new, reason=reason, note=note)
    if tier_change_requires_approval(old or Tier.STANDARD, new):
        if not (approved_by or "").strip():
            raise TierLoweringNeedsApproval(target=target, old=(old or Tier.STANDARD).value,
                                            new=new.value)
        if approved_by == actor:
            raise SelfApproval(who=actor, what=f"lowering of {target}")


def check_reason(target: str, new: Tier, *, reason: str, note: str | None) -> None:
    """The reason (and note) fit the new tier (pure)."""
    problem = tier_reason_problem(new, reason, note)
    if problem is not None:
        raise Refused(reason=f"{target}: {problem}")
    if not reason.strip():
        raise Refused(reason=f"{target}: give --reason TEXT (why the tier is set)")


def deleted_error(session: Session, recording: Recording) -> RecordingDeleted:
    """The error for acting on a deleted recording, naming the run that deleted it."""
    stone = session.scalar(select(Tombstone).where(Tombstone.recording_id == recording.id))
    when = recording.deleted_at or (stone.deleted_at if stone else None)
    return RecordingDeleted(ident=recording.id, run=stone.run_id if stone else "?",
                            when=f"{when:%Y-%m-%d}" if when else "?",
                            rule=stone.rule if stone else "no tombstone found")


def live_recordings(session: Session, ids: Sequence[int]) -> list[Recording]:
    """The recordings ``ids``, sorted; NotFound naming the missing ones, RecordingDeleted for a
    deleted one (a deleted recording's tier or hold would protect nothing)."""
    found: dict[int, Recording] = {}
    for part in chunks(sorted(set(ids))):
        found.update((r.id, r) for r in session.scalars(select(Recording)
                                                        .where(Recording.id.in_(part))))
    missing = sorted(set(ids) - set(found))
    if missing:
        raise NotFound(what="Recording" if len(missing) == 1 else "Recordings",
                       ident=missing[0] if len(missing) == 1 else " ".join(map(str, missing)),
                       hint="List recordings with: bodycam list")
    for recording in found.values():
        if recording.deleted_at is not None:
            raise deleted_error(session, recording)
    return [found[i] for i in sorted(found)]


def set_recording_tiers(session: Session, ids: Sequence[int], tier: Tier, *, reason: str,
                        note: str | None, acting: Acting, approved_by: str | None,
                        at: datetime) -> list[TierOutcome]:
    """Set the own tier of the recordings ``ids`` (all checked before any is written)."""
    recordings = live_recordings(session, ids)
    for recording in recordings:
        check_change(f"recording {recording.id}", tier_of(recording.tier), tier, reason=reason,
                     note=note, actor=acting.actor, approved_by=approved_by)
    outcomes: list[TierOutcome] = []
    for recording in recordings:
        old = recording.tier
        if old == tier.value and recording.tier_reason == reason and not note:
            outcomes.append(TierOutcome(f"recording {recording.id}", recording.id, None, old,
                                        tier.value, reason, changed=False))
            continue
        change = TierChange(recording_id=recording.id, old_tier=old, new_tier=tier.value,
                            reason=reason, note=note, actor=acting.actor,
                            approved_by=approved_by or acting.approved_by, at=at)
        session.add(change)
        session.flush()
        recording.tier, recording.tier_reason = tier.value, reason
        record_event(session, at=at, actor=acting.actor, action="retention_tier_set",
                     recording_id=recording.id, reason=reason, approved_by=change.approved_by,
                     details={"change_id": change.id, "old": old, "new": tier.value,
                              "note": note, "change_sha256": change_digest(change)})
        outcomes.append(TierOutcome(f"recording {recording.id}", recording.id, None, old,
                                    tier.value, reason, changed=True, change_id=change.id))
    return outcomes


def case_recordings(session: Session, case: str) -> list[int]:
    """Live recordings whose current label names ``case``."""
    labelled = sorted(set(session.scalars(select(LabelRow.recording_id)
                                          .where(LabelRow.case_number == case))))
    current = current_cases(session, labelled)
    live: set[int] = set()
    for part in chunks(labelled):
        live.update(session.scalars(select(Recording.id).where(Recording.id.in_(part),
                                                               Recording.deleted_at.is_(None))))
    return [i for i in labelled if current.get(i) == case and i in live]


def set_case_tier(session: Session, case: str, tier: Tier, *, reason: str, note: str | None,
                  acting: Acting, approved_by: str | None, at: datetime) -> TierOutcome:
    """Create or replace the tier of ``case`` (a case without one counts as ``standard``)."""
    if not case.strip():
        raise Refused(reason="--case needs a case number")
    row = session.scalar(select(CaseTierRow).where(CaseTierRow.case_number == case))
    old = row.tier if row is not None else None
    target = f"case {case}"
    check_change(target, tier_of(old) if old is not None else None, tier, reason=reason,
                 note=note, actor=acting.actor, approved_by=approved_by)
    unchanged = (row is not None and row.tier == tier.value and row.reason == reason
                 and not note) or (row is None and tier is Tier.STANDARD)
    if unchanged:
        return TierOutcome(target, None, case, old, tier.value, reason, changed=False)
    change = TierChange(case_number=case, old_tier=old, new_tier=tier.value, reason=reason,
                        note=note, actor=acting.actor,
                        approved_by=approved_by or acting.approved_by, at=at)
    session.add(change)
    session.flush()
    if row is None:
        session.add(CaseTierRow(case_number=case, tier=tier.value, reason=reason, note=note,
                                change_id=change.id))
    else:
        row.tier, row.reason, row.note, row.change_id = tier.value, reason, note, change.id
    record_event(session, at=at, actor=acting.actor, action="retention_case_tier_set",
                 subject=case, reason=reason, approved_by=change.approved_by,
                 details={"change_id": change.id, "old": old, "new": tier.value, "note": note,
                          "change_sha256": change_digest(change)})
    return TierOutcome(target, None, case, old, tier.value, reason, changed=True,
                       change_id=change.id)


# --------------------------------------------------------------------------- reading back


@dataclass(frozen=True)
class RetentionView:
    """One recording's retention as ``show`` and ``list`` present it."""

    own: Tier
    case_number: str | None
    case_tier: CaseTierRow | None
    effective: Tier
    holds: tuple[HoldRow, ...]  # active, on the recording or on its current case
    deleted: bool
    due: bool

    @property
    def keep(self) -> str:
        """The compact ``keep`` column: ``std``/``evid``/``LT``, ``H`` held, ``due``; ``deleted``."""
        if self.deleted:
            return "deleted"
        marks = [SHORT[self.effective]]
        if self.holds:
            marks.append("H")
        if self.due:
            marks.append("due")
        return " ".join(marks)

    def as_json(self) -> dict[str, JsonValue]:
        return {"effective_tier": self.effective.value, "case_number": self.case_number,
                "case_tier": self.case_tier.tier if self.case_tier else None,
                "held": bool(self.holds), "hold_ids": [h.id for h in self.holds],
                "keep": self.keep}


def views(session: Session, recordings: Sequence[Recording]) -> dict[int, RetentionView]:
    """Retention views of ``recordings`` with a fixed number of queries per 500 of them."""
    ids = [r.id for r in recordings]
    cases = current_cases(session, ids)
    numbers = sorted(set(cases.values()))
    case_tiers: dict[str, CaseTierRow] = {}
    for part in [numbers[i:i + 500] for i in range(0, len(numbers), 500)]:
        case_tiers.update((row.case_number, row) for row in session.scalars(
            select(CaseTierRow).where(CaseTierRow.case_number.in_(part))))
    by_recording, by_case = hold_service.active_holds(session, ids, numbers)
    result: dict[int, RetentionView] = {}
    for recording in recordings:
        case = cases.get(recording.id)
        case_tier = case_tiers.get(case) if case else None
        own = tier_of(recording.tier)
        effective = strongest([own, *([tier_of(case_tier.tier)] if case_tier else [])])
        holds = (*by_recording.get(recording.id, ()), *(by_case.get(case, ()) if case else ()))
        result[recording.id] = RetentionView(
            own=own, case_number=case, case_tier=case_tier, effective=effective,
            holds=tuple(sorted(holds, key=lambda h: h.id)),
            deleted=recording.deleted_at is not None, due=recording.due_since is not None)
    return result
