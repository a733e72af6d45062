"""Signed deletion manifests: one per retention run that deleted something, chained like dock
manifests, so that what was destroyed, when, why and under which policy can be proven for ever.

Files, in ``<manifest dir>/deletions/`` for run R of station S::

    S-deletion-R.json   canonical JSON bytes (RFC 8785, ``custody.manifest.canonical_json``)
    S-deletion-R.sig    detached raw Ed25519 signature (64 bytes) over exactly those bytes:
                        openssl pkeyutl -verify -pubin -inkey station.pub -rawin \\
                            -in S-deletion-R.json -sigfile S-deletion-R.sig

The manifest holds ``format`` ("bodycam-deletion-manifest/1"), the station id, the run id, when
it was signed, who ran the job, the policy the run applied (and its digest), the digest of the
previous deletion manifest (``previous_manifest_sha256``: the chain), the custody log's head when
it was signed (``custody_log_head``: ``{"seq", "sha256"}``, an anchor the audit checks the log
against; absent from manifests signed before anchors) and one entry per tombstone,
sorted by recording id. Each file is written atomically before the transaction that records the
manifest, links its tombstones and logs ``deletion_manifest_signed`` commits; the chain position
is taken with the custody-log head locked, so two signers never chain to the same manifest.

A manifest of a large run is built entry by entry (each entry canonicalised on its own and
spliced into the top-level object), so the peak is the manifest's bytes, not a tree of objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bodycam_ingest.catalog import scope
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.retention_models import (
    DeletionManifestRow,
    PolicyApproval,
    RetentionRun,
    Tombstone,
)
from bodycam_ingest.custody import anchors, keys
from bodycam_ingest.custody.dockmanifest import log_head
from bodycam_ingest.custody.eventlog import lock_head
from bodycam_ingest.custody.files import write_atomic
from bodycam_ingest.custody.manifest import (
    JsonValue,
    canonical_json,
    format_timestamp,
    load_strict_json,
    sha256_hex,
)

FORMAT = "bodycam-deletion-manifest/1"
DIRECTORY = "deletions"
SUFFIXES = (".json", ".sig")
_ENTRIES_PLACEHOLDER = b'"entries":[]'
_PAGE = 1000


def file_stem(station_id: str, run_id: int) -> str:
    return f"{station_id}-deletion-{run_id}"


def directory_of(manifest_dir: Path) -> Path:
    return manifest_dir / DIRECTORY


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


def entry_json(tombstone: Any) -> dict[str, JsonValue]:
    """What the manifest says about one deleted recording (a ``Tombstone`` or a row of its
    columns): every field of its tombstone but the run (the manifest's) and the manifest link."""
    return {
        "recording_id": tombstone.recording_id,
        "sha256": tombstone.sha256,
        "size": tombstone.size,
        "camera_path": tombstone.camera_path,
        "device": tombstone.device_key,
        "officer": tombstone.officer,
        "case": tombstone.case_number,
        "recording_start": _time(tombstone.recording_start),
        "ingested_at": _time(tombstone.ingested_at),
        "clock_start": _time(tombstone.clock_start),
        "expired_at": _time(tombstone.expired_at),
        "due_since": _time(tombstone.due_since),
        "deleted_at": _time(tombstone.deleted_at),
        "tier": tombstone.tier,
        "rule": tombstone.rule,
        "policy_digest": tombstone.policy_digest,
        "actor": tombstone.actor,
    }


def manifest_bytes(header: dict[str, JsonValue], entries: Iterator[bytes]) -> bytes:
    """``canonical_json({**header, "entries": [...]})`` where each entry is already canonical,
    built in one growing buffer (at most two copies of the manifest in memory, not three).

    Splicing is exact: the bytes ``"entries":[]`` can only be the key itself, because a quote
    inside a JSON string is always escaped.
    """
    skeleton = canonical_json({**header, "entries": []})
    before, found, after = skeleton.partition(_ENTRIES_PLACEHOLDER)
    assert found, "the canonical skeleton has an entries key"
    data = bytearray(before)
    data += b'"entries":['
    for index, entry in enumerate(entries):
        if index:
            data += b","
        data += entry
    data += b"]"
    data += after
    return bytes(data)


def tombstone_rows(session: Session, run_id: int, *, only_pending: bool) -> Iterator[Any]:
    """The run's tombstones as plain rows (no ORM identity map: a run may delete 100,000)."""
    last = 0
    while True:
        query = select(*Tombstone.__table__.columns).where(  # Core columns: scoped by hand
            Tombstone.run_id == run_id, Tombstone.recording_id > last,
            Tombstone.station_id == scope.station_of(session))
        if only_pending:
            query = query.where(Tombstone.manifest_id.is_(None))
        page = list(session.execute(query.order_by(Tombstone.recording_id).limit(_PAGE)))
        if not page:
            return
        yield from page
        last = page[-1].recording_id
        if len(page) < _PAGE:
            return


def pending_runs(session: Session) -> list[int]:
    """Runs with tombstones not yet in a signed manifest (a crash, or no key at the time)."""
    return list(session.scalars(select(Tombstone.run_id).where(Tombstone.manifest_id.is_(None))
                                .distinct().order_by(Tombstone.run_id)))


def sign_run(session: Session, *, manifest_dir: Path, station_id: str, run_id: int,
             private_key: Ed25519PrivateKey, now: datetime) -> DeletionManifestRow | None:
    """Sign run ``run_id``'s pending tombstones in the caller's write transaction (None: none)."""
    lock_head(session)
    if session.scalar(select(DeletionManifestRow.id).where(
            DeletionManifestRow.run_id == run_id)) is not None:
        return None  # one manifest per run; a run's tombstones are linked when it is signed
    run = session.get_one(RetentionRun, run_id)
    policy_json = session.scalar(select(PolicyApproval.policy_json).where(
        PolicyApproval.policy_digest == run.policy_digest).order_by(PolicyApproval.id).limit(1))
    last = session.scalar(select(DeletionManifestRow).order_by(DeletionManifestRow.id.desc())
                          .limit(1))
    previous = last.digest if last is not None else None
    count = 0

    def entries() -> Iterator[bytes]:
        nonlocal count
        for tombstone in tombstone_rows(session, run_id, only_pending=True):
            count += 1
            yield canonical_json(entry_json(tombstone))

    header: dict[str, JsonValue] = {
        "format": FORMAT, "station_id": station_id, "run_id": run_id,
        "signed_at": format_timestamp(now), "actor": run.actor, "trigger": run.trigger,
        "run_started_at": format_timestamp(run.started_at),
        "policy_digest": run.policy_digest,
        "policy": json.loads(policy_json) if policy_json is not None else None,
        "previous_manifest_sha256": previous,
    }
    head = log_head(session)
    if head is not None:
        header[anchors.HEAD_KEY] = anchors.head_json(head.seq, head.digest)
    data = manifest_bytes(header, entries())
    if count == 0:
        return None
    digest = sha256_hex(data)
    stem = file_stem(station_id, run_id)
    directory = directory_of(manifest_dir)
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    write_atomic(directory / f"{stem}.json", data, sync_dir=False)
    write_atomic(directory / f"{stem}.sig", keys.sign(private_key, data))
    ident = keys.key_id(private_key.public_key())
    row = DeletionManifestRow(run_id=run_id, file_name=stem, digest=digest,
                              previous_digest=previous, key_id=ident, signed_at=now,
                              entries=count)
    session.add(row)
    session.flush()
    session.execute(update(Tombstone).where(Tombstone.run_id == run_id,
                                            Tombstone.manifest_id.is_(None))
                    .values(manifest_id=row.id))
    record_event(session, at=now, actor=run.actor, action="deletion_manifest_signed",
                 subject=f"{DIRECTORY}/{stem}.json",
                 details={"sha256": digest, "previous": previous, "entries": count,
                          "key_id": ident, "run_id": run_id})
    return row


# --------------------------------------------------------------------------- reading (audit)


class ManifestUnreadable(ValueError):
    """The bytes are not a canonical deletion manifest."""


def parse(data: bytes) -> dict[str, Any]:
    """The manifest in ``data``; ``ManifestUnreadable`` unless it is canonical and well-formed,
    so the digest of what was parsed is always the digest of the file."""
    try:
        value = load_strict_json(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # not UTF-8 or JSON, a duplicate key, a fraction
        raise ManifestUnreadable(f"not a strict JSON document ({exc})") from None
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise ManifestUnreadable(f"not a {FORMAT} document")
    if not isinstance(value.get("entries"), list) or not all(
            isinstance(e, dict) for e in value["entries"]):
        raise ManifestUnreadable("its entries are not a list of objects")
    try:
        canonical = canonical_json(value)
    except ValueError as exc:
        raise ManifestUnreadable(str(exc)) from None
    if canonical != data:
        raise ManifestUnreadable("its bytes are not in canonical form (it was edited)")
    return value
