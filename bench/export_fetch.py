"""Fetching an approved export over the daemon's socket, as a real OS user (needs root).

Usage: sudo python bench/export_fetch.py [--mib 100]

Builds a station under /tmp with two recordings of ``--mib`` MiB each (stream-copied noise, no
x264 of large files), maps an OS user to a custodian account, and through a running daemon: the
custodian requests an export, a supervisor account approves it (in-process dispatch: the package
is built then), and the custodian runs ``bodycam requests fetch``. Prints the package size, the
build and fetch times, the fetch rate, the client's peak RSS (``/usr/bin/time -v``) and the
daemon's (``VmHWM``): both stay bounded by the chunk size (``exports.chunk``), not the package.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from access_support import (  # the tests' helpers for OS users and the daemon
    REPO,
    add_account,
    approve_request,
    cleanup_station,
    ensure_user,
    public_station,
    run_as,
    running_daemon,
)

from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=100)
    args = parser.parse_args()
    station = public_station("bodycam-bench-")
    try:
        camera = station.root / "cam"
        local = datetime.now().replace(microsecond=0) - timedelta(minutes=10)
        build_folder_camera(camera, replace(CameraSpec(), segments=2, seconds=10.0, start=local,
                                            bulk_bytes=args.mib * 2**20))
        station.run("ingest", str(camera), check=True)
        clerk = ensure_user("benchclerk")
        add_account(station, "bench.clerk", ["custodian"], os_user=clerk.pw_name)
        env = {"PYTHONPATH": str(REPO)}
        with running_daemon(station) as daemon:
            made = json.loads(run_as(clerk.pw_name, station, "export", "1", "2", "--recipient",
                                     "court", "--reason", "bench", "--json", env=env).stdout)
            started = time.monotonic()
            approve_request(station, made["request"]["id"])
            build = time.monotonic() - started
            dest = station.root / "out"
            dest.mkdir()
            os.chown(dest, clerk.pw_uid, -1)
            started = time.monotonic()
            fetched = subprocess.run(
                ["/usr/bin/time", "-v", "runuser", "-u", clerk.pw_name, "--", "env",
                 f"PYTHONPATH={REPO}", f"BODYCAM_CONFIG={station.config_path}", sys.executable,
                 "-m", "bodycam_ingest", "requests", "fetch", str(made["request"]["id"]),
                 "--to", str(dest)], capture_output=True, text=True, cwd="/", check=True)
            fetch = time.monotonic() - started
            daemon_peak = next(line.split()[1] for line in
                               Path(f"/proc/{daemon.pid}/status").read_text().splitlines()
                               if line.startswith("VmHWM"))
        size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) / 2**20
        client_peak = next(line.split()[-1] for line in fetched.stderr.splitlines()
                           if "Maximum resident" in line)
        print(f"package {size:.0f} MiB: build {build:.1f} s, fetch {fetch:.1f} s "
              f"({size / fetch:.0f} MiB/s); peak RSS client {int(client_peak) // 1024} MiB, "
              f"daemon {int(daemon_peak) // 1024} MiB")
    finally:
        cleanup_station(station)


if __name__ == "__main__":
    main()
