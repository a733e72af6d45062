"""Where an export or archive package may be written, and its temporary folder (issue 9 item 5).

Two rules for every command that writes a package into a folder the user names
(``requests fetch --to``, ``export --to``, ``archive --to``):

* a destination inside the station's own places (state, keys, manifests, evidence store, staging),
  compared after resolving symlinks, is refused: a package there would sit beside the evidence or
  the signing key, be swept up with them, or overwrite them;
* nothing is ever deleted that this run did not create: the package is written in a temporary
  folder with a unique name, created exclusively (``mkdir`` fails rather than reuse a folder), and
  holding a marker file naming this run; cleanup removes a folder only when it carries this run's
  marker. The marker is removed just before the folder is renamed onto its final name.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from bodycam_ingest.errors import DestinationInStation

if TYPE_CHECKING:
    from bodycam_ingest.config import Config

MARKER = ".bodycam-partial"
"""Name of the marker file in a temporary package folder: JSON {"run": token, "pid": pid}."""


def station_places(config: Config) -> list[tuple[str, Path]]:
    """The station's own folders, by what they hold (for messages)."""
    from bodycam_ingest.custody import service

    storage = config.storage
    return [("state folder", storage.state_dir), ("key folder", service.key_dir(config)),
            ("manifest folder", service.manifest_dir(config)),
            ("evidence store", storage.store), ("staging folder", storage.staging)]


def _resolved(path: Path) -> Path:
    """``path`` made absolute with every symlink of its existing part resolved (a missing tail is
    kept as given: the folder the package would be created in)."""
    return Path(os.path.realpath(os.path.abspath(path)))


def place_of(dest: Path, places: Iterable[tuple[str, Path]]) -> tuple[str, Path] | None:
    """The station place ``dest`` is inside (or is), after resolving symlinks; None if none.
    Pure apart from reading the symlinks on the way."""
    target = _resolved(dest)
    for what, root in places:
        base = _resolved(root)
        if target == base or base in target.parents:
            return what, base
    return None


def refuse_inside_station(dest: Path, places: Iterable[tuple[str, Path]]) -> None:
    """Raise ``DestinationInStation`` when ``dest`` (or the folder its partial copy goes to) is
    inside one of the station's places."""
    for candidate in (dest, dest.parent):
        found = place_of(candidate, places)
        if found is not None:
            raise DestinationInStation(path=dest, what=found[0], place=found[1])


def make_workdir(parent: Path, name: str, *, mode: int = 0o750) -> tuple[Path, str]:
    """A new, empty temporary folder ``parent/.NAME.TOKEN.partial`` created by this call (never an
    existing one) with this run's marker; returns (folder, token)."""
    token = secrets.token_hex(8)
    work = parent / f".{name}.{token}.partial"
    work.mkdir(mode=mode)  # FileExistsError rather than adopt someone else's folder
    mark(work, token)
    return work, token


def mark(work: Path, token: str) -> None:
    """Write this run's marker into ``work`` (a folder this run just created)."""
    fd = os.open(work / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o640)
    with os.fdopen(fd, "w") as handle:
        json.dump({"run": token, "pid": os.getpid()}, handle)


def is_ours(work: Path, token: str) -> bool:
    """Whether ``work`` is a real folder (not a symlink) holding the marker of run ``token``."""
    try:
        if work.is_symlink() or not work.is_dir():
            return False
        marker = work / MARKER
        if marker.is_symlink():
            return False
        return bool(json.loads(marker.read_text()).get("run") == token)
    except (OSError, ValueError, AttributeError):
        return False


def unmark(work: Path) -> None:
    """Remove the marker: the folder is about to become the finished package."""
    (work / MARKER).unlink(missing_ok=True)


def discard(work: Path, token: str) -> bool:
    """Remove ``work`` if, and only if, it carries run ``token``'s marker; whether it did."""
    if not is_ours(work, token):
        return False
    shutil.rmtree(work, ignore_errors=True)
    return True
