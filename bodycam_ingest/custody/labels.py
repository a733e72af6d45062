"""Labels (case number 案号, party, officers, matter, location, note) that never overwrite.

Setting a label adds a row that supersedes the recording's current one (history kept, attributed),
and a ``label_set`` custody entry carrying the SHA-256 of the row's content: an edit made directly
in the database no longer matches the entry, and the audit names the label.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.custody_models import LabelRow
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.custody.manifest import JsonValue, canonical_json, format_timestamp, sha256_hex
from bodycam_ingest.custody.roles import Acting

PARTY_KINDS = ("person", "organisation")


@dataclass(frozen=True)
class Officer:
    name: str
    certificate: str | None = None

    @classmethod
    def parse(cls, text: str) -> Officer:
        """``NAME`` or ``NAME:CERTIFICATE`` (执法证号)."""
        name, _, cert = text.partition(":")
        if not name.strip():
            raise ValueError(f"officer {text!r} has no name; use NAME or NAME:CERTIFICATE")
        return cls(name.strip(), cert.strip() or None)


@dataclass(frozen=True)
class LabelChange:
    """What to set; ``None`` keeps the current value (a change supersedes, never erases)."""

    case_number: str | None = None
    party: str | None = None
    party_kind: str | None = None
    officers: tuple[Officer, ...] | None = None
    matter: str | None = None
    location: str | None = None
    note: str | None = None


def content(row: LabelRow) -> dict[str, JsonValue]:
    """What the label's custody entry vouches for."""
    return {"id": row.id, "recording_id": row.recording_id, "supersedes_id": row.supersedes_id,
            "case_number": row.case_number, "party": row.party, "party_kind": row.party_kind,
            "officers": row.officers, "matter": row.matter, "location": row.location,
            "note": row.note, "created_at": format_timestamp(row.created_at), "actor": row.actor,
            "approved_by": row.approved_by, "reason": row.reason}


def digest(row: LabelRow) -> str:
    return sha256_hex(canonical_json(content(row)))


def current(session: Session, recording_id: int) -> LabelRow | None:
    return session.scalar(select(LabelRow).where(LabelRow.recording_id == recording_id)
                          .order_by(LabelRow.id.desc()).limit(1))


def history(session: Session, recording_id: int) -> list[LabelRow]:
    return list(session.scalars(select(LabelRow).where(LabelRow.recording_id == recording_id)
                                .order_by(LabelRow.id)))


def officers_of(row: LabelRow) -> list[dict[str, str | None]]:
    if not row.officers:
        return []
    value = json.loads(row.officers)
    return value if isinstance(value, list) else []


def set_label(session: Session, recording_id: int, change: LabelChange, *, acting: Acting,
              reason: str | None, at: datetime) -> LabelRow:
    """Add the recording's new label (in the caller's write transaction) and its custody entry."""
    before = current(session, recording_id)

    def pick(name: str) -> str | None:
        value = getattr(change, name)
        if value is not None:
            return str(value) if value != "" else None
        return getattr(before, name) if before is not None else None

    officers: str | None
    if change.officers is not None:
        officers = json.dumps([{"name": o.name, "certificate": o.certificate}
                               for o in change.officers], ensure_ascii=False)
    else:
        officers = before.officers if before is not None else None
    row = LabelRow(recording_id=recording_id, supersedes_id=before.id if before else None,
                   case_number=pick("case_number"), party=pick("party"),
                   party_kind=pick("party_kind"), officers=officers, matter=pick("matter"),
                   location=pick("location"), note=pick("note"), created_at=at,
                   actor=acting.actor, approved_by=acting.approved_by, reason=reason)
    session.add(row)
    session.flush()
    record_event(session, at=at, actor=acting.actor, action="label_set",
                 recording_id=recording_id, subject=row.case_number, reason=reason,
                 approved_by=acting.approved_by,
                 details={"label_id": row.id, "supersedes": row.supersedes_id,
                          "label_sha256": digest(row)})
    return row
