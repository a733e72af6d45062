"""The evidence store interface: what the replication worker, the wipe gate and the audit need from
any place evidence is kept, whatever keeps it (a local disk, S3 with Object Lock).

Objects are addressed by their lowercase SHA-256 hex digest. ``put`` streams with bounded memory and
returns only once the store has confirmed the content (a checksum the server verified, read back);
a ``put`` of content that is already there and verified is a no-op (idempotent, crash-safe).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable

from bodycam_ingest.storage.locks import Lock


@dataclass(frozen=True)
class StoredObject:
    """What a store says about one digest it holds."""

    digest: str
    size: int
    version: str | None = None  # the object version (S3) the catalog pins; None: not versioned
    checksum: str | None = None  # the server's checksum as it reports it (e.g. an ETag)
    lock: Lock | None = None  # None: the store does not lock (a local disk)


@runtime_checkable
class EvidenceStore(Protocol):
    name: str  # "local" | "s3://bucket/prefix": for messages and the custody log

    def put(self, digest: str, source: BinaryIO, size: int, lock: Lock | None = None) -> StoredObject:
        """Store ``size`` bytes read from ``source`` under ``digest``, verified, locked by ``lock``.

        Raises ``LocalCopyChanged`` when the bytes read do not hash to ``digest`` (nothing counts).
        """
        ...

    def head(self, digest: str, version: str | None = None) -> StoredObject | None:
        """What the store holds for ``digest`` (None: nothing), from its metadata, without reading."""
        ...

    def verify(self, digest: str, version: str | None = None) -> bool:
        """Read the whole object back and check it hashes to ``digest``."""
        ...

    def open(self, digest: str, version: str | None = None) -> Iterator[bytes]:
        """Stream the object's bytes back, in chunks."""
        ...

    def delete(self, digest: str, version: str | None = None) -> None:
        """Delete the object; a locked one raises ``ObjectLocked`` (the server refuses)."""
        ...

    def set_lock(self, digest: str, version: str | None, lock: Lock) -> Lock | None:
        """Extend retention to ``lock.retain_until`` (never shorten) and set the legal hold;
        returns the lock now on the object (None: the store does not lock)."""
        ...


def retain_text(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
