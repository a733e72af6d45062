"""The custody log as stored in the catalog: locking its head, reading it back, checkpoints.

What an entry's digest covers is ``logfields.event_fields``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.custody_models import ChainHead, CheckpointRow
from bodycam_ingest.catalog.models import Event
from bodycam_ingest.custody.chain import GENESIS, Checkpoint, LogEntry, make_checkpoint
from bodycam_ingest.custody.logfields import event_fields
from bodycam_ingest.custody.manifest import JsonValue

HEAD_ID = 1


def fields_of(row: Event) -> dict[str, JsonValue]:
    return event_fields(at=row.at, actor=row.actor, action=row.action, dock_id=row.dock_id,
                        recording_id=row.recording_id, subject=row.subject, reason=row.reason,
                        approved_by=row.approved_by, details=row.details)


def lock_head(session: Session) -> ChainHead:
    """The chain head, locked for the rest of the caller's write transaction.

    On SQLite the write transaction already holds the database's write lock (BEGIN IMMEDIATE);
    on PostgreSQL ``FOR UPDATE`` makes concurrent writers queue here. The row is created on
    first use (a catalog migrated empty has none).
    """
    head = session.scalar(select(ChainHead).where(ChainHead.id == HEAD_ID).with_for_update())
    if head is None:
        head = ChainHead(id=HEAD_ID, seq=0, digest=GENESIS)
        session.add(head)
        session.flush()
    return head


def entry_of(row: Event) -> LogEntry:
    return LogEntry(seq=row.seq, prev_digest=row.prev_digest, fields=fields_of(row),
                    digest=row.digest)


def entries(session: Session, *, recording_ids: list[int] | None = None) -> list[LogEntry]:
    """The log in stored order (all of it, or the entries of some recordings)."""
    query = select(Event).order_by(Event.id)
    if recording_ids is not None:
        query = query.where(Event.recording_id.in_(recording_ids))
    return [entry_of(row) for row in session.scalars(query)]


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
                    *, only_if_moved: bool = True) -> Checkpoint | None:
    """Sign the log's current head in the caller's write transaction; None when nothing to sign.

    The head is read from the last event row itself, not from the head table: the signature must
    vouch for what an auditor will read.
    """
    lock_head(session)
    last = session.scalar(select(Event).order_by(Event.seq.desc()).limit(1))
    if last is None:
        return None
    if only_if_moved:
        signed = session.scalar(select(CheckpointRow.seq).order_by(CheckpointRow.id.desc()).limit(1))
        if signed is not None and signed >= last.seq:
            return None
    checkpoint = make_checkpoint(entry_of(last), at, private_key)
    session.add(CheckpointRow(seq=checkpoint.seq, head_digest=checkpoint.head_digest,
                              at=checkpoint.at, key_id=checkpoint.key_id,
                              signature=checkpoint.signature.hex()))
    return checkpoint


def details_of(row: Event) -> Mapping[str, object]:
    if not row.details:
        return {}
    try:
        value = json.loads(row.details)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
