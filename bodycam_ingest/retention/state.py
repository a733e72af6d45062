"""Catalog rows -> ``rules.RecordingState``: what the pure decision needs, loaded in batches.

A sweep or a plan looks at thousands of recordings; this module turns a batch of recording rows
into states with a fixed number of queries per batch (the batch's current cases, the tiers of
those cases, the holds on the recordings or on those cases), never one query per recording.
Batches are at most ``BATCH`` ids, so every ``IN`` list stays well below SQLite's variable limit.

Mapping choices
---------------
* ``recording_end`` is ``Recording.clock_start`` (the later of the recording's end and its
  ingest, kept by the ORM listener), so ``RecordingState.clock_start`` equals the catalog's and
  the SQL pre-selection (``plan.candidate_start_cutoff`` on ``clock_start``) and the decision
  agree on where the period starts. A row without one (written outside the ORM) counts from its
  ingest, which is what the listener would have stored for an unreadable recording.
* A hold applies when it is on the recording itself or on its *current* case (the case number of
  its newest label, ``queries.current_case``); released holds are loaded too, because a release
  restarts the grace period (rule 6 of ``rules``).
* An unknown tier name in the catalog is read as ``long_term``: a row nobody can interpret is
  kept, never deleted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.custody_models import LabelRow
from bodycam_ingest.catalog.models import Recording, UTCDateTime
from bodycam_ingest.catalog.retention_models import CaseTierRow, HoldRow
from bodycam_ingest.retention.plan import candidate_start_cutoff
from bodycam_ingest.retention.policy import RetentionPolicy
from bodycam_ingest.retention.rules import CaseTier, Hold, RecordingState
from bodycam_ingest.retention.tiers import Tier

BATCH = 500

# The columns a decision needs, in the order ``RecordingRow`` takes them.
ROW_COLUMNS = (Recording.id, Recording.tier, Recording.tier_reason, Recording.clock_start,
               Recording.ingested_at, Recording.due_since, Recording.fixity_ok,
               Recording.deleted_at)


@dataclass(frozen=True)
class RecordingRow:
    """The retention columns of one ``recordings`` row (a lightweight select, no ORM object)."""

    id: int
    tier: str
    tier_reason: str | None
    clock_start: datetime | None
    ingested_at: datetime
    due_since: datetime | None
    fixity_ok: bool | None
    deleted_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> RecordingRow:
        return cls(*row)


def tier_of(name: str | None) -> Tier:
    try:
        return Tier(name or Tier.STANDARD.value)
    except ValueError:
        return Tier.LONG_TERM  # unreadable: keep (see the module docstring)


def chunks(items: Sequence[int], size: int = BATCH) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def current_cases(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """Recording id -> case number of its newest label, for the recordings that have one.

    The same answer as ``queries.current_case()`` restricted to ``ids``, written so that the
    ``IN`` list filters the label table before grouping (the index on ``recording_id``).
    """
    cases: dict[int, str] = {}
    for part in chunks(ids):
        newest = (select(func.max(LabelRow.id)).where(LabelRow.recording_id.in_(part))
                  .group_by(LabelRow.recording_id))
        for recording_id, case in session.execute(
                select(LabelRow.recording_id, LabelRow.case_number).where(LabelRow.id.in_(newest))):
            if case:
                cases[recording_id] = case
    return cases


def _hold(row: HoldRow) -> Hold:
    return Hold(id=row.id, reason=row.reason, owner=row.owner, until=row.until,
                released_at=row.released_at)


def states_for(session: Session, rows: Sequence[RecordingRow]) -> list[RecordingState]:
    """The states of ``rows`` (at most ``BATCH`` is best), in the same order."""
    if len(rows) > BATCH:
        return [state for part in _row_chunks(rows) for state in states_for(session, part)]
    ids = [row.id for row in rows]
    if not ids:
        return []
    cases = current_cases(session, ids)
    case_numbers = sorted(set(cases.values()))
    case_tiers: dict[str, CaseTier] = {}
    if case_numbers:
        for tier_row in session.scalars(select(CaseTierRow).where(
                CaseTierRow.case_number.in_(case_numbers))):
            case_tiers[tier_row.case_number] = CaseTier(tier_row.case_number, tier_of(tier_row.tier),
                                                       tier_row.reason)
    by_recording: dict[int, list[Hold]] = defaultdict(list)
    by_case: dict[str, list[Hold]] = defaultdict(list)
    condition: ColumnElement[bool] = HoldRow.recording_id.in_(ids)
    if case_numbers:
        condition = or_(condition, HoldRow.case_number.in_(case_numbers))
    for hold_row in session.scalars(select(HoldRow).where(condition).order_by(HoldRow.id)):
        if hold_row.recording_id is not None:
            by_recording[hold_row.recording_id].append(_hold(hold_row))
        elif hold_row.case_number is not None:
            by_case[hold_row.case_number].append(_hold(hold_row))
    states: list[RecordingState] = []
    for row in rows:
        case = cases.get(row.id)
        holds = [*by_recording.get(row.id, ()), *(by_case.get(case, ()) if case else ())]
        states.append(RecordingState(
            id=row.id, tier=tier_of(row.tier), tier_reason=row.tier_reason,
            recording_end=row.clock_start, ingested_at=row.ingested_at, holds=tuple(holds),
            due_since=row.due_since, fixity_ok=row.fixity_ok,
            case_tiers=(case_tiers[case],) if case in case_tiers else (),
            deleted=row.deleted_at is not None))
    return states


def _row_chunks(rows: Sequence[RecordingRow]) -> Iterator[Sequence[RecordingRow]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start:start + BATCH]


def load_rows(session: Session, ids: Iterable[int]) -> list[RecordingRow]:
    """The retention columns of the recordings ``ids`` (missing ids are left out), by id."""
    wanted = sorted(set(ids))
    rows: list[RecordingRow] = []
    for part in chunks(wanted):
        rows.extend(RecordingRow.of(r) for r in session.execute(
            select(*ROW_COLUMNS).where(Recording.id.in_(part)).order_by(Recording.id)))
    return rows


def load_states(session: Session, ids: Iterable[int]) -> list[RecordingState]:
    """The states of the recordings ``ids``, by id (``BATCH`` ids per query)."""
    return states_for(session, load_rows(session, ids))


# --------------------------------------------------------------------------- candidate selection


def tier_cutoffs(policy: RetentionPolicy, now: datetime, horizon_days: int = 0) -> dict[Tier, datetime]:
    """Own tier -> latest clock start that can be deletable by ``now + horizon_days``.

    ``long_term`` and permanent tiers are absent: no recording of that own tier can be.
    """
    cutoffs: dict[Tier, datetime] = {}
    for tier in (Tier.STANDARD, Tier.EVIDENCE):
        cut = candidate_start_cutoff(policy, tier, now, horizon_days)
        if cut is not None:
            cutoffs[tier] = cut
    return cutoffs


def _in_range(cutoffs: dict[Tier, datetime]) -> ColumnElement[bool]:
    """SQL: a live recording whose own tier and clock start put it in ``cutoffs``' range."""
    if not cutoffs:
        return false()
    return or_(*(and_(Recording.tier == tier.value, Recording.clock_start <= cut)
                 for tier, cut in cutoffs.items()))


def candidate_batches(session_factory: Callable[[], AbstractContextManager[Session]],
                      cutoffs: dict[Tier, datetime], *, include_due: bool,
                      batch: int = BATCH) -> Iterator[list[RecordingRow]]:
    """Batches of the live recordings a sweep or a plan must decide, selected in SQL.

    1. per own tier in ``cutoffs``: ``deleted_at IS NULL AND tier = ? AND clock_start <= cutoff``,
       walked on the index ``ix_recordings_retention`` with a keyset on ``(clock_start, id)``;
    2. with ``include_due``: live recordings with a stored ``due_since`` that are outside those
       ranges (their due mark may have to be cleared: a tier raised, a policy lengthened).

    Each batch is read in its own short session from ``session_factory`` (the caller may write
    between batches); a keyset, not an offset, so rows changed meanwhile are neither skipped nor
    seen twice. Memory: one batch.
    """
    for tier, cut in cutoffs.items():
        yield from _keyset_batches(
            session_factory, select(*ROW_COLUMNS).where(Recording.deleted_at.is_(None),
                                                        Recording.tier == tier.value,
                                                        Recording.clock_start <= cut),
            Recording.clock_start, lambda row: row.clock_start, batch)
    if not include_due:
        return
    due = (select(*ROW_COLUMNS)
           .where(Recording.due_since.is_not(None), Recording.deleted_at.is_(None),
                  ~_in_range(cutoffs))
           # SQLite would otherwise walk every live row of ix_recordings_retention
           .with_hint(Recording, "INDEXED BY ix_recordings_due_since", "sqlite"))
    yield from _keyset_batches(session_factory, due, Recording.due_since,
                               lambda row: row.due_since, batch)


def _keyset_batches(session_factory: Callable[[], AbstractContextManager[Session]],
                    base: Any, key: Any, key_of: Callable[[RecordingRow], datetime | None],
                    batch: int) -> Iterator[list[RecordingRow]]:
    """``base`` in batches ordered by ``(key, id)``, each starting after the previous batch's
    last row (a keyset: rows changed between batches are neither skipped nor seen twice)."""
    last: tuple[datetime, int] | None = None
    while True:
        query = base
        if last is not None:
            query = query.where(tuple_(key, Recording.id)
                                > tuple_(literal(last[0], UTCDateTime()), literal(last[1])))
        with session_factory() as session:
            rows = [RecordingRow.of(r) for r in
                    session.execute(query.order_by(key, Recording.id).limit(batch))]
        if not rows:
            return
        yield rows
        moment = key_of(rows[-1])
        assert moment is not None  # the query selects only rows whose key is set
        last = (moment, rows[-1].id)
        if len(rows) < batch:
            return
