"""Helpers for the retention-sweep integration tests: a station on an injected clock, real docks
of ffmpeg-made cameras, and tiers and holds set through the retention services (each with its
custody entry: the sweep refuses to delete where the catalog and the log disagree)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from helpers import StationEnv, write_config
from sqlalchemy import select

from bodycam_ingest.catalog.models import Recording, Sighting
from bodycam_ingest.config import load_config
from bodycam_ingest.custody import labels
from bodycam_ingest.custody.roles import Acting
from bodycam_ingest.detection.dock import ingest_folder
from bodycam_ingest.retention import holds, tiering
from bodycam_ingest.retention.tiers import Tier
from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera
from bodycam_ingest.station import Station

DAY = timedelta(days=1)
CAMERA_OFFSET = timedelta(hours=8)  # the simulated camera's clock is China Standard Time
SPEC = CameraSpec(segments=1, seconds=1.0)


@dataclass
class Clock:
    """The station's injected clock: tests move ``now`` forward."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def make_env(root: Path, retention: str = "") -> StationEnv:
    root.mkdir(parents=True, exist_ok=True)
    extra = f"\n[retention]\n{retention}\n" if retention else ""
    return StationEnv(root=root, config_path=write_config(root, extra))


def set_retention(env: StationEnv, retention: str) -> None:
    """Rewrite the config's [retention] section (the rest is kept)."""
    text = env.config_path.read_text()
    head, sep, tail = text.partition("\n[retention]\n")
    if sep:
        rest = tail.split("\n[", 1)
        tail = "\n[" + rest[1] if len(rest) > 1 else ""
    env.config_path.write_text(f"{head}\n[retention]\n{retention}\n{tail}")


def open_station(env: StationEnv, clock: Clock) -> Station:
    return Station.open(load_config(env.config_path), clock=clock, actor="retention-officer")


def dock(station: Station, where: Path, *, segments: int = 1, device: str = "DSJ9X001",
         officer: str = "A1024") -> list[int]:
    """Record a camera session that ended a minute before the station's now, and dock it;
    returns the new recording ids (one per segment)."""
    now = station.clock()
    local = (now + CAMERA_OFFSET - timedelta(minutes=1 + segments)).replace(tzinfo=None,
                                                                         microsecond=0)
    spec = replace(SPEC, start=local, segments=segments, device=device, officer=officer)
    camera = where / f"cam-{now:%Y%m%d%H%M%S}-{device}"
    build_folder_camera(camera, spec)
    report = ingest_folder(station, camera, station.config.camera(None), device_key=None,
                           trigger="cli")
    assert report.outcome == "complete", report
    with station.catalog.reading() as session:
        return sorted(session.scalars(select(Sighting.recording_id).where(
            Sighting.dock_id == report.dock_id, Sighting.copied.is_(True))))


def label(station: Station, ids: list[int], case: str) -> None:
    with station.catalog.session() as session:
        for recording_id in ids:
            labels.set_label(session, recording_id, labels.LabelChange(case_number=case),
                             acting=Acting(station.actor, None), reason="test", at=station.clock())


def set_case_tier(station: Station, case: str, tier: str, reason: str) -> None:
    with station.catalog.session() as session:
        tiering.set_case_tier(session, case, Tier(tier), reason=reason, note=None,
                              acting=Acting(station.actor, None), approved_by=None,
                              at=station.clock())


def set_recording_tier(station: Station, recording_id: int, tier: str, reason: str) -> None:
    with station.catalog.session() as session:
        tiering.set_recording_tiers(session, [recording_id], Tier(tier), reason=reason, note=None,
                                    acting=Acting(station.actor, None), approved_by=None,
                                    at=station.clock())


def add_hold(station: Station, *, recording_id: int | None = None, case: str | None = None,
             until: date | None = None) -> int:
    with station.catalog.session() as session:
        acting = Acting(station.actor, None)
        if recording_id is not None:
            [hold] = holds.add_recording_holds(session, [recording_id], reason="court order 2024-17",
                                               owner="legal section", until=until, acting=acting,
                                               at=station.clock())
        else:
            assert case is not None
            hold = holds.add_case_hold(session, case, reason="court order 2024-17",
                                       owner="legal section", until=until, acting=acting,
                                       at=station.clock())
        return hold.id


def release_hold(station: Station, hold_id: int) -> None:
    with station.catalog.session() as session:
        holds.release(session, hold_id, reason="case closed", approved_by="chief",
                      acting=Acting(station.actor, None), at=station.clock())


def stored_path(station: Station, recording_id: int) -> Path:
    with station.catalog.reading() as session:
        relpath = session.get_one(Recording, recording_id).store_path
    return station.store.root / relpath


def corrupt(path: Path) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    path.chmod(0o444)


def openssl_verifies(public_key: Path, data: Path, signature: Path) -> bool:
    result = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(public_key),
                             "-rawin", "-in", str(data), "-sigfile", str(signature)],
                            capture_output=True, text=True, check=False)
    return result.returncode == 0 and "Signature Verified Successfully" in result.stdout


def run_json(env: StationEnv, *args: str, code: int | None = 0) -> dict[str, Any]:
    result = env.run(*args, "--json")
    if code is not None:
        assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
