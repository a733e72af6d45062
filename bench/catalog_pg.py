"""What a write transaction costs on the shared PostgreSQL catalog beside SQLite, in one process.

Usage: python bench/catalog_pg.py [--transactions 300] [--workdir DIR]

Starts a throwaway PostgreSQL 15 (scripts/pg-up.sh, a free port, fsync off as in the tests: the
server's durability is its administrator's, so this is the protocol's and the locks' cost, not a
disk's), migrates an empty catalog on it and one on SQLite (WAL, synchronous=FULL), then times on
each, in turn, --transactions units of work of the kind every command ends with: one custody-log
entry appended (the chain head locked, the entry hashed and inserted, committed). On PostgreSQL
it runs them with the catalog's writer lock (pg_advisory_xact_lock at BEGIN, what the product
does) and without it, so the lock's own cost shows. Then a read: 300 `SELECT count(*)` of the log.

Prints per-transaction wall time (median and best), this process's CPU time (user+sys, the
psycopg/SQLAlchemy side; the server's is not in it), the ratio PG/SQLite, and the load average
before and after. No target: issue 12 sets none for the catalog; the figure is for sizing.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, text  # noqa: E402

from bodycam_ingest.catalog import db  # noqa: E402
from bodycam_ingest.catalog.events import record_event  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def timed(n: int, unit: Callable[[int], None]) -> tuple[list[float], float]:
    walls = []
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(n):
        started = time.perf_counter()
        unit(i)
        walls.append(time.perf_counter() - started)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return walls, cpu


def appender(catalog: db.Catalog) -> Callable[[int], None]:
    def unit(i: int) -> None:
        with catalog.session() as session:
            record_event(session, at=datetime.now(UTC), actor="os:bench", action="bench",
                         subject=f"unit {i}", details={"i": i})
    return unit


def reader(catalog: db.Catalog) -> Callable[[int], None]:
    def unit(_i: int) -> None:
        with catalog.reading() as session:
            session.execute(text("SELECT count(*) FROM events")).scalar()
    return unit


def report(name: str, walls: list[float], cpu: float, base: float | None) -> float:
    median = statistics.median(walls)
    ratio = f"  {median / base:5.2f}x SQLite" if base else ""
    print(f"  {name:<34} median {median * 1000:7.2f} ms  best {min(walls) * 1000:7.2f} ms  "
          f"cpu {cpu / len(walls) * 1000:6.2f} ms/tx{ratio}")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=300)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pg-", dir=args.workdir))
    work.chmod(0o755)  # as root the server runs as 'postgres' and must reach its folder
    pgd = work / "pg"
    env = {**os.environ, "PGD": str(pgd), "PGPORT": str(free_port())}
    print(f"load average before: {load()}")
    up = subprocess.run(["bash", str(ROOT / "scripts" / "pg-up.sh")], env=env, text=True,
                        capture_output=True, check=True).stdout.strip()
    port = up.split(":")[-1].split("/")[0]
    try:
        subprocess.run(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/psql",
                        "-q", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-c",
                        "CREATE DATABASE bench"] if os.geteuid() == 0 else
                       ["/usr/lib/postgresql/15/bin/psql", "-q", "-h", "127.0.0.1", "-p", port,
                        "-U", "postgres", "-c", "CREATE DATABASE bench"], check=True)
        sqlite = db.open_catalog(f"sqlite:///{work / 'catalog.sqlite3'}", lock_dir=work,
                                 station_id="bench")
        pg = db.open_catalog(f"postgresql+psycopg://postgres@127.0.0.1:{port}/bench",
                             station_id="bench")
        n = args.transactions
        print(f"{n} write transactions (one custody-log entry each), then {n} reads:")
        walls, cpu = timed(n, appender(sqlite))
        base = report("SQLite (WAL, synchronous=FULL)", walls, cpu, None)
        walls, cpu = timed(n, appender(pg))
        report("PostgreSQL, writer lock (product)", walls, cpu, base)
        event.remove(pg.engine, "begin", db._pg_begin_serialized)
        walls, cpu = timed(n, appender(pg))
        report("PostgreSQL, no writer lock", walls, cpu, base)
        walls, cpu = timed(n, reader(sqlite))
        rbase = report("SQLite read", walls, cpu, None)
        walls, cpu = timed(n, reader(pg))
        report("PostgreSQL read", walls, cpu, rbase)
        sqlite.close()
        pg.close()
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "pg-down.sh")], env=env, check=False)
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
