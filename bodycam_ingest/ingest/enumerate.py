"""Listing a camera safely: what may be ingested, and what was refused and why.

The walk goes through directory descriptors (``openat`` with ``O_NOFOLLOW``), so a directory swapped
for a symlink mid-walk cannot lead out of the camera. Symlinks, devices, FIFOs and sockets are never
opened; names with control characters, backslashes or undecodable bytes are refused; the number of
entries and the depth are bounded so a hostile or corrupt filesystem cannot exhaust the station.
A refused entry is a result (``Rejected``), not an exception.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bodycam_ingest.config import matches_glob

_log = logging.getLogger("bodycam.camera")


@dataclass(frozen=True)
class CameraFile:
    relpath: str
    size: int
    mtime: datetime
    dev: int
    ino: int


@dataclass(frozen=True)
class Rejected:
    relpath: str
    reason: str


@dataclass
class Listing:
    files: list[CameraFile] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    truncated: str | None = None  # why the walk stopped early, if it did

    @property
    def total_bytes(self) -> int:
        return sum(item.size for item in self.files)


def name_problem(name: str) -> str | None:
    """Why a directory entry's name is refused, or None when it is acceptable (pure)."""
    if name in {".", ".."}:
        return "is a relative path component"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "contains control characters"
    if "\\" in name or "/" in name:
        return "contains a path separator (possible path traversal)"
    if any(0xDC80 <= ord(ch) <= 0xDCFF for ch in name):
        return "is not valid UTF-8"
    if len(name.encode("utf-8", "surrogateescape")) > 255:
        return "is longer than 255 bytes"
    return None


def could_hold(dir_relpath: str, globs: tuple[str, ...]) -> bool:
    """Whether any path under ``dir_relpath/`` could match one of ``globs`` (pure, case-blind,
    as ``matches_glob``): the directory is inside or on the way to a glob's literal prefix (the
    part before its first wildcard). ``lost+found`` on an ext4 camera holds no recording."""
    here = dir_relpath.lower().rstrip("/") + "/"
    for pattern in globs:
        lowered = pattern.lower()
        cut = min((i for i, ch in enumerate(lowered) if ch in "*?["), default=len(lowered))
        prefix = lowered[:cut]
        if here.startswith(prefix) or prefix.startswith(here):
            return True
    return False


def _display(name: str) -> str:
    return name.encode("unicode_escape", "backslashreplace").decode("ascii")


def list_camera(
    root: str | os.PathLike[str],
    globs: tuple[str, ...],
    *,
    max_entries: int,
    max_depth: int,
    lstat: Callable[..., os.stat_result] = os.lstat,
) -> Listing:
    """Walk ``root`` and return the regular files that match ``globs``, sorted by path.

    Depth-first with at most ``max_depth`` directory descriptors open at once.
    """
    listing = Listing()
    budget = [max_entries]
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _walk(root_fd, "", 0, globs, max_depth, budget, listing, lstat)
    finally:
        os.close(root_fd)
    listing.files.sort(key=lambda item: item.relpath)
    return listing


def _walk(dir_fd: int, prefix: str, depth: int, globs: tuple[str, ...], max_depth: int,
          budget: list[int], listing: Listing, lstat: Callable[..., os.stat_result]) -> None:
    for name in sorted(os.listdir(dir_fd)):
        budget[0] -= 1
        if budget[0] < 0:
            listing.truncated = ("the camera holds more entries than ingest.max_entries allows; "
                                 "raise it if this is genuine")
            return
        relpath = f"{prefix}{name}"
        problem = name_problem(name)
        if problem:
            listing.rejected.append(Rejected(_display(relpath), f"name {problem}"))
            continue
        info = lstat(name, dir_fd=dir_fd)
        mode = info.st_mode
        if stat.S_ISLNK(mode):
            listing.rejected.append(Rejected(relpath, "symbolic link, not followed"))
        elif stat.S_ISDIR(mode):
            _enter(dir_fd, name, relpath, depth, globs, max_depth, budget, listing, lstat)
            if listing.truncated:
                return
        elif stat.S_ISREG(mode):
            if matches_glob(relpath, globs):
                listing.files.append(CameraFile(
                    relpath=relpath, size=info.st_size,
                    mtime=datetime.fromtimestamp(info.st_mtime, UTC),
                    dev=info.st_dev, ino=info.st_ino))
        else:
            listing.rejected.append(Rejected(relpath, f"not a regular file ({_kind(mode)}), "
                                             "not opened"))


def _enter(dir_fd: int, name: str, relpath: str, depth: int, globs: tuple[str, ...],
           max_depth: int, budget: list[int], listing: Listing,
           lstat: Callable[..., os.stat_result]) -> None:
    if not could_hold(relpath, globs):
        return  # cannot hold a recording (lost+found, SYSTEM~1): never read, never a fault
    if depth + 1 >= max_depth:
        listing.rejected.append(
            Rejected(relpath, f"directory deeper than ingest.max_depth={max_depth}"))
        return
    try:
        child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                        dir_fd=dir_fd)
    except PermissionError as exc:
        listing.rejected.append(Rejected(relpath, f"directory cannot be read ({exc.strerror}): "
                                         "recordings in it are not ingested; make it readable "
                                         "and dock again"))
        return
    try:
        _walk(child, relpath + "/", depth + 1, globs, max_depth, budget, listing, lstat)
    finally:
        os.close(child)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device file"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def open_beneath(root: Path, relpath: str, flags: int = os.O_RDONLY) -> int:
    """Open ``root/relpath`` without following any symlink on the way (no escape from the camera).

    ``O_NONBLOCK`` keeps a FIFO swapped in after listing from hanging the open.
    """
    parts = relpath.split("/")
    if any(part in {"", ".", ".."} for part in parts):
        raise OSError(errno.EINVAL, f"unsafe camera path {relpath!r}")
    dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                            dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = child
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                       dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def close_camera_fd(fd: int) -> None:
    """Close a descriptor on the camera; an unplugged camera (a dead FUSE mount) reports an error
    on close, but Linux frees the descriptor anyway and nothing was written, so it is not one."""
    try:
        os.close(fd)
    except OSError as exc:
        _log.debug("closing a camera file after the camera went away: %s", exc.strerror)
