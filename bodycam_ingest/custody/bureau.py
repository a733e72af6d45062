"""The bureau-wide audit (``bodycam audit --all-stations``, issue 12): every registered station's
custody chain, checkpoints and catalog rows, checked against that station's own published
keyring (``station_keys``), never against a local key folder.

What is checked for each station:
- the station running the audit: everything the station audit checks (its stored files, its
  signed manifests and checkpoint files are here), and in addition that every key of its local
  keyring is published;
- every other station: its custody log's chain, its checkpoint rows' signatures against its
  published keys and their agreement with the log, its chain head, its manifest records' chain
  (``previous_digest``) and their signers, and the replay of its catalog tables against its log.
  Its stored files and signed manifest files live on that station (and on the object store when
  one is configured: not read here), so they are named in the station's notes as not reached.
Rows of a station that is not registered are a bureau finding. Each station's part is its own
report, read in a session scoped to that station (``catalog.scope``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.custody_models import ManifestRow, StationKeyRow, StationRow
from bodycam_ingest.catalog.scope import rows_by_station
from bodycam_ingest.custody import eventlog, keys
from bodycam_ingest.custody.audit import AuditReport, check_head
from bodycam_ingest.custody.chain import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_FORMAT_V1,
    Checkpoint,
    checkpoint_digest,
    signed_bytes,
    verify_checkpoints,
    verify_log,
)
from bodycam_ingest.errors import BodycamError

if TYPE_CHECKING:
    from bodycam_ingest.station import Station


@dataclass
class StationAudit:
    station: str
    keys: list[str]
    depth: str  # "full" (this station) | "catalog" (another station: its catalog rows)
    report: AuditReport


def published_keyring(session: Session, station: str) -> tuple[dict[str, Ed25519PublicKey],
                                                                list[str]]:
    """A station's published keys by id, and the problems of rows that do not hold their key."""
    ring: dict[str, Ed25519PublicKey] = {}
    problems: list[str] = []
    for row in session.scalars(select(StationKeyRow).where(StationKeyRow.station_id == station)
                               .order_by(StationKeyRow.id)):
        try:
            public = keys.public_from_pem(row.public_pem.encode(), source=f"key {row.key_id}")
        except BodycamError as exc:
            problems.append(f"published key {row.key_id}: {exc.message()}")
            continue
        if keys.key_id(public) != row.key_id:
            problems.append(f"published key {row.key_id} holds key {keys.key_id(public)}: the "
                            "row was edited")
            continue
        ring[row.key_id] = public
    return ring, problems


def rechain(rows: list[Checkpoint], keyring: dict[str, Ed25519PublicKey]) -> list[Checkpoint]:
    """The checkpoint rows as signed: a row keeps neither its format nor its link to the
    previous checkpoint (they are in the station's checkpoint files), so each is read as the
    chained format linked to the row before it, or else as the unchained format of before
    anchors; one that verifies as neither is left as the chained reading (and reported)."""
    out: list[Checkpoint] = []
    previous: str | None = None
    for row in rows:
        chained = replace(row, previous_digest=previous, format=CHECKPOINT_FORMAT)
        legacy = replace(row, previous_digest=None, format=CHECKPOINT_FORMAT_V1)
        key = keyring.get(row.key_id)
        signed = chained
        if key is not None and not keys.verify(key, signed_bytes(chained), row.signature) and \
                keys.verify(key, signed_bytes(legacy), row.signature):
            signed = legacy
        out.append(signed)
        previous = checkpoint_digest(signed)
    return out


def check_catalog_rows(session: Session, keyring: dict[str, Ed25519PublicKey],
                       report: AuditReport) -> None:
    """Another station's part: its log, checkpoints, head, manifest records and replay."""
    from bodycam_ingest.custody import replay, replay_catalog

    entries = eventlog.entries(session)
    report.checked["custody log"] = len(entries)
    for problem in verify_log(entries, rechain(eventlog.checkpoints(session), keyring), keyring):
        report.add("custody log", f"custody entry {problem.seq}", problem.message)
    check_head(session, entries, report)
    previous: str | None = None
    for row in session.scalars(select(ManifestRow).order_by(ManifestRow.id)):
        report.checked["manifests"] += 1
        name = f"manifest {row.file_name} (dock {row.dock_id})"
        if row.previous_digest != previous:
            report.add("manifests", name, "its catalog record does not chain to the manifest "
                       "before it: a manifest record was removed or reordered")
        if row.key_id not in keyring:
            report.add("manifests", name, f"signed with key {row.key_id}, which the station "
                       "never published")
        previous = row.digest
    log = replay.replay_log(replay_catalog.read_entries(session, replay.ACTIONS))
    found, _legacy = replay.differences(log, replay_catalog.read_tables(session, log))
    for difference in found:
        report.add(replay.SECTION, difference.object, difference.problem)
    report.notes.append("stored files and signed manifest files are on the station itself (or "
                        "the object store): not read by this audit; audit the station for them")


def audit_bureau(station: Station, run_own: Any) -> list[StationAudit]:
    """Every registered station's audit; ``run_own(station)`` is the station audit of the
    station running this one (its files are here)."""
    catalog = station.catalog
    with catalog.reading(bureau=True) as session:
        registered = list(session.scalars(select(StationRow.id).order_by(StationRow.id)))
        holding = rows_by_station(session)
    results: list[StationAudit] = []
    own_id = station.config.station.id
    for sid in registered:
        scoped = replace(catalog, station_id=sid)
        with scoped.reading() as session:
            keyring, problems = published_keyring(session, sid)
            if sid == own_id:
                report = run_own(station)
                rows = rechain(eventlog.checkpoints(session), keyring)  # against published
                for found in verify_checkpoints(eventlog.entries(session), rows, keyring):
                    report.add("custody log", f"custody entry {found.seq}",
                               f"{found.message} (checked against the published keys)")
                depth = "full"
            else:
                report = AuditReport()
                check_catalog_rows(session, keyring, report)
                depth = "catalog"
            if not keyring:
                report.add("manifests", "published keyring", f"station {sid} has no published "
                           "key: nothing it signed can be verified")
            for problem in problems:
                report.add("manifests", "published keyring", problem)
        results.append(StationAudit(sid, sorted(keyring), depth, report))
    for sid in sorted(set(holding) - set(registered)):
        report = AuditReport()
        report.add("custody log", f"station {sid}", f"has rows in the catalog "
                   f"({', '.join(holding[sid])}) but is not registered: they were written "
                   "outside bodycam, or its registration was deleted")
        results.append(StationAudit(sid, [], "unregistered", report))
    return results



def _key_dir(station: Station) -> Any:
    from bodycam_ingest.custody.service import key_dir

    return key_dir(station.config)
