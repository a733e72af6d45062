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

import heapq
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy import (
    case as sql_case,
)
from sqlalchemy.orm import Session

from bodycam_ingest.catalog import scope
from bodycam_ingest.catalog.custody_models import LabelRow
from bodycam_ingest.catalog.models import Recording, UTCDateTime
from bodycam_ingest.catalog.retention_models import CaseTierRow, HoldRow
from bodycam_ingest.retention.plan import candidate_start_cutoff
from bodycam_ingest.retention.policy import RetentionPolicy
from bodycam_ingest.retention.rules import CaseTier, Decision, Hold, RecordingState, decide_fields
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


# no name (NULL or empty) reads as standard, as the column's default
_TIERS: dict[str | None, Tier] = {None: Tier.STANDARD, "": Tier.STANDARD}
_TIERS.update((tier.value, tier) for tier in Tier)


def tier_of(name: str | None) -> Tier:
    # unreadable: keep (see the module docstring)
    return _TIERS.get(name, Tier.LONG_TERM)


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


def _due_outside(cutoffs: dict[Tier, datetime]) -> tuple[ColumnElement[bool], ...]:
    """SQL: a live recording with a stored ``due_since`` outside ``cutoffs``' ranges.

    Written so that SQLite walks ``ix_recordings_due_since`` (the few due rows) and not every
    live row of ``ix_recordings_retention``, which ``deleted_at IS NULL`` would pick: the ids
    come from the due index, and the liveness test is a CASE no index matches. (SQLAlchemy
    drops ``with_hint`` on SQLite, so an INDEXED BY hint is not rendered.)
    """
    live = sql_case((Recording.deleted_at.is_(None), 1), else_=0) == 1
    return (Recording.id.in_(select(Recording.id).where(Recording.due_since.is_not(None))
                             .scalar_subquery()), live, ~_in_range(cutoffs))


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
    due = select(*ROW_COLUMNS).where(*_due_outside(cutoffs))
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


# --------------------------------------------------------------------------- one snapshot, in id order
#
# ``plan`` reads, it never writes: it reads the whole plan in one read transaction (one snapshot)
# and walks the candidates in recording-id order with one query, so the recordings it deletes
# can be written out as they are decided (``retention.service.streamed_plan``). Holds and case
# tiers are loaded once (they are per legal matter, a few thousand at most, not per recording);
# the current case comes with each row from a correlated lookup on the label index.

_CURRENT_CASE = (select(LabelRow.case_number).where(LabelRow.recording_id == Recording.id)
                 .order_by(LabelRow.id.desc()).limit(1).correlate(Recording).scalar_subquery())
# datetimes as the driver returns them (SQLite: text), parsed by ``_utc``: SQLAlchemy's
# per-value regex parse was a tenth of a plan's time
_STREAM_COLUMNS = (Recording.id, Recording.tier, Recording.tier_reason,
                   type_coerce(Recording.clock_start, String), type_coerce(Recording.ingested_at, String),
                   type_coerce(Recording.due_since, String), Recording.fixity_ok,
                   type_coerce(Recording.deleted_at, String), _CURRENT_CASE)


def _utc(value: Any) -> datetime | None:
    """A naive-UTC column value (SQLite text or a driver datetime) as an aware UTC datetime,
    as ``UTCDateTime`` reads it."""
    if value is None:
        return None
    if isinstance(value, str):
        try:  # the zone in the text: 7x faster than .replace(tzinfo=UTC) afterwards
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:  # not the ORM's spelling (written by hand, with an offset)
            value = datetime.fromisoformat(value)
    moment: datetime = value.replace(tzinfo=UTC)
    return moment


@dataclass(frozen=True)
class Matters:
    """Every hold and every case tier, loaded once: what ``states_for`` loads per batch."""

    holds_by_recording: dict[int, tuple[Hold, ...]]
    holds_by_case: dict[str, tuple[Hold, ...]]
    case_tiers: dict[str, CaseTier]

    def state(self, raw: Any) -> RecordingState:
        """The state of one ``candidate_rows`` row (the same as ``states_for`` makes)."""
        rid, tier, reason, clock_start, ingested_at, due_since, fixity_ok, deleted_at, case = raw
        holds = self.holds_by_recording.get(rid, ())
        case_tiers: tuple[CaseTier, ...] = ()
        if case:
            holds = holds + self.holds_by_case.get(case, ())
            case_tier = self.case_tiers.get(case)
            if case_tier is not None:
                case_tiers = (case_tier,)
        ingested = _utc(ingested_at)
        assert ingested is not None  # NOT NULL
        return RecordingState(rid, tier_of(tier), reason, _utc(clock_start), ingested, holds,
                              _utc(due_since), fixity_ok, case_tiers, deleted_at is not None)

    def decider(self, policy: RetentionPolicy, now: datetime) -> Callable[[Any], Decision]:
        """``raw -> decide_unchecked(self.state(raw), policy, now)`` without the state (the same
        decision: ``rules.decide_fields``); ``now`` in UTC."""
        if now.tzinfo is not UTC:
            now = now.astimezone(UTC)
        by_recording, by_case, tiers = self.holds_by_recording, self.holds_by_case, self.case_tiers
        get_holds = by_recording.get
        parse = _utc
        from_iso = datetime.fromisoformat

        def decision(raw: Any) -> Decision:
            rid, tier, reason, clock_start, ingested_at, due_since, fixity_ok, deleted_at, case = raw
            holds = get_holds(rid, ())
            case_tiers: tuple[CaseTier, ...] = ()
            if case:
                holds = holds + by_case.get(case, ())
                case_tier = tiers.get(case)
                if case_tier is not None:
                    case_tiers = (case_tier,)
            ingested: datetime | None
            try:  # ``_utc`` inline for SQLite's text (three calls saved per candidate)
                ingested = from_iso(ingested_at + "+00:00")
                start = None if clock_start is None else from_iso(clock_start + "+00:00")
                due = None if due_since is None else from_iso(due_since + "+00:00")
            except (TypeError, ValueError):  # a driver's datetime, or text not in the ORM's form
                ingested, start, due = parse(ingested_at), parse(clock_start), parse(due_since)
            assert ingested is not None  # NOT NULL
            return decide_fields(rid, _TIERS.get(tier, Tier.LONG_TERM), reason, start, ingested,
                                 holds, due, fixity_ok, case_tiers, deleted_at is not None, policy,
                                 now)

        return decision


def load_matters(session: Session) -> Matters:
    by_recording: dict[int, list[Hold]] = defaultdict(list)
    by_case: dict[str, list[Hold]] = defaultdict(list)
    for hold_row in session.scalars(select(HoldRow).order_by(HoldRow.id)):
        if hold_row.recording_id is not None:
            by_recording[hold_row.recording_id].append(_hold(hold_row))
        elif hold_row.case_number is not None:
            by_case[hold_row.case_number].append(_hold(hold_row))
    tiers = {row.case_number: CaseTier(row.case_number, tier_of(row.tier), row.reason)
             for row in session.scalars(select(CaseTierRow))}
    return Matters({k: tuple(v) for k, v in by_recording.items()},
                   {k: tuple(v) for k, v in by_case.items()}, tiers)


def candidate_queries(cutoffs: dict[Tier, datetime], mine: Any, *,
                      with_case: bool = True) -> tuple[Any, Any]:
    """The plan's candidate query, the one place that says which rows a plan decides: (the
    rows in ``cutoffs``' ranges, by id; None when no tier has a range) and (the live rows with
    a stored ``due_since`` outside them, by id), both narrowed by ``mine`` (the station's
    recordings, ``scope.own``: these Core statements are not scoped by the ORM's filter).
    Without ``with_case`` the current case column is NULL (the caller knows the cases that
    matter: ``cases_that_matter``)."""
    columns = _STREAM_COLUMNS if with_case else (*_STREAM_COLUMNS[:-1], null())
    ranges = [select(*columns).where(mine, Recording.deleted_at.is_(None),
                                     Recording.tier == tier.value, Recording.clock_start <= cut)
              for tier, cut in cutoffs.items()]
    # a separate statement: a UNION ALL would make SQLite sort the due rows with the others
    due = select(*columns).where(mine, *_due_outside(cutoffs)).order_by(Recording.id)
    return (union_all(*ranges).order_by(literal_column("1")) if ranges else None), due


def _driver_rows(connection: Any, statement: Any) -> Iterator[tuple[Any, ...]]:
    """The rows of ``statement`` as the DB-API cursor gives them (tuples), not as Core rows.

    SQLAlchemy builds, compiles and binds the statement (so the station condition and the
    dialect's parameter processing apply as for any Core statement); the rows are read from its
    DB-API cursor, without the per-row wrapping and result processing of ``Row`` (a plan reads
    every candidate: that wrapping was a tenth of it). The columns must be ones the driver
    returns usable (``_STREAM_COLUMNS``: text datetimes are parsed by ``_utc``, a boolean is
    read by ``_flag``).
    """
    result = connection.execute(statement)
    cursor = result.cursor
    try:
        while True:
            rows = cursor.fetchmany(BATCH)
            if not rows:
                return
            yield from rows
    finally:
        result.close()


def _plain(raw: Any) -> tuple[Any, ...]:
    """A driver row of ``_STREAM_COLUMNS`` with its boolean read (``fixity_ok``)."""
    fixity = raw[6]
    if fixity is None or fixity is True or fixity is False:
        return tuple(raw)
    return (*raw[:6], bool(fixity), *raw[7:])


# The station condition of the candidate queries, written so that no index matches it
# (``station_id || ''``, the same value: the column is NOT NULL): on ``station_id = ?`` SQLite
# walks ``ix_recordings_station_id``, every row of the station in id order (no sort), instead of
# the candidate range of ``ix_recordings_retention`` and a sort of what it finds, which took half
# as long on 1,000,000 recordings (118,678 candidates: 0.53 s against 1.05-1.12 s of CPU).
_STATION_UNINDEXED = Recording.station_id.concat("")


def candidate_rows(session: Session, cutoffs: dict[Tier, datetime],
                   extra_ids: Sequence[int] = (), matters: Matters | None = None
                   ) -> Iterator[tuple[Any, ...]]:
    """In id order, as plain tuples of ``_STREAM_COLUMNS`` (``Matters.state`` or
    ``Matters.decider`` read them): the live recordings in ``cutoffs``' ranges, the live ones
    with a stored ``due_since`` outside them (as ``candidate_batches(include_due=True)``), and
    ``extra_ids`` that are neither (a plan's attention rows), each once. One query; the
    database sorts. Only the session's station's rows (``scope.own``). With ``matters`` the
    current case is looked up only for the recordings labelled into a case that has a hold or a
    tier (``cases_that_matter``), not per row in SQL: for any other recording it changes nothing
    (``Matters.state`` reads a case only for its holds and tier), and it is left None."""
    cases = cases_that_matter(session, matters) if matters is not None else None
    ranges, due = candidate_queries(cutoffs, scope.own(session, _STATION_UNINDEXED),
                                    with_case=cases is None)
    connection = session.connection()  # Core, read from the driver: rows stream
    due_rows = _driver_rows(connection, due)
    first_due = next(due_rows, None)  # usually none: then no merge (a call per row)
    rows: Iterator[Any] = iter(())
    if ranges is not None:
        rows = _driver_rows(connection, ranges)
    if first_due is not None:
        rows = heapq.merge(rows, itertools.chain([first_due], due_rows), key=_first)
    extra = iter(rows_by_id(session, extra_ids)) if extra_ids else iter(())
    pending = next(extra, None)
    for found in rows:
        while pending is not None and pending[0] < found[0]:
            yield pending
            pending = next(extra, None)
        if pending is not None and pending[0] == found[0]:
            pending = next(extra, None)
        row = found
        fixity = row[6]
        if fixity is not None and fixity is not True and fixity is not False:  # SQLite's 0/1
            row = (*row[:6], fixity != 0, *row[7:])
        if cases and row[0] in cases:
            row = (*row[:8], cases[row[0]])
        yield row
    while pending is not None:
        yield pending
        pending = next(extra, None)


def cases_that_matter(session: Session, matters: Matters) -> dict[int, str]:
    """Recording id -> its current case, for the recordings labelled (now or before) into a case
    that has a hold or a tier: the only current cases a decision reads (one query per ``BATCH``
    of such cases, then ``current_cases`` for the recordings found)."""
    wanted = sorted({*matters.holds_by_case, *matters.case_tiers})
    labelled: set[int] = set()
    connection = session.connection()
    for start in range(0, len(wanted), BATCH):
        part = wanted[start:start + BATCH]
        labelled.update(rid for (rid,) in connection.execute(
            select(LabelRow.recording_id).where(LabelRow.case_number.in_(part),
                                                scope.own(session, LabelRow.station_id))))
    current = current_cases(session, sorted(labelled))
    return {rid: case for rid, case in current.items() if case in wanted}


def candidate_states(session: Session, matters: Matters, cutoffs: dict[Tier, datetime],
                     extra_ids: Sequence[int] = ()) -> Iterator[RecordingState]:
    """The states of ``candidate_rows``, in id order."""
    return map(matters.state, candidate_rows(session, cutoffs, extra_ids))


def _first(row: Any) -> int:
    return int(row[0])


def live_count(session: Session) -> int:
    """The session's station's recordings that are not deleted, counted in SQL.

    On a catalog that holds only this station's rows (one station's own catalog: the usual case)
    the station condition is left out: ``deleted_at IS NULL`` alone is counted inside
    ``ix_recordings_retention``, where ``station_id = ? AND deleted_at IS NULL`` reads every row
    of the station from the table (1,000,000 recordings: 0.04 s against 0.23 s). Whether any
    other station's row is there is two index probes (``station_id`` below and above this one).
    """
    connection = session.connection()  # Core: the ORM's station filter is written by hand here
    station = scope.station_of(session)
    live: list[ColumnElement[bool]] = [Recording.deleted_at.is_(None)]
    if station is not None and connection.execute(
            select(literal(1)).where(or_(Recording.station_id < station,
                                         Recording.station_id > station)).limit(1)).first():
        live.append(Recording.station_id == station)  # a shared catalog: this station's only
    return int(connection.execute(select(func.count()).select_from(Recording).where(*live))
               .scalar_one())


def rows_by_id(session: Session, ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """The ``candidate_rows`` tuples of ``ids`` in the order given (missing ids are left out, and
    another station's), ``BATCH`` per query."""
    found_rows: list[tuple[Any, ...]] = []
    for part in chunks(ids):
        found = {raw[0]: _plain(raw) for raw in _driver_rows(session.connection(), select(
            *_STREAM_COLUMNS).where(Recording.id.in_(part),
                                    scope.own(session, Recording.station_id)))}
        found_rows.extend(found[i] for i in part if i in found)
    return found_rows


def states_by_id(session: Session, matters: Matters, ids: Sequence[int]) -> list[RecordingState]:
    """The states of ``ids`` in the order given (missing ids are left out), ``BATCH`` per query."""
    return [matters.state(raw) for raw in rows_by_id(session, ids)]
