"""Helpers of the jobs tests: stations with a [jobs] section, a settable clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from helpers import StationEnv, write_config

# a camera unlikely to be near any real dock: no device on this machine carries the label
NO_DEVICE_CAMERA = '[[cameras]]\nname = "test-cam"\nfs_labels = ["NO-SUCH-LABEL"]\n'


def make_station(root: Path, jobs: str = "") -> StationEnv:
    root.mkdir(parents=True, exist_ok=True)
    return StationEnv(root=root, config_path=write_config(root, extra=jobs,
                                                          camera=NO_DEVICE_CAMERA))


def with_jobs(station: StationEnv, jobs: str) -> StationEnv:
    """The same station with a [jobs] section appended to its config."""
    text = station.config_path.read_text()
    station.config_path.write_text(f"{text}\n{jobs}\n")
    return station


def ingest(station: StationEnv, camera: Path) -> dict[str, object]:
    result = station.run("ingest", str(camera), "--camera", "test-cam", "--json", check=True)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


class Clock:
    """A settable clock for Station.open(clock=...)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta

