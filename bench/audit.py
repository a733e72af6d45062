"""`bodycam audit` against `openssl dgst -sha256` run file after file, on three stores.

Usage: python bench/audit.py [--case big|many|catalog ...] [--repeat 3] [--workdir DIR] [--keep]

Cases (issue 14):

  big      2 GiB in 8 files: a simulated camera (`bodycam_ingest.sim.camera`, bulk mode: real MP4
           files of the requested size) ingested by `bodycam ingest` into a throwaway station
  many     100 files of 20 MB, made and ingested the same way
  catalog  20,000 recordings of 16 KiB each: the per-file overhead. Ingesting 20,000 files would
           take an hour (a probe and an analysis per file), so the catalog rows, the sightings of
           one finished dock and the stored files are written in bulk into the migrated schema
           and the dock's manifest is signed by the product (`custody.service`), as after a dock

Each is timed with the page cache warm for both contenders (a fair fight: the baseline is not
made to wait on a disk the audit already read), alternately, --repeat times:

- `bodycam audit --json --no-deadlines`, the real CLI (wall), twice: first with no daemon (the
  service account's CLI runs the audit in-process: interpreter, imports, station, audit, exit),
  then with the station's daemon running (`bodycam daemon` on the station's socket, started and
  stopped by pid as bench/cli.py does: the normal deployment, where the CLI is a thin client and
  the daemon has everything loaded); for each, the audit proper it reports (`seconds`: from the
  start of the API call's audit to the report), so the share of start-up is visible;
- `openssl dgst -sha256 FILE...` over every stored file, one process per 500 files, one after
  another: the sequential baseline (one process per file would add 20,000 process starts to the
  catalog case).

Prints best and median of each, CPU seconds (user + sys; the daemon's share read from /proc while
it serves), and the ratio baseline / audit (best of each) with the target (>= 1.5x on 2 cores,
quiet machine) and "ok"/"MISS", for the CLI via the daemon, the CLI in-process and the audit
proper (the daemon's `seconds`: in the in-process CLI the hashing starts before the station is
loaded, ahead of the call's own clock, so only its CLI wall time is compared); the load average
with each; a summary of every case's ratios at the end. The station's
config gets an `[access] socket` in its own directory (kept in --workdir).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bulk import BENCH_STATION, BulkLog, finish_bulk_dock, open_bulk  # noqa: E402  (bench/)
from bulk import ts as _ts  # noqa: E402

from bodycam_ingest.custody import keys  # noqa: E402
from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera  # noqa: E402

MB = 1_000_000
TARGET = 1.5
BODYCAM = [sys.executable, "-m", "bodycam_ingest"]
CASES = {"big": "2 GiB in 8 files", "many": "100 files of 20 MB",
         "catalog": "20,000 recordings of 16 KiB"}


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def write_config(work: Path) -> Path:
    state = work / "state"
    config = work / "config.toml"
    config.write_text(f"""
[station]
id = "bench-station"

[storage]
state_dir = "{state}"
free_space_reserve = 0

[[cameras]]
name = "bench-cam"
fs_labels = ["BODYCAM*"]
recordings = ["DCIM/**/*.MP4"]
""")
    keys.generate(state / "keys")
    return config


def ingested_station(work: Path, files: int, file_bytes: int) -> Path:
    camera = work / "camera"
    spec = CameraSpec(segments=files, seconds=1.0, bulk_bytes=file_bytes)
    print(f"building a camera: {files} file(s) of {file_bytes / MB:.0f} MB ...", flush=True)
    build_folder_camera(camera, spec)
    config = write_config(work)
    print("ingesting it into a throwaway station ...", flush=True)
    subprocess.run([*BODYCAM, "ingest", str(camera)], env=_env(config), check=True,
                   capture_output=True)
    shutil.rmtree(camera)
    return config


def catalog_station(work: Path, count: int, file_bytes: int) -> Path:
    """``count`` recordings of one finished dock, written in bulk; the product signs its manifest."""
    from bodycam_ingest.config import load_config
    from bodycam_ingest.custody import service
    from bodycam_ingest.ingest.store import relpath_for
    from bodycam_ingest.station import Station

    print(f"writing {count:,} recordings of {file_bytes // 1024} KiB in bulk ...", flush=True)
    config = write_config(work)
    state = work / "state"
    now = datetime.now(UTC)
    start = now - timedelta(seconds=1)  # a 1 s recording that ended at its ingest: clock start now
    rng = random.Random(14)
    log = BulkLog()  # the custody entries the journal writes: the audit replays them (issue 9)
    db = open_bulk(state, now, files=count, size=count * file_bytes, log=log)
    directories: set[Path] = set()
    for ident in range(1, count + 1):
        content = rng.randbytes(file_bytes)
        digest = hashlib.sha256(content).hexdigest()
        relpath = relpath_for(digest)
        path = state / "evidence" / relpath
        if path.parent not in directories:
            path.parent.mkdir(parents=True, exist_ok=True)
            directories.add(path.parent)
        path.write_bytes(content)
        path.chmod(0o444)
        camera_path = f"DCIM/100MEDIA/A1024_DSJ9X001_20261120{ident:06d}_0001.MP4"
        db.execute("INSERT INTO recordings (id, sha256, size, store_path, device_id, "
                   "first_dock_id, camera_path, ingested_at, name_officer, name_device, "
                   "start_utc, duration_s, zone, status, tier, clock_start, fixity_ok, "
                   "fixity_checked_at, station_id) VALUES (?, ?, ?, ?, 1, 1, ?, ?, 'A1024', "
                   "'DSJ9X001', ?, 1.0, 'Asia/Shanghai', 'ok', 'standard', ?, 1, ?, ?)",
                   (ident, digest, file_bytes, str(relpath), camera_path, _ts(now), _ts(start),
                    _ts(now), _ts(now), BENCH_STATION))
        db.execute("INSERT INTO sightings (recording_id, dock_id, device_id, camera_path, size, "
                   "seen_at, copied, station_id) VALUES (?, 1, 1, ?, ?, ?, 1, ?)",
                   (ident, camera_path, file_bytes, _ts(now), BENCH_STATION))
        log.ingested(now, ident, camera_path, digest, file_bytes)
    finish_bulk_dock(log, now)
    log.write(db)
    db.execute("COMMIT")
    db.close()
    station = Station.open(load_config(config), actor="bench")
    try:
        service.sign_pending_manifests(station)
        service.checkpoint(station)
    finally:
        station.catalog.close()
    return config


def _env(config: Path) -> dict[str, str]:
    return {**os.environ, "BODYCAM_CONFIG": str(config), "PYTHONPATH": str(ROOT)}


def _children_cpu() -> float:
    """CPU seconds (user + system) of the waited-for children so far: what load inflates least."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_audit(config: Path) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    result = subprocess.run([*BODYCAM, "audit", "--json", "--no-deadlines"], env=_env(config),
                            capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    report = json.loads(result.stdout) if result.returncode in (0, 9) else {}
    # bulk-mode media are flagged by the continuity analysis (their encodings differ); anything
    # else (fixity, manifests, the custody log) would mean the benchmark measured a broken store
    wrong = [f for f in report.get("findings", [{}]) if f.get("section") != "continuity"]
    if result.returncode not in (0, 9) or wrong:
        raise SystemExit(f"audit exited {result.returncode}:\n{result.stdout[:3000]}\n"
                         f"{result.stderr[-3000:]}")
    return elapsed, report


def time_openssl(files: list[Path]) -> float:
    started = time.perf_counter()
    for start in range(0, len(files), 500):
        subprocess.run(["openssl", "dgst", "-sha256", *map(str, files[start:start + 500])],
                       check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def start_daemon(work: Path, config: Path) -> subprocess.Popen[bytes]:
    """``bodycam daemon`` for the station (as bench/cli.py starts it), once it says it is ready."""
    log = work / "daemon.log"
    daemon = subprocess.Popen([*BODYCAM, "daemon"], env=_env(config), stdout=log.open("w"),
                              stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while "daemon ready" not in log.read_text():
        if daemon.poll() is not None or time.monotonic() > deadline:
            daemon.kill()
            raise SystemExit(f"the daemon did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return daemon


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a running process so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_socket(config: Path) -> None:
    """The station's API socket in its config (the daemon listens there, the CLI calls it)."""
    text = config.read_text()
    if "[access]" not in text:
        config.write_text(text + f'\n[access]\nsocket = "{config.parent / "api.sock"}"\n')


def timed_rounds(config: Path, stored: list[Path], repeat: int, daemon: int | None
                 ) -> tuple[list[float], list[float], list[float], list[float], list[float]]:
    """``repeat`` rounds of (bodycam audit, openssl), alternately: wall times, the audit
    proper, and CPU seconds (the CLI's, plus the daemon's share when it runs the audit)."""
    audits, inner, baselines, audit_cpu, openssl_cpu = [], [], [], [], []
    for _ in range(repeat):
        cpu = _children_cpu()
        served = _process_cpu(daemon) if daemon else 0.0
        elapsed, report = time_audit(config)
        audit_cpu.append(_children_cpu() - cpu + (_process_cpu(daemon) - served if daemon else 0))
        audits.append(elapsed)
        inner.append(float(report["seconds"]))
        cpu = _children_cpu()
        baselines.append(time_openssl(stored))
        openssl_cpu.append(_children_cpu() - cpu)
    return audits, inner, baselines, audit_cpu, openssl_cpu


def verdict(ratio: float) -> str:
    return f"{ratio:5.2f}x  target >= {TARGET}x  {'ok' if ratio >= TARGET else 'MISS'}"


def run_case(work: Path, case: str, repeat: int) -> dict[str, Any]:
    config = work / "config.toml"
    if not config.exists():
        work.mkdir(parents=True, exist_ok=True)
        if case == "big":
            ingested_station(work, 8, int(2 * 2**30 / 8 * 1.02))
        elif case == "many":
            ingested_station(work, 100, 20 * MB)
        else:
            catalog_station(work, 20_000, 16 * 1024)
    with_socket(config)
    stored = sorted(p for p in (work / "state" / "evidence" / "sha256").rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in stored)
    print(f"\n== {case}: {CASES[case]}: {len(stored):,} stored file(s), {total / 2**30:.2f} GiB; "
          f"cores {os.cpu_count()}; {load()}", flush=True)
    time_openssl(stored)  # warm the page cache for both contenders
    time_audit(config)
    # the CLI alone, no daemon: root or the service account runs the audit in-process
    alone = timed_rounds(config, stored, repeat, None)
    load_alone = load()
    daemon = start_daemon(work, config)
    try:  # the normal deployment: the CLI is a thin client of the running daemon
        time_audit(config)  # the daemon's first audit: its caches warm, as in service
        served = timed_rounds(config, stored, repeat, daemon.pid)
    finally:
        daemon.terminate()
        daemon.wait(timeout=120)
    load_served = load()
    baselines = alone[2] + served[2]
    openssl_best = min(baselines)
    rows = (("bodycam audit, CLI in-process (wall)", alone[0]),
            ("  of which the audit call (hashing began before)", alone[1]),
            ("bodycam audit, CLI via daemon (wall)", served[0]),
            ("  of which the audit proper", served[1]),
            ("openssl dgst -sha256, sequential", baselines))
    for name, runs in rows:
        best, median = min(runs), statistics.median(runs)
        print(f"  {name:50s} best {best:7.3f} s ({total / MB / best:6.0f} MB/s)   "
              f"median {median:7.3f} s")
    print(f"  CPU seconds (user+sys, median): audit in-process {statistics.median(alone[3]):.3f} "
          f"s, via daemon (CLI + daemon) {statistics.median(served[3]):.3f} s, openssl "
          f"{statistics.median(alone[4] + served[4]):.3f} s")
    ratios = {"in-process": openssl_best / min(alone[0]), "daemon": openssl_best / min(served[0]),
              "proper": openssl_best / min(served[1])}
    print(f"  openssl / bodycam audit, CLI in-process (wall): {verdict(ratios['in-process'])}"
          f"   ({load_alone})")
    print(f"  openssl / bodycam audit, CLI via daemon (wall): {verdict(ratios['daemon'])}"
          f"   ({load_served})")
    print(f"  openssl / audit proper (the daemon's seconds):  {verdict(ratios['proper'])}")
    print(f"  CLI start-up and wrap-up (wall - audit proper, median): in-process "
          f"{statistics.median(a - i for a, i in zip(alone[0], alone[1], strict=True)):.3f} s, "
          f"via daemon "
          f"{statistics.median(a - i for a, i in zip(served[0], served[1], strict=True)):.3f} s",
          flush=True)
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), action="append")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the stations here and reuse them on the next run")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-audit-", dir="/var/tmp"))
    try:
        summary = {case: run_case(work / case, case, args.repeat)
                   for case in args.case or ["big", "many", "catalog"]}
        print(f"\nsummary (openssl / bodycam audit, best of each; target >= {TARGET}x; {load()}):")
        for case, ratios in summary.items():
            print(f"  {case:8s} CLI via daemon {ratios['daemon']:5.2f}x, CLI in-process "
                  f"{ratios['in-process']:5.2f}x, audit proper {ratios['proper']:5.2f}x")
        return 0
    finally:
        if args.keep or args.workdir:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
