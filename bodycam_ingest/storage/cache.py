"""The station's store as a cache of the object store (issue 12 item 3): eviction and re-fetch.

With ``[storage.object_store] cache_size`` set, the replication worker keeps the local store under
that many bytes: once it is over, the least recently used recordings go, but only those verified
on the object store (a ``done`` row whose object a HEAD shows with the size and ETag recorded at
its verification) and never one under an active hold: a held recording is the one a court or a
complaint is about to ask for, and its local copy is a second copy that does not depend on the
network being up that day. Each eviction is a custody entry (``recording_evicted``), written
before the file goes: a crash in between leaves an entry and a file, which readers just use.

Reading an evicted recording re-fetches it (``ensure_local``): streamed from the object store into
staging, SHA-256 checked against the digest before it is published, logged as
``recording_refetched``. Whether a recording is evicted now is read from the custody log (its last
eviction entry newer than its last re-fetch), so no table says it besides the log itself.

"Used" is the newest custody entry that read the recording (viewed, played, exported, fetched,
re-fetched) or its ingest, whichever is later: ``choose`` (pure) picks the oldest first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.db import Catalog
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Event, Recording
from bodycam_ingest.catalog.storage_models import Replication
from bodycam_ingest.errors import BodycamError, ExitCode
from bodycam_ingest.ingest.store import EvidenceStore as ContentStore
from bodycam_ingest.storage import queue
from bodycam_ingest.storage.errors import LocalCopyChanged, ObjectChecksumMismatch
from bodycam_ingest.storage.interface import EvidenceStore

log = logging.getLogger("bodycam.cache")

EVICTED, REFETCHED = "recording_evicted", "recording_refetched"
USES = ("recording_viewed", "recording_played", "recording_exported", "export_fetched",
        "recording_ingested", REFETCHED)
BATCH = 500


class EvictedNotOnObjectStore(BodycamError):
    """Recording {recording} was evicted from this station but the object store has no verified copy of it ({reason}); run `bodycam audit` and restore it from a replica."""  # noqa: E501

    exit_code = ExitCode.FINDINGS


@dataclass(frozen=True)
class Cached:
    """A recording whose file is in the local store, as eviction sees it."""

    recording_id: int
    sha256: str
    size: int
    last_used: datetime
    replicated: bool  # verified on the object store
    held: bool  # under an active hold


def choose(cached: Iterable[Cached], total: int, cache_size: int) -> list[Cached]:
    """The recordings to evict so that ``total`` bytes come down to ``cache_size`` (pure):
    least recently used first, only replicated ones without a hold; fewer (or none) when those
    are not enough."""
    chosen: list[Cached] = []
    for item in sorted(cached, key=lambda c: (c.last_used, c.recording_id)):
        if total <= cache_size:
            break
        if item.replicated and not item.held:
            chosen.append(item)
            total -= item.size
    return chosen


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), BATCH):
        yield ids[start:start + BATCH]


def evicted(session: Session, ids: Iterable[int] | None = None) -> set[int]:
    """Recordings evicted now: their last eviction entry is newer than their last re-fetch."""
    query = (select(Event.recording_id, Event.action, func.max(Event.seq))
             .where(Event.action.in_((EVICTED, REFETCHED)), Event.recording_id.is_not(None))
             .group_by(Event.recording_id, Event.action))
    last: dict[int, dict[str, int]] = {}
    parts = [None] if ids is None else list(_chunks(sorted(set(ids))))
    for part in parts:
        scoped = query if part is None else query.where(Event.recording_id.in_(part))
        for rid, action, seq in session.execute(scoped):
            last.setdefault(int(rid or 0), {})[action] = int(seq or 0)
    return {rid for rid, seqs in last.items() if seqs.get(EVICTED, 0) > seqs.get(REFETCHED, 0)}


def _candidates(session: Session, store: ContentStore, now: datetime,
                cache_size: int) -> tuple[list[Cached], int]:
    """The recordings in the local store and their total size (no candidates while the total is
    within ``cache_size``: a pass under the limit reads no holds and no custody entries)."""
    from bodycam_ingest.retention.state import load_states

    rows = list(session.execute(
        select(Recording.id, Recording.sha256, Recording.size, Recording.ingested_at,
               Replication.state, Replication.verified_at)
        .outerjoin(Replication, Replication.recording_id == Recording.id)
        .where(Recording.deleted_at.is_(None)).order_by(Recording.id)))
    present = [row for row in rows if store.contains(row.sha256)]
    total = sum(int(row.size or 0) for row in present)
    if total <= cache_size:
        return [], total
    ids = [row.id for row in present]
    used: dict[int, datetime] = {}
    for part in _chunks(ids):
        used.update((int(rid or 0), at) for rid, at in session.execute(
            select(Event.recording_id, func.max(Event.at))
            .where(Event.recording_id.in_(part), Event.action.in_(USES))
            .group_by(Event.recording_id)))
    held = {state.id for state in load_states(session, [r.id for r in present
                                                        if r.state == queue.DONE])
            if any(hold.active_at(now) for hold in state.holds)}
    cached = [Cached(row.id, row.sha256, int(row.size or 0),
                     max(x for x in (used.get(row.id), row.ingested_at) if x is not None),
                     row.state == queue.DONE, row.id in held) for row in present]
    return cached, total


def evict(catalog: Catalog, store: ContentStore, remote: EvidenceStore, cache_size: int,
          clock: Callable[[], datetime], actor: str) -> list[int]:
    """Evict least recently used replicated recordings until the local store holds at most
    ``cache_size`` bytes; returns the recordings evicted. Each is checked on the object store
    (HEAD: size and ETag as verified) before its entry is logged and its file removed."""
    from bodycam_ingest.retention.deletion import remove_stored

    now = clock()
    with catalog.reading() as session:
        cached, total = _candidates(session, store, now, cache_size)
        chosen = choose(cached, total, cache_size)
        pinned = {row.recording_id: row for row in session.scalars(
            select(Replication).where(Replication.recording_id.in_(
                [c.recording_id for c in chosen])))} if chosen else {}
    gone: list[int] = []
    for item in chosen:
        row = pinned[item.recording_id]
        try:
            stored = remote.head(item.sha256, row.version_id)
        except BodycamError as exc:
            log.warning("recording %d not evicted: %s", item.recording_id, exc.message())
            break  # the object store is away: keep every local copy for now
        if stored is None or stored.size != item.size or stored.checksum != row.etag:
            log.error("recording %d not evicted: the object store does not show the object "
                      "verified on %s (%s)", item.recording_id, row.verified_at, stored)
            continue
        with catalog.session() as session:
            record_event(session, at=clock(), actor=actor, action=EVICTED,
                         recording_id=item.recording_id, subject=remote.name, details={
                             "sha256": item.sha256, "size": item.size,
                             "version": row.version_id, "etag": row.etag,
                             "last_used": item.last_used.isoformat(timespec="seconds"),
                             "cache_size": cache_size})
        _removed, problems = remove_stored(store.root, [item.sha256])
        for problem in problems:
            log.error("%s", problem)
        gone.append(item.recording_id)
        log.info("recording %d evicted from the local store (kept on %s)", item.recording_id,
                 remote.name)
    return gone


class _Chunks:
    """A file-like reader over an iterator of byte chunks (the object store's stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def read(self, size: int = -1) -> bytes:
        while not self._left:
            try:
                self._left = next(self._chunks)
            except StopIteration:
                return b""
        if size < 0 or size >= len(self._left):
            data, self._left = self._left, b""
        else:
            data, self._left = self._left[:size], self._left[size:]
        return data


def ensure_local(catalog: Catalog, store: ContentStore, remote: EvidenceStore | None,
                 recording_ids: Iterable[int], clock: Callable[[], datetime],
                 actor: str) -> list[int]:
    """Re-fetch every evicted one of ``recording_ids`` from the object store, verified, before
    it is read; returns those re-fetched. A recording whose file is present is left alone."""
    from bodycam_ingest.storage.local import LocalStore

    ids = sorted(set(recording_ids))
    with catalog.reading() as session:
        gone = evicted(session, ids)
        rows = {row.recording_id: row for part in _chunks(sorted(gone)) for row in
                session.execute(select(Replication.recording_id, Replication.sha256,
                                       Replication.size, Replication.version_id,
                                       Replication.state).where(
                    Replication.recording_id.in_(part)))}
    fetched: list[int] = []
    for rid in sorted(gone):
        row = rows.get(rid)
        if row is None or store.contains(row.sha256):
            continue
        if remote is None or row.state != queue.DONE:
            raise EvictedNotOnObjectStore(recording=rid, reason="no object store configured"
                                          if remote is None else f"replication is {row.state}")
        chunks = remote.open(row.sha256, row.version_id)
        try:
            LocalStore(store).put(row.sha256, _Chunks(iter(chunks)), int(row.size))  # type: ignore[arg-type]
        except LocalCopyChanged as exc:
            raise ObjectChecksumMismatch(key=row.sha256, problem=f"the copy read back for "
                                         f"recording {rid} does not hash to it ({exc.message()})"
                                         ) from None
        finally:
            close: Any = getattr(chunks, "close", None)
            if close is not None:
                close()
        with catalog.session() as session:
            record_event(session, at=clock(), actor=actor, action=REFETCHED, recording_id=rid,
                         subject=remote.name, details={"sha256": row.sha256, "size": row.size,
                                                       "version": row.version_id})
        fetched.append(rid)
        log.info("recording %d re-fetched from %s and verified", rid, remote.name)
    return fetched


def remote_fixity(session: Session, remote: EvidenceStore | None,
                  recording_ids: Iterable[int]) -> dict[int, str | None]:
    """The audit's fixity for recordings whose stored file is missing: for each evicted one,
    None when the object store shows its object as verified (HEAD: the version, size and ETag
    recorded when it was verified; the server checked every part's checksum on upload), else
    the problem. Recordings not evicted are absent (their missing file stays a finding)."""
    gone = evicted(session, recording_ids)
    rows = {row.recording_id: row for part in _chunks(sorted(gone)) for row in session.scalars(
        select(Replication).where(Replication.recording_id.in_(part)))}
    result: dict[int, str | None] = {}
    for rid in sorted(gone):
        row = rows.get(rid)
        if row is None or row.state != queue.DONE:
            result[rid] = ("it was evicted from this station but is not verified on the object "
                           "store")
            continue
        if remote is None:
            result[rid] = ("it was evicted from this station to the object store, which this "
                           "audit cannot reach: configure [storage.object_store]")
            continue
        try:
            stored = remote.head(row.sha256, row.version_id)
        except BodycamError as exc:
            result[rid] = f"it was evicted from this station and {exc.message()}"
            continue
        if stored is None:
            result[rid] = (f"it was evicted from this station but the object store has no "
                           f"version {row.version_id} of it")
        elif stored.size != row.size or stored.checksum != row.etag:
            result[rid] = (f"it was evicted from this station but the object store shows "
                           f"{stored.size} bytes with ETag {stored.checksum}, verified as "
                           f"{row.size} bytes with ETag {row.etag}")
        else:
            result[rid] = None
    return result


def ensure_local_for(station: Any, recording_ids: Iterable[int]) -> list[int]:
    """``ensure_local`` with the station's store and object store (the read paths' hook:
    verify of named recordings, export, play); nothing to do without an object store."""
    settings = station.config.storage.object_store
    ids = list(recording_ids)
    if not ids:
        return []
    remote: EvidenceStore | None = None
    if settings is not None:
        from bodycam_ingest.storage.s3 import S3Store

        remote = S3Store(settings)
    return ensure_local(station.catalog, station.store, remote, ids, station.clock,
                        station.actor)
