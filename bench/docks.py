"""The daemon with 20 cameras docked at once: wall time, throughput against `cp`, memory, descriptors.

Usage: python bench/docks.py [--cameras 20] [--rounds 5] [--segments 2] [--mb 8]
                             [--concurrent 4] [--workdir DIR] [--keep]

Starts `bodycam daemon` (the real one, a subprocess) on a throwaway station whose only camera
source is a watch folder (`ingest.watch_folders`, `max_concurrent_docks` --concurrent; the camera
rule's label matches no real device, so other people's loop devices are left alone). Builds
--cameras x --rounds simulated cameras (`bodycam_ingest.sim.camera`, bulk mode: --segments real
MP4 files of ~--mb MB each, every camera different), then per round moves --cameras of them into
the watch folder at once (a rename each: they appear together, as cameras docked together) and
waits until the catalog has a finished dock for each.

Reports, with the targets of issue 14 and "ok"/"MISS":

- per round: wall time from the moves to the last finished dock, MB/s;
- round 1 against `cp -r` of the same camera folders, all at once (one `cp` per camera, in
  parallel) followed by `sync`: the durable-copy floor for the same bytes;
- the daemon's peak RSS (`VmHWM` of the process; target < 200 MB) and its RSS once idle;
- its open file descriptors (`/proc/PID/fd`) once idle after each round: no growth from the first
  round to the last (target: after 100 docks, no more than after 20);
- the load average before and after (the machine is shared).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bodycam_ingest.custody import keys  # noqa: E402
from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera  # noqa: E402

MB = 1_000_000
RSS_TARGET_MB = 200.0


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def write_config(work: Path, concurrent: int) -> Path:
    state = work / "state"
    (work / "watch").mkdir(parents=True, exist_ok=True)
    config = work / "config.toml"
    config.write_text(f"""
[station]
id = "bench-docks"

[storage]
state_dir = "{state}"
free_space_reserve = 0

[ingest]
max_concurrent_docks = {concurrent}
settle_seconds = 0.5
watch_folders = [{{ path = "{work / 'watch'}", camera = "bench-cam" }}]

[[cameras]]
name = "bench-cam"
fs_labels = ["BENCHDOCKS-NO-SUCH-LABEL"]
recordings = ["DCIM/**/*.MP4"]
""")
    keys.generate(state / "keys")
    return config


def build_cameras(where: Path, count: int, segments: int, mb: float) -> list[Path]:
    where.mkdir(parents=True, exist_ok=True)
    base = CameraSpec(segments=segments, seconds=1.0, bulk_bytes=int(mb * MB))

    def one(index: int) -> Path:
        camera = where / f"cam{index:03d}"
        if not camera.exists():
            spec = replace(base, device=f"DSJ9X{index:03d}", officer=f"A{1000 + index}",
                           start=datetime(2026, 11, 20, 9, 0, 0).replace(minute=index % 60))
            partial = where / f".cam{index:03d}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            build_folder_camera(partial, spec)
            partial.rename(camera)
        return camera

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(one, range(count)))


def tree_bytes(paths: list[Path]) -> int:
    return sum(p.stat().st_size for root in paths for p in root.rglob("*") if p.is_file())


def time_cp(cameras: list[Path], dest: Path) -> float:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    subprocess.run(["sync"], check=True)
    started = time.perf_counter()
    procs = [subprocess.Popen(["cp", "-r", str(c), str(dest / c.name)]) for c in cameras]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit("cp failed")
    subprocess.run(["sync"], check=True)
    elapsed = time.perf_counter() - started
    shutil.rmtree(dest, ignore_errors=True)
    return elapsed


class Sampler(threading.Thread):
    """The daemon's RSS and descriptor count every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.peak_fds = 0

    def fds(self) -> int:
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return 0

    def targets(self) -> list[str]:
        """What each open descriptor points at (a file, socket:[...], pipe:[...], anon_inode)."""
        names: list[str] = []
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{self.pid}/fd"):
                with contextlib.suppress(OSError):
                    names.append(os.readlink(f"/proc/{self.pid}/fd/{fd}"))
        return sorted(names)

    def status(self, field: str) -> float:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak_fds = max(self.peak_fds, self.fds())


def finished_docks(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM docks WHERE outcome IS NOT NULL")
                       .fetchone()[0])
    except sqlite3.Error:
        return 0


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--segments", type=int, default=2)
    parser.add_argument("--mb", type=float, default=8.0)
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bodycam-bench-docks-", dir="/var/tmp"))
    daemon: subprocess.Popen[bytes] | None = None
    try:
        print(f"building {args.cameras * args.rounds} cameras of {args.segments} x {args.mb:.0f} MB"
              " ...", flush=True)
        cameras = build_cameras(work / "cameras", args.cameras * args.rounds, args.segments,
                                args.mb)
        station = work / "station"
        shutil.rmtree(station, ignore_errors=True)
        config = write_config(station, args.concurrent)
        db = station / "state" / "catalog.sqlite3"
        first = cameras[:args.cameras]
        size = tree_bytes(first)
        print(f"{args.cameras} cameras per round, {size / MB:.0f} MB per round; max_concurrent_docks "
              f"{args.concurrent}; cores {os.cpu_count()}; {load()}", flush=True)
        cp_runs = [time_cp(first, work / "cp-dest") for _ in range(2)]
        log = (station / "daemon.log").open("wb")
        daemon = subprocess.Popen([sys.executable, "-m", "bodycam_ingest", "daemon"],
                                  env={**os.environ, "BODYCAM_CONFIG": str(config),
                                       "PYTHONPATH": str(ROOT)},
                                  stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: b"daemon ready" in (station / "daemon.log").read_bytes(), 60,
                 "the daemon to start")
        time.sleep(1.0)
        sampler = Sampler(daemon.pid)
        sampler.start()
        print(f"daemon {daemon.pid} ready: RSS {sampler.status('VmRSS'):.0f} MB, "
              f"{sampler.fds()} open descriptors", flush=True)
        walls: list[float] = []
        idle_fds: list[int] = []
        first_targets: list[str] = []
        for round_ in range(args.rounds):
            batch = cameras[round_ * args.cameras:(round_ + 1) * args.cameras]
            batch_bytes = tree_bytes(batch)
            subprocess.run(["sync"], check=True)
            target = args.cameras * (round_ + 1)
            started = time.perf_counter()
            for camera in batch:
                camera.rename(station / "watch" / camera.name)
            wait_for(lambda t=target: finished_docks(db) >= t, 1800, f"{target} finished docks")
            walls.append(time.perf_counter() - started)
            time.sleep(2.0)  # idle: the settle timers and the job scheduler quiet down
            idle_fds.append(sampler.fds())
            if round_ == 0:
                first_targets = sampler.targets()
            print(f"round {round_ + 1}: {args.cameras} docks in {walls[-1]:.2f} s "
                  f"({batch_bytes / MB / walls[-1]:.0f} MB/s); "
                  f"idle: RSS {sampler.status('VmRSS'):.0f} MB, {idle_fds[-1]} descriptors; "
                  f"peak RSS so far {sampler.status('VmHWM'):.0f} MB; {load()}", flush=True)
        peak = sampler.status("VmHWM")
        sampler.stop.set()
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            outcomes = dict(conn.execute("SELECT outcome, count(*) FROM docks GROUP BY outcome")
                            .fetchall())
        cp_best = min(cp_runs)
        print(f"\ndock outcomes: {outcomes}")
        print(f"cp -r (one per camera, all at once) && sync: best {cp_best:.2f} s "
              f"({size / MB / cp_best:.0f} MB/s), runs {', '.join(f'{r:.2f}' for r in cp_runs)}")
        print(f"daemon, round 1: {walls[0]:.2f} s ({size / MB / walls[0]:.0f} MB/s); median of "
              f"{len(walls)} rounds {statistics.median(walls):.2f} s; daemon / cp throughput "
              f"{cp_best / walls[0]:.2f}x (round 1), {cp_best / statistics.median(walls):.2f}x "
              "(median round)")
        print(f"daemon peak RSS {peak:.0f} MB  target < {RSS_TARGET_MB:.0f} MB  "
              f"{'ok' if peak < RSS_TARGET_MB else 'MISS'}")
        grew = idle_fds[-1] - idle_fds[0]
        print(f"open descriptors once idle after each round: {idle_fds} (peak while docking "
              f"{sampler.peak_fds}); after {args.cameras * args.rounds} docks vs after "
              f"{args.cameras}: {grew:+d}  target: no growth  {'ok' if grew <= 0 else 'MISS'}")
        last_targets = sampler.targets()
        before, after = Counter(first_targets), Counter(last_targets)
        for sign, items in (("+", after - before), ("-", before - after)):
            for item, n in sorted(items.items()):
                print(f"  {sign} {item}" + (f" (x{n})" if n > 1 else ""))
        print(load())
        return 0
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                daemon.kill()
        watch = work / "station" / "watch"
        if (args.keep or args.workdir) and watch.is_dir():  # the cameras, for the next run
            for camera in watch.iterdir():
                camera.rename(work / "cameras" / camera.name)
        if args.keep or args.workdir:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
