"""``LocalStore``: today's content-addressed store (``ingest.store``) behind the interface.

It wraps the store and changes nothing in it: files are written to staging, hashed while written,
fsynced and published by ``link`` (never overwriting). A local disk cannot lock: ``set_lock`` returns
None, and retention's holds stay in the catalog as before.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from typing import BinaryIO

from bodycam_ingest.ingest.store import STAGING_SUFFIX
from bodycam_ingest.ingest.store import EvidenceStore as ContentStore
from bodycam_ingest.storage.errors import LocalCopyChanged
from bodycam_ingest.storage.interface import StoredObject
from bodycam_ingest.storage.locks import Lock

CHUNK = 1 << 20


class LocalStore:
    name = "local"

    def __init__(self, store: ContentStore) -> None:
        self.store = store

    def put(self, digest: str, source: BinaryIO, size: int, lock: Lock | None = None) -> StoredObject:
        if self.store.contains(digest):
            return StoredObject(digest, self.store.path_for(digest).stat().st_size)
        name = f"put-{uuid.uuid4().hex}{STAGING_SUFFIX}"
        fd = self.store.open_staging(name)
        hasher, written = hashlib.sha256(), 0
        try:
            while chunk := source.read(CHUNK):
                hasher.update(chunk)
                os.write(fd, chunk)
                written += len(chunk)
            os.fsync(fd)
        finally:
            os.close(fd)
        if hasher.hexdigest() != digest or written != size:
            self.store.discard_staging(name)
            raise LocalCopyChanged(digest=digest, problem=f"read {written} bytes hashing to "
                                   f"{hasher.hexdigest()}")
        self.store.publish(name, digest)
        return StoredObject(digest, written)

    def head(self, digest: str, version: str | None = None) -> StoredObject | None:
        path = self.store.path_for(digest)
        try:
            return StoredObject(digest, path.stat().st_size)
        except FileNotFoundError:
            return None

    def open_file(self, digest: str) -> BinaryIO:
        return open(self.store.path_for(digest), "rb")  # the caller closes it

    def verify(self, digest: str, version: str | None = None) -> bool:
        hasher = hashlib.sha256()
        try:
            for chunk in self.open(digest):
                hasher.update(chunk)
        except FileNotFoundError:
            return False
        return hasher.hexdigest() == digest

    def open(self, digest: str, version: str | None = None) -> Iterator[bytes]:
        with self.open_file(digest) as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def delete(self, digest: str, version: str | None = None) -> None:
        self.store.path_for(digest).unlink(missing_ok=True)

    def set_lock(self, digest: str, version: str | None, lock: Lock) -> Lock | None:
        return None
