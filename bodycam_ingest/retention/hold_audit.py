"""Audit section 'holds' (issue 5): tiers and legal holds as the rules and the custody log say.

Findings (an auditor must see them as wrong):

* a recording or case whose tier's reason is not valid for it (``tiers.tier_reason_problem``:
  ``long_term`` without a dispute reason of R2, ``dispute:other`` without a note, ``evidence``
  without a reason), or whose tier name is unknown;
* a ``TierChange`` that lowered a tier without ``approved_by`` (the CLI refuses that, so someone
  wrote it around bodycam);
* a recording's tier (or a case's tier row) that is not what its newest ``TierChange`` set, a
  non-standard tier with no change at all, or a case tier row that has disappeared: the catalog
  was edited directly;
* a ``TierChange`` or hold whose content differs from what its custody entry vouched for
  (``change_sha256``, ``hold_sha256``, ``release_sha256``);
* a hold released without a release reason.

Notes (not findings): holds whose review date has passed, and tier changes or holds with no
custody entry at all (written by a tool other than bodycam: they are counted so that an auditor
can ask, but rows that only add protection are not wrong in themselves; lowering without an
approver and tampering with a logged row are findings above).

Queries select the rows concerned in SQL (non-standard tiers, changes, holds, the four custody
actions); nothing walks the recordings table in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.models import Event, Recording
from bodycam_ingest.catalog.retention_models import CaseTierRow, HoldRow, TierChange
from bodycam_ingest.custody.eventlog import details_of
from bodycam_ingest.retention import holds
from bodycam_ingest.retention.tiering import change_digest
from bodycam_ingest.retention.tiers import (
    Tier,
    parse_tier,
    tier_change_requires_approval,
    tier_reason_problem,
)

if TYPE_CHECKING:
    from bodycam_ingest.custody.audit import AuditInputs, AuditReport

SECTION = 'holds'
ACTIONS = ("retention_tier_set", "retention_case_tier_set", "hold_added", "hold_released")


def _tier(name: str | None) -> Tier | None:
    try:
        return parse_tier(name) if name is not None else None
    except ValueError:
        return None


def _vouchers(session: Session) -> dict[tuple[str, int], tuple[int, str]]:
    """(kind, row id) -> (entry seq, digest) for every tier/hold custody entry."""
    found: dict[tuple[str, int], tuple[int, str]] = {}
    for event in session.scalars(select(Event).where(Event.action.in_(ACTIONS))):
        details = details_of(event)
        for kind, id_key, digest_key in (("change", "change_id", "change_sha256"),
                                         ("hold", "hold_id", "hold_sha256"),
                                         ("release", "hold_id", "release_sha256")):
            ident, digest = details.get(id_key), details.get(digest_key)
            if isinstance(ident, int) and isinstance(digest, str):
                found[(kind, ident)] = (event.seq, digest)
    return found


def _check_changes(session: Session, vouched: Mapping[tuple[str, int], tuple[int, str]],
                   report: AuditReport) -> tuple[dict[int, TierChange], dict[str, TierChange], int]:
    """Each change: approval when lowering, custody entry. Returns the newest change per
    recording and per case, and how many changes have no custody entry."""
    newest_recording: dict[int, TierChange] = {}
    newest_case: dict[str, TierChange] = {}
    unvouched = 0
    for change in session.scalars(select(TierChange).order_by(TierChange.id)):
        name = f"tier change {change.id} of " + (f"recording {change.recording_id}"
                                                 if change.recording_id is not None
                                                 else f"case {change.case_number}")
        old, new = _tier(change.old_tier), _tier(change.new_tier)
        if new is None or (change.old_tier is not None and old is None):
            report.add(SECTION, name, f"names an unknown tier ({change.old_tier} -> "
                       f"{change.new_tier}): it was written outside bodycam")
        elif (tier_change_requires_approval(old or Tier.STANDARD, new)
              and not (change.approved_by or "").strip()):
            report.add(SECTION, name, f"lowered the tier from {old} to {new} without an approver "
                       f"(by {change.actor} at {change.at:%Y-%m-%d %H:%M}Z): bodycam refuses "
                       "that, so it was written around it; have the decision approved and "
                       "recorded, or restore the tier")
        entry = vouched.get(("change", change.id))
        if entry is None:
            unvouched += 1
        elif entry[1] != change_digest(change):
            report.add(SECTION, name, f"differs from what custody entry {entry[0]} recorded: it "
                       "was changed outside bodycam")
        if change.recording_id is not None:
            newest_recording[change.recording_id] = change
        elif change.case_number is not None:
            newest_case[change.case_number] = change
    return newest_recording, newest_case, unvouched


def _check_recordings(session: Session, newest: Mapping[int, TierChange],
                      report: AuditReport) -> None:
    """A recording's tier must be what its newest change set, with a valid reason."""
    changed = list(newest)
    query = select(Recording.id, Recording.tier, Recording.tier_reason).where(
        Recording.tier != Tier.STANDARD.value)
    rows = {rid: (tier, reason) for rid, tier, reason in session.execute(query)}
    for start in range(0, len(changed), 500):  # recordings set back to standard by a change
        part = changed[start:start + 500]
        rows.update((rid, (tier, reason)) for rid, tier, reason in session.execute(
            select(Recording.id, Recording.tier, Recording.tier_reason)
            .where(Recording.id.in_(part))))
    for rid in sorted(rows):
        tier_name, reason = rows[rid]
        name = f"recording {rid}"
        change = newest.get(rid)
        if change is None:
            report.add(SECTION, name, f"has tier {tier_name} but no tier change records who set "
                       "it: it was set outside bodycam")
        elif change.new_tier != tier_name or (change.reason or None) != (reason or None):
            report.add(SECTION, name, f"has tier {tier_name} ({reason}), but its newest tier "
                       f"change ({change.id}) set {change.new_tier} ({change.reason}): the "
                       "catalog was edited directly")
        tier = _tier(tier_name)
        if tier is None:
            report.add(SECTION, name, f"has an unknown tier {tier_name!r}")
            continue
        problem = tier_reason_problem(tier, reason, change.note if change else None)
        if problem is not None:
            report.add(SECTION, name, f"{problem}; set a valid reason with bodycam retain")


def _check_cases(session: Session, newest: Mapping[str, TierChange], report: AuditReport) -> None:
    rows = {row.case_number: row for row in session.scalars(select(CaseTierRow))}
    for case in sorted(set(rows) | set(newest)):
        name = f"case {case}"
        row, change = rows.get(case), newest.get(case)
        if row is None:
            report.add(SECTION, name, f"tier change {change.id if change else '?'} set its tier "
                       f"to {change.new_tier if change else '?'}, but the case has no tier row: "
                       "it was deleted outside bodycam")
            continue
        if change is None or row.change_id != change.id or row.tier != change.new_tier \
                or (row.reason or None) != (change.reason or None):
            report.add(SECTION, name, f"its tier {row.tier} ({row.reason}) is not what its newest "
                       f"tier change ({change.id if change else 'none'}) set: the catalog was "
                       "edited directly")
        tier = _tier(row.tier)
        if tier is None:
            report.add(SECTION, name, f"has an unknown tier {row.tier!r}")
            continue
        problem = tier_reason_problem(tier, row.reason, row.note)
        if problem is not None:
            report.add(SECTION, name, f"{problem}; set a valid reason with bodycam retain --case")


def check(session: Session, inputs: AuditInputs, keyring: Mapping[str, Ed25519PublicKey],
          report: AuditReport) -> None:
    """Add every problem of this section to ``report`` (``report.checked[SECTION]`` counts the
    active holds)."""
    vouched = _vouchers(session)
    newest_recording, newest_case, unvouched_changes = _check_changes(session, vouched, report)
    _check_recordings(session, newest_recording, report)
    _check_cases(session, newest_case, report)
    # The audit has no clock input: review dates are compared with the newest custody entry's
    # UTC date (the station's latest activity), which never runs ahead of the station's clock.
    latest = session.scalar(select(func.max(Event.at)))
    unvouched_holds = 0
    overdue: list[str] = []
    for hold in session.scalars(select(HoldRow).order_by(HoldRow.id)):
        name = f"hold {hold.id} on {holds.target_of(hold)}"
        if hold.released_at is None:
            report.checked[SECTION] += 1
            if hold.until is not None and latest is not None and hold.until < latest.date():
                overdue.append(f"{name}, owner {hold.owner}, review date {hold.until} passed: "
                               "review it")
        elif not (hold.release_reason or "").strip():
            report.add(SECTION, name, f"was released by {hold.released_by} at "
                       f"{hold.released_at:%Y-%m-%d %H:%M}Z without a reason: bodycam refuses "
                       "that, so it was written around it")
        for kind, digest in (("hold", holds.added_digest(hold)),
                             *((("release", holds.released_digest(hold)),)
                               if hold.released_at is not None else ())):
            entry = vouched.get((kind, hold.id))
            if entry is None:
                unvouched_holds += 1
            elif entry[1] != digest:
                report.add(SECTION, name, f"differs from what custody entry {entry[0]} recorded "
                           f"when it was {'added' if kind == 'hold' else 'released'}: it was "
                           "changed outside bodycam")
    report.notes.extend(overdue)
    if unvouched_changes or unvouched_holds:
        report.notes.append(f"holds: {unvouched_changes} tier change(s) and {unvouched_holds} "
                            "hold addition(s)/release(s) have no custody entry (written by a tool "
                            "other than bodycam retain/hold); ask who wrote them")

