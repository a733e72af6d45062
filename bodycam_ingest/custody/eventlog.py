"""The custody log as stored in the catalog: locking its head, reading it back, checkpoints.

What an entry's digest covers is ``logfields.event_fields``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.custody_models import ChainHead, CheckpointRow
from bodycam_ingest.catalog.models import Event
from bodycam_ingest.custody import anchors
from bodycam_ingest.custody.chain import (
    GENESIS,
    Checkpoint,
    LogEntry,
    checkpoint_digest,
    make_checkpoint,
)
from bodycam_ingest.custody.logfields import event_fields
from bodycam_ingest.custody.manifest import JsonValue


def fields_of(row: Any) -> dict[str, JsonValue]:
    """An event's digested fields, from its ORM object or a row of ``ENTRY_COLUMNS``."""
    return event_fields(at=row.at, actor=row.actor, action=row.action, dock_id=row.dock_id,
                        recording_id=row.recording_id, subject=row.subject, reason=row.reason,
                        approved_by=row.approved_by, details=row.details)


def lock_head(session: Session) -> ChainHead:
    """The chain head, locked for the rest of the caller's write transaction.

    On SQLite the write transaction already holds the database's write lock (BEGIN IMMEDIATE);
    on PostgreSQL ``FOR UPDATE`` makes concurrent writers queue here. The row is created on
    first use (a catalog migrated empty has none). Each station has its own head (and chain):
    the session's station scope picks it (``catalog.scope``).
    """
    head = session.scalar(select(ChainHead).with_for_update())  # the station's own (scoped)
    if head is None:
        head = ChainHead(seq=0, digest=GENESIS)
        session.add(head)
        session.flush()
    return head


def entry_of(row: Any) -> LogEntry:
    """An event row (an ORM object, or a row of ``ENTRY_COLUMNS``) as a chain entry."""
    return LogEntry(seq=row.seq, prev_digest=row.prev_digest, fields=fields_of(row),
                    digest=row.digest)


# what an entry is made of, read as plain rows: a log of 20,000 entries builds no ORM objects
ENTRY_COLUMNS = (Event.seq, Event.prev_digest, Event.digest, Event.at, Event.actor, Event.action,
                 Event.dock_id, Event.recording_id, Event.subject, Event.reason,
                 Event.approved_by, Event.details)


def entries(session: Session, *, recording_ids: list[int] | None = None) -> list[LogEntry]:
    """The log in stored order (all of it, or the entries of some recordings), of the
    session's station (the scope applies to these column reads as to entities)."""
    query = select(*ENTRY_COLUMNS).order_by(Event.id)
    if recording_ids is not None:
        query = query.where(Event.recording_id.in_(recording_ids))
    return [entry_of(row) for row in session.execute(query)]


def checkpoint_of(row: CheckpointRow) -> Checkpoint:
    try:
        signature = bytes.fromhex(row.signature)
    except ValueError:
        signature = b""
    return Checkpoint(seq=row.seq, head_digest=row.head_digest, at=row.at, key_id=row.key_id,
                      signature=signature)


def checkpoints(session: Session) -> list[Checkpoint]:
    return [checkpoint_of(row) for row in
            session.scalars(select(CheckpointRow).order_by(CheckpointRow.id))]


def sign_checkpoint(session: Session, private_key: Ed25519PrivateKey, at: datetime,
                    directory: Path) -> Checkpoint | None:
    """Sign the log's current head in the caller's write transaction if it moved since the last
    checkpoint; None when nothing to sign.

    The head is read from the last event row itself, not from the head table: the signature must
    vouch for what an auditor will read. The checkpoint is chained to the last checkpoint file in
    ``directory`` and written there (``anchors``) before the caller commits its row. A station
    upgraded from before anchors first gets a file for each existing row; a file whose row a
    crash lost (between the file's rename and the commit) is taken back into the catalog.
    """
    lock_head(session)
    last = session.scalar(select(Event).order_by(Event.seq.desc()).limit(1))
    if last is None:
        return None
    if not directory.exists():
        anchors.backfill(directory, checkpoints(session))
    previous = anchors.latest(directory)
    signed = session.scalar(select(CheckpointRow.seq).order_by(CheckpointRow.id.desc()).limit(1))
    if previous is not None:
        _adopt(session, previous[1])
        signed = max(signed or 0, previous[1].seq)
    if signed is not None and signed >= last.seq:
        return None
    checkpoint = make_checkpoint(entry_of(last), at, private_key,
                                 None if previous is None else checkpoint_digest(previous[1]))
    anchors.write_checkpoint(directory, checkpoint)
    session.add(_row_of(checkpoint))
    return checkpoint


def _row_of(cp: Checkpoint) -> CheckpointRow:
    return CheckpointRow(seq=cp.seq, head_digest=cp.head_digest, at=cp.at, key_id=cp.key_id,
                         signature=cp.signature.hex())


def _adopt(session: Session, cp: Checkpoint) -> None:
    """Record the last checkpoint file's row if a crash lost it, when the log holds its head."""
    held = session.scalar(select(CheckpointRow.id).where(
        CheckpointRow.seq == cp.seq, CheckpointRow.signature == cp.signature.hex()).limit(1))
    if held is not None:
        return
    digest = session.scalar(select(Event.digest).where(Event.seq == cp.seq).limit(1))
    if digest == cp.head_digest:
        session.add(_row_of(cp))
        session.flush()


def details_of(row: Event) -> Mapping[str, object]:
    if not row.details:
        return {}
    try:
        value = json.loads(row.details)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
