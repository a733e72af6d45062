"""Shared fixtures: a station in a temp dir, the CLI as a subprocess, and a thread-leak guard."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from conftest_media import *  # noqa: E402,F403  (camera and loop-device fixtures)

from bodycam_ingest.config import Config, load_config  # noqa: E402

BODYCAM = [sys.executable, "-m", "bodycam_ingest"]


@dataclass
class StationEnv:
    root: Path
    config_path: Path

    @property
    def config(self) -> Config:
        return load_config(self.config_path)

    @property
    def db(self) -> Path:
        return self.root / "state" / "catalog.sqlite3"

    @property
    def store(self) -> Path:
        return self.root / "state" / "evidence"

    @property
    def staging(self) -> Path:
        return self.root / "state" / "staging"

    def run(self, *args: str, check: bool = False, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "BODYCAM_CONFIG": str(self.config_path), **(env or {})}
        result = subprocess.run([*BODYCAM, *args], capture_output=True, text=True,
                                timeout=timeout, env=full_env, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"bodycam {' '.join(args)} exited {result.returncode}\n"
                                 f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def stored_files(self) -> list[Path]:
        base = self.store / "sha256"
        return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []


def write_config(root: Path, extra: str = "", *, camera: str | None = None) -> Path:
    state = root / "state"
    camera = camera if camera is not None else """
[[cameras]]
name = "test-cam"
fs_labels = ["BODYCAM*"]
recordings = ["DCIM/**/*.MP4"]
"""
    path = root / "config.toml"
    path.write_text(f"""
[station]
id = "test-station"

[storage]
state_dir = "{state}"
free_space_reserve = 0

[ingest]
settle_seconds = 0.5
{extra}
{camera}
""")
    return path


@pytest.fixture
def station(tmp_path: Path) -> StationEnv:
    root = tmp_path / "station"
    root.mkdir()
    return StationEnv(root=root, config_path=write_config(root))


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    """Fail any test that leaves a thread running (watchdog's habit)."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()
              and not t.daemon]
    for thread in leaked:
        thread.join(timeout=5)
    leaked = [t.name for t in leaked if t.is_alive()]
    assert not leaked, f"threads leaked: {leaked}"
