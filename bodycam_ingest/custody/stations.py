"""The bureau's station registry on a shared catalog (issue 12): registration, published keys,
and the running daemon's lease.

A station registers on its first start with a signing key (its ``station.id`` and key id), and
publishes every public key it signs with to ``station_keys`` (at start, ``keys init`` and
``keys rotate``): the bureau-wide audit checks each station against that keyring, never against
a local key folder. A start whose key is not among its id's published keys is another station
using the same id, and is refused (``StationIdTaken``, exit 3). The daemon also holds a lease
(host, boot id, pid, heartbeat): a second daemon with a copied key on another host is refused
while the first one's heartbeat is fresh; a stale lease (a crash) is taken over, with a custody
entry. The decisions are pure functions over plain data; the catalog is read and written around
them.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.custody_models import StationKeyRow, StationRow
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.custody import keys
from bodycam_ingest.errors import StationIdTaken, StationLeaseHeld

if TYPE_CHECKING:
    from bodycam_ingest.station import Station

LEASE_STALE = timedelta(seconds=60)  # a heartbeat older than this is a dead daemon's


@dataclass(frozen=True)
class Lease:
    host: str
    boot_id: str
    pid: int
    heartbeat: datetime


# --- pure decisions -----------------------------------------------------------------------------
def key_refusal(station: str, key_id: str, published: set[str]) -> StationIdTaken | None:
    """None when ``key_id`` may act as ``station`` (nothing published yet, or one of its keys)."""
    if not published or key_id in published:
        return None
    return StationIdTaken(station=station, key_id=key_id, known=", ".join(sorted(published)))


def lease_decision(held: Lease | None, mine: Lease, now: datetime, *,
                   alive: bool) -> str:
    """``take`` (free or ours), ``takeover`` (a dead daemon's) or ``refuse`` (another is alive).
    ``alive``: on the same host and boot, whether the holding pid still runs."""
    if held is None or (held.host, held.boot_id, held.pid) == (mine.host, mine.boot_id, mine.pid):
        return "take"
    if (held.host, held.boot_id) == (mine.host, mine.boot_id):
        return "refuse" if alive else "takeover"
    return "refuse" if now - held.heartbeat < LEASE_STALE else "takeover"


# --- the edges ----------------------------------------------------------------------------------
def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def local_key_id(key_dir: Path) -> tuple[str, str] | None:
    """(key id, public PEM) of the station's current key, or None without a key."""
    path = key_dir / keys.PUBLIC_NAME
    if not path.exists():
        if not (key_dir / keys.PRIVATE_NAME).exists():
            return None
        keys.publish_public(key_dir)  # an interrupted init or rotation: finish it
    public = keys.load_public(path)
    return keys.key_id(public), keys.public_pem(public).decode()


def published(session: Session, station: str) -> set[str]:
    return set(session.scalars(select(StationKeyRow.key_id)
                               .where(StationKeyRow.station_id == station)))


def check_and_register(station: Station, *, write: bool) -> None:
    """At every start: refuse a key that is not one of this station id's published keys;
    register the station (and publish its key) the first time, when ``write``."""
    from bodycam_ingest.custody.service import key_dir

    local = local_key_id(key_dir(station.config))
    sid = station.config.station.id
    opener = station.catalog.session if write else station.catalog.reading
    with opener() as session:
        known = published(session, sid)
        if local is None:  # no key: fine for a station not registered yet (`keys init` will);
            if known:      # a registered id without its key is not that station
                raise StationIdTaken(station=sid, key_id="none (no station key here)",
                                     known=", ".join(sorted(known)))
            return
        refusal = key_refusal(sid, local[0], known)
        if refusal is not None:
            raise refusal
        if write and not known:
            _publish(session, station, *local)


def publish_key(station: Station, *, rotated_from: str | None = None) -> None:
    """Publish the station's current key (``keys init``; ``keys rotate`` names the key it
    replaced, which must be one of the station's published keys)."""
    from bodycam_ingest.custody.service import key_dir

    local = local_key_id(key_dir(station.config))
    if local is None:
        return
    sid = station.config.station.id
    with station.catalog.session() as session:
        known = published(session, sid)
        if local[0] in known:
            return
        if known and (rotated_from is None or rotated_from not in known):
            raise StationIdTaken(station=sid, key_id=local[0], known=", ".join(sorted(known)))
        _publish(session, station, *local)


def _publish(session: Session, station: Station, key_id: str, pem: str) -> None:
    """The registration (first start) and each key publication are rows with their time, not
    custody entries: an entry would renumber every existing station's log at its upgrade. What
    vouches for them is the station's signed record (its key's ``key_created``/``key_rotated``
    entries and every checkpoint it signs, which the bureau audit checks against these keys)."""
    sid, now = station.config.station.id, station.clock()
    row = session.get(StationRow, sid)
    if row is None:
        row = StationRow(id=sid, registered_at=now, hostname=socket.gethostname(), key_id=key_id)
        session.add(row)
        session.flush()
    row.key_id = key_id
    session.add(StationKeyRow(station_id=sid, key_id=key_id, public_pem=pem, published_at=now))


def take_lease(station: Station) -> None:
    """The daemon's lease on its station id (see the module doc)."""
    sid, now = station.config.station.id, station.clock()
    mine = Lease(host=socket.gethostname(), boot_id=boot_id(), pid=os.getpid(), heartbeat=now)
    with station.catalog.session() as session:
        row = session.get(StationRow, sid, with_for_update=True)
        if row is None:  # not registered (no key yet): the daemon refuses without one anyway
            return
        held = None if row.lease_host is None or row.lease_heartbeat is None else Lease(
            host=row.lease_host, boot_id=row.lease_boot_id or "", pid=row.lease_pid or 0,
            heartbeat=row.lease_heartbeat)
        decision = lease_decision(held, mine, now,
                                  alive=held is not None and _pid_alive(held.pid))
        if decision == "refuse" and held is not None:
            raise StationLeaseHeld(station=sid, host=held.host, pid=held.pid,
                                   heartbeat=held.heartbeat.isoformat(timespec="seconds"),
                                   stale_s=int(LEASE_STALE.total_seconds()))
        if decision == "takeover" and held is not None:
            record_event(session, at=now, actor=station.actor, action="station_lease_taken_over",
                         subject=sid, reason="the previous daemon's lease went stale",
                         details={"host": held.host, "pid": held.pid,
                                  "heartbeat": held.heartbeat.isoformat()})
        row.lease_host, row.lease_boot_id, row.lease_pid = mine.host, mine.boot_id, mine.pid
        row.lease_heartbeat = now


def heartbeat(station: Station) -> None:
    with station.catalog.session() as session:
        row = session.get(StationRow, station.config.station.id)
        if row is not None and row.lease_pid == os.getpid():
            row.lease_heartbeat = station.clock()


def release_lease(station: Station) -> None:
    with station.catalog.session() as session:
        row = session.get(StationRow, station.config.station.id)
        if row is not None and row.lease_pid == os.getpid():
            row.lease_host = row.lease_boot_id = None
            row.lease_pid = None
            row.lease_heartbeat = None
