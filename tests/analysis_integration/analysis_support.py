"""Helpers for the end-to-end continuity tests: cameras made of corpus clips, CLI JSON, SQL."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import StationEnv

MEDIA = ("DCIM", "100MEDIA")


@dataclass(frozen=True)
class CorpusFiles:
    cut: Path  # 4 s recording with 1.3 s cut out at 1.2 s, timestamps left with the hole
    cut_at: float
    truncated: Path  # its last 300 bytes missing (inside the index)


def camera_of(files: list[Path], dest: Path) -> Path:
    """A folder camera holding ``files`` (names and mtimes kept, as the camera left them)."""
    media = dest.joinpath(*MEDIA)
    media.mkdir(parents=True, exist_ok=True)
    for item in files:
        shutil.copy2(item, media / item.name)
    return dest


def run_json(station: StationEnv, *args: str) -> Any:
    return json.loads(station.run(*args, "--json", check=True).stdout)


def sql(station: StationEnv, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(station.db) as db:
        return db.execute(query).fetchall()


def ingest(station: StationEnv, camera: Path, *, expect: int = 0) -> dict[str, Any]:
    result = station.run("ingest", str(camera), "--json")
    assert result.returncode == expect, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout)
    return report
