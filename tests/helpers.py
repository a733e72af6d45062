"""Test helpers shared by modules (import from here, not from conftest, which pytest may shadow)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bodycam_ingest.config import Config, load_config

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


def start_daemon(station: StationEnv) -> tuple[subprocess.Popen[str], Path]:
    """``bodycam daemon`` for ``station``, returned once it logs "daemon ready" (its socket and
    console answer by then), with its log file."""
    import time

    log = station.root / "daemon.log"
    proc = subprocess.Popen([*BODYCAM, "daemon"], text=True, stdout=log.open("w"),
                            stderr=subprocess.STDOUT,
                            env={**os.environ, "BODYCAM_CONFIG": str(station.config_path)})
    deadline = time.monotonic() + 60
    while "daemon ready" not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return proc, log


def write_config(root: Path, extra: str = "", *, camera: str | None = None,
                 station_key: bool = True) -> Path:
    """A station config in ``root``; with ``station_key`` the station's signing key is created in
    ``<state>/keys`` as ``bodycam keys init`` would (every dock signs a manifest with it)."""
    state = root / "state"
    if station_key and not (state / "keys" / "station.key").exists():
        from bodycam_ingest.custody import keys

        keys.generate(state / "keys")
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
free_space_reserve = 0{_test_catalog()}

[ingest]
settle_seconds = 0.5
{extra}
{camera}
[access]
socket = "{root / 'api' / 'api.sock'}"
""")
    return path


TEST_CATALOG = "BODYCAM_TEST_CATALOG"


def _test_catalog() -> str:
    """By hand, not in CI: with ``BODYCAM_TEST_CATALOG=postgresql+psycopg://postgres@HOST:PORT``
    (a server from scripts/pg-up.sh) every station a test writes gets a new database there instead
    of its SQLite file, to see which tests pass on PostgreSQL (README: Tests and benchmarks)."""
    base = os.environ.get(TEST_CATALOG)
    if not base:
        return ""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://") + "/postgres",
                         autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    return f'\ndatabase_url = "{base}/{name}"'


def copy_test_catalog(config: Path) -> None:
    """After a station folder was copied: under BODYCAM_TEST_CATALOG its catalog is a database on
    the server, not a file in the folder, so give the copy a copy of it (CREATE DATABASE ...
    TEMPLATE) and point the copied config at it. Nothing to do for SQLite."""
    import re
    import uuid

    text = config.read_text()
    found = re.search(r'(?m)^database_url = "(postgresql\+psycopg://[^"]+)/([A-Za-z0-9_]+)"$', text)
    if found is None:
        return
    import psycopg

    base, source = found.groups()
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://") + "/postgres",
                         autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name} TEMPLATE {source}")  # type: ignore[arg-type]
    config.write_text(text.replace(found.group(0), f'database_url = "{base}/{name}"'))
