"""How long a custodian waits for the CLI: start-up, `list` and `show` on a 10,000-recording station.

Usage: python bench/cli.py [--runs 10] [--size 10000] [--workdir DIR] [--keep] [--importtime N]

Builds a station of --size recordings with bulk INSERTs into the migrated schema (the builder of
bench/retention.py: no media, 10 % of the recordings with a tiny stored file), then runs each
command --runs times, in turn, beside the floors run in the same script (`python3 -c pass`: the
interpreter alone; `sqlite3 CATALOG 'select count(*) from recordings'`: the database alone). For
each command it prints the median and the best wall time, the median and the best CPU time (user
+ sys of the child, from `getrusage(RUSAGE_CHILDREN)`), the 1-minute load average when its runs
started, and the targets of issue 14 with "ok" or "MISS" on the median wall time and, in
brackets, on the median CPU time (on a loaded machine the wall time is mostly waiting for a core;
the CPU time is what the command costs):

  bodycam --help            < 0.15 s
  bodycam --version         < 0.15 s   ("n/a" while the command has no --version)
  bodycam list              < 0.35 s   (10,000-recording station)
  bodycam show ID           < 0.35 s

`bodycam` is `python -m bodycam_ingest` from this tree (PYTHONPATH), the way the venv's console
script runs it; output goes to /dev/null (a pipe or file: the rich-free tables of cli.plain).
The station's daemon runs while the targets are timed: a person's command goes to it over the
local API socket (the product's normal path; the daemon has everything loaded). The same `list`
and `show` are then timed again with the daemon stopped, as root runs them in-process (recovery,
a stopped station), for comparison (no target). With --importtime N it also prints the N slowest
imports (cumulative, from `python -X importtime -m bodycam_ingest list` through the daemon).
The load average is printed before and after: the machine is shared, so compare only figures
from one run.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

BODYCAM = [sys.executable, "-m", "bodycam_ingest"]
TARGETS = {"bodycam --help": 0.15, "bodycam --version": 0.15, "bodycam list": 0.35,
           "bodycam show ID": 0.35}


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def build(work: Path, size: int) -> Path:
    from retention import build as build_station  # bench/retention.py

    station = work / f"station-{size}"
    if not (station / "config.toml").exists():
        print(f"building a {size:,}-recording station in {station} ...", flush=True)
        build_station(station, size, 0.10, datetime.now(UTC))
    return station


def time_runs(argv: list[str], env: dict[str, str], runs: int
              ) -> list[tuple[float, float]] | None:
    """(wall seconds, CPU seconds: user + sys of the child and anything it waited for) of each
    run; None when the command fails (e.g. an option that does not exist yet)."""
    times: list[tuple[float, float]] = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              check=False)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        times.append((wall, cpu))
        if done.returncode != 0:
            return None
    return times


def importtime(env: dict[str, str], top: int) -> None:
    done = subprocess.run([*BODYCAM[:1], "-X", "importtime", *BODYCAM[1:], "list"], env=env,
                          capture_output=True, text=True, check=False)
    rows: list[tuple[int, int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line.split(":", 1)[1].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append((int(cumulative_us), int(self_us), f"{name.strip()} (depth {depth})"))
    total = max((r[0] for r in rows), default=0)
    print(f"\n-X importtime of `bodycam list` (daemon running): {len(rows)} modules, "
          f"{total / 1e6:.2f} s cumulative at the top; the {top} slowest (cumulative, self):")
    for cumulative, own_us, module in sorted(rows, reverse=True)[:top]:
        print(f"  {cumulative / 1e3:8.1f} ms {own_us / 1e3:7.1f} ms  {module}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--importtime", type=int, default=0, metavar="N")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bodycam-bench-cli-", dir="/var/tmp"))
    try:
        station = build(work, args.size)
        config = station / "config.toml"
        if "[access]" not in config.read_text():
            socket = station / "api.sock"
            config.write_text(config.read_text() + f'\n[access]\nsocket = "{socket}"\n')
        env = {**os.environ, "BODYCAM_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
        catalog = station / "state" / "catalog.sqlite3"
        middle = str(max(1, args.size // 2))
        commands: list[tuple[str, list[str]]] = [
            ("python3 -c pass", [sys.executable, "-c", "pass"]),
            ("sqlite3 CATALOG 'select count(*)'", ["sqlite3", str(catalog),
                                                    "select count(*) from recordings"]),
            ("bodycam --help", [*BODYCAM, "--help"]),
            ("bodycam --version", [*BODYCAM, "--version"]),
            ("bodycam list", [*BODYCAM, "list"]),
            ("bodycam show ID", [*BODYCAM, "show", middle]),
        ]
        if shutil.which("sqlite3") is None:
            print("note: no sqlite3 CLI (apt-get install sqlite3): its floor is skipped")
            commands = [c for c in commands if not c[0].startswith("sqlite3")]
        print(f"{args.size:,} recordings; {args.runs} runs each; cores {os.cpu_count()}; "
              f"{load()}")
        for _name, argv in commands:  # one warm-up each: the page cache, not the first fork
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=False)
        daemon = start_daemon(station, env)
        print(HEADER)
        try:
            table(commands, env, args.runs)
            if args.importtime:
                importtime(env, args.importtime)
        finally:
            daemon.terminate()
            daemon.wait(timeout=120)
        print("with the daemon stopped (root, in-process):")
        print(HEADER)
        table([(f"{name} (in-process)", argv) for name, argv in commands
               if name in ("bodycam list", "bodycam show ID")], env, args.runs)
        print(load())
        return 0
    finally:
        if args.keep or args.workdir:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def start_daemon(station: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = station / "daemon.log"
    daemon = subprocess.Popen([*BODYCAM, "daemon"], env=env, stdout=log.open("w"),
                              stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while "daemon ready" not in log.read_text():
        if daemon.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the daemon did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return daemon


HEADER = (f"{'command':36s} {'wall median':>11s} {'best':>7s} {'CPU median':>10s} {'best':>7s}"
          f"  {'load':>5s}  target")


def table(commands: list[tuple[str, list[str]]], env: dict[str, str], runs_each: int) -> None:
    """One line per command: wall and CPU time (median, best), the 1-minute load average when
    the command's runs started, the target with ok/MISS on the median wall time, and what the
    CPU time alone says (on a loaded machine the wall time is mostly waiting for a core)."""
    for name, argv in commands:
        load_1m = os.getloadavg()[0]
        runs = time_runs(argv, env, runs_each)
        target = TARGETS.get(name)
        if runs is None:
            print(f"{name:36s} {'n/a':>11s} {'':>7s} {'':>10s} {'':>7s}  {load_1m:5.2f}  "
                  + (f"< {target:.2f} s  n/a (the command fails: not there yet)" if target
                     else ""))
            continue
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        verdict = "" if target is None else (
            f"< {target:.2f} s  {'ok' if wall < target else 'MISS'}"
            f" (CPU {'ok' if cpu < target else 'MISS'})")
        print(f"{name:36s} {wall:11.3f} {min(w for w, _ in runs):7.3f} {cpu:10.3f} "
              f"{min(c for _, c in runs):7.3f}  {load_1m:5.2f}  {verdict}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
