"""The evidence store: content-addressed, write-once, durable. The filesystem edge of ingest.

Layout: ``<store>/sha256/ab/cd/<digest>``, files mode 0440 (the service user and its group only).
A copy is written and fsynced in the
staging directory (same filesystem), verified by the caller, then published with ``link`` + ``unlink``
rather than ``rename``: ``link`` refuses to replace an existing name, so stored evidence can never be
overwritten, not even by a bug. Directory entries are fsynced so a published file survives power loss.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from bodycam_ingest.errors import StorageError

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
STAGING_SUFFIX = ".part"


def relpath_for(digest: str) -> str:
    """Store path of a digest, relative to the store root (pure)."""
    if not _DIGEST.match(digest):
        raise ValueError(f"not a lowercase SHA-256 hex digest: {digest!r}")
    return f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Published:
    path: Path
    relpath: str
    already_stored: bool  # the same content was in the store before; nothing new was written


class EvidenceStore:
    def __init__(self, root: Path, staging: Path) -> None:
        self.root = root
        self.staging = staging
        for directory in (root, staging):
            try:
                directory.mkdir(mode=0o750, parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(path=directory, reason=f"cannot be created ({exc.strerror}); "
                                   "check storage.* in the config and the daemon's permissions") from None
            if not os.access(directory, os.W_OK | os.X_OK):
                raise StorageError(path=directory, reason="is not writable by this user; run as the "
                                   "bodycam user or fix the directory's owner")
        if root.stat().st_dev != staging.stat().st_dev:
            raise StorageError(path=staging, reason=f"is on another filesystem than {root}; staging "
                               "must be on the store's filesystem so that publishing is atomic")

    def path_for(self, digest: str) -> Path:
        return self.root / relpath_for(digest)

    def contains(self, digest: str) -> bool:
        return self.path_for(digest).is_file()

    def free_bytes(self) -> int:
        stats = os.statvfs(self.staging)
        return stats.f_bavail * stats.f_frsize

    def open_staging(self, name: str) -> int:
        """Create a new staging file (never reusing a name) and return its descriptor."""
        if "/" in name or not name.endswith(STAGING_SUFFIX):
            raise ValueError(f"bad staging name {name!r}")
        return os.open(self.staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                       0o600)

    def open_staged_for_reading(self, name: str) -> int:
        return os.open(self.staging / name, os.O_RDONLY | os.O_CLOEXEC)

    def staged_exists(self, name: str) -> bool:
        return (self.staging / name).exists()

    def discard_staging(self, name: str) -> bool:
        """Remove a staging file; True if there was one."""
        try:
            (self.staging / name).unlink()
        except FileNotFoundError:
            return False
        return True

    def staging_names(self) -> list[str]:
        return sorted(entry.name for entry in os.scandir(self.staging) if entry.is_file())

    def publish(self, staging_name: str, digest: str) -> Published:
        """Move a verified, fsynced staging file to its content address. Idempotent."""
        relpath = relpath_for(digest)
        final = self.root / relpath
        source = self.staging / staging_name
        os.chmod(source, 0o440)
        self._make_parents(final.parent)
        try:
            os.link(source, final)
            already = False
        except FileExistsError:
            already = True
        fsync_dir(final.parent)
        source.unlink()
        fsync_dir(self.staging)
        return Published(path=final, relpath=relpath, already_stored=already)

    def _make_parents(self, directory: Path) -> None:
        missing: list[Path] = []
        current = directory
        while not current.exists():
            missing.append(current)
            current = current.parent
        for item in reversed(missing):
            try:
                item.mkdir(mode=0o750)
            except FileExistsError:
                continue
            fsync_dir(item.parent)
