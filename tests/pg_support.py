"""A real PostgreSQL 15 for the catalog's tests: one throwaway cluster per test session (started by
scripts/pg-up.sh on a free port, in a folder under pytest's basetemp, stopped by pg-down.sh), and a
fresh database for each test.

Import the fixtures into a test module (``from pg_support import pg_server, pg_url, pg_station``).
They skip, with the reason, only when the PostgreSQL binaries are missing.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import StationEnv, write_config

REPO = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
_names = itertools.count()


@dataclass(frozen=True)
class PgServer:
    base: str  # postgresql+psycopg://postgres@127.0.0.1:PORT (no database)
    port: int
    pid: int
    directory: Path

    def url(self, database: str) -> str:
        return f"{self.base}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement as the superuser (psql, autocommit); its output."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database,
                             autocommit=True) as connection:
            cursor = connection.execute(statement)  # type: ignore[arg-type]
            rows = cursor.fetchall() if cursor.description else []
        return "\n".join("|".join(str(v) for v in row) for row in rows)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _traversable(path: Path) -> None:
    """Let the 'postgres' OS user reach ``path`` (as root the server runs as it): add o+x, never
    o+r, to each folder above it that lacks it (pytest makes its basetemp 0700)."""
    for folder in [path, *path.parents]:
        mode = stat.S_IMODE(folder.stat().st_mode)
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    """A throwaway PostgreSQL 15 cluster on 127.0.0.1 for the whole session."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL is not installed ({PG_BIN}/initdb is missing; "
                    "scripts/setup.sh installs postgresql-15)")
    parent = tmp_path_factory.mktemp("pg")
    if os.geteuid() == 0:
        _traversable(parent)
    directory = parent / "cluster"
    env = {**os.environ, "PGD": str(directory), "PG_BIN": str(PG_BIN)}
    for attempt in range(3):  # a free port can be taken between the probe and the start
        port = _free_port()
        started = subprocess.run(["bash", str(REPO / "scripts" / "pg-up.sh")],
                                 env={**env, "PGPORT": str(port)}, capture_output=True,
                                 text=True, timeout=300, check=False)
        if started.returncode == 0:
            break
        if attempt == 2:
            pytest.fail(f"scripts/pg-up.sh failed:\n{started.stdout}\n{started.stderr}")
    pid = int(started.stdout.strip().rsplit("pid=", 1)[1])
    try:
        yield PgServer(base=f"postgresql+psycopg://postgres@127.0.0.1:{port}", port=port,
                       pid=pid, directory=directory)
    finally:
        subprocess.run(["bash", str(REPO / "scripts" / "pg-down.sh")], env=env,
                       capture_output=True, timeout=120, check=False)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A new, empty database on the session's server: its SQLAlchemy URL."""
    name = f"bodycam_{os.getpid()}_{next(_names)}"
    pg_server.sql(f"CREATE DATABASE {name}")
    return pg_server.url(name)


@pytest.fixture
def pg_station(tmp_path: Path, pg_url: str) -> StationEnv:
    """A station whose catalog is a new PostgreSQL database (state, store and keys on disk)."""
    return pg_station_at(tmp_path / "station", pg_url)


def pg_station_at(root: Path, url: str, extra: str = "") -> StationEnv:
    root.mkdir(parents=True)
    path = write_config(root, extra)
    text = re.sub(r'(?m)^database_url = .*\n', "", path.read_text())  # BODYCAM_TEST_CATALOG's
    path.write_text(text.replace(
        "free_space_reserve = 0", f'free_space_reserve = 0\ndatabase_url = "{url}"'))
    return StationEnv(root=root, config_path=path)
