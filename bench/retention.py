"""`bodycam retention plan` and a retention run over a catalog of 1,000,000 recordings (SQLite).

Usage: python bench/retention.py [--size 1000000] [--deletable 0.10] [--workdir DIR] [--keep] [--plan-only]
                                 [--no-small]

Builds, with bulk INSERTs straight into the migrated schema (the catalog is opened with
``open_catalog`` first so Alembic creates it), a station whose recordings' clock starts are
spread over four years before now:

- older than two years plus the grace: ``--deletable`` of the whole catalog is standard tier and
  was marked due eight days ago by an earlier sweep (so a run deletes it now); each of those has
  a real 24-byte stored file at its content address with its real SHA-256 (a run re-hashes every
  copy before deleting it); 0.5 % of them are under a legal hold, 1 % are labelled into cases, a
  tenth of which have a long_term tier (kept); the other old recordings are evidence or long_term;
- younger: mostly standard (a few between 730 and 740 days old become newly due in the run).

Each measurement runs in a fresh subprocess, so its peak RSS (``VmHWM``) is its own:

  idle         open the station (interpreter, imports, migration check): the RSS floor
  floor        the baselines, each in the same process as a station:
               ``SELECT count(*)``, a bare sqlite3 loop over the candidate rows, a bare sqlite3
               loop over every row (the full-table loop the product must not do)
  plan         ``retention.service.make_plan`` in-process (the plan in memory, for the table)
  plan-json    ``retention.plan_json.write_plan_json`` over ``service.streamed_plan`` to /dev/null
  plan (CLI)   ``bodycam retention plan --json > /dev/null``, wall time of the subprocess
  run          ``retention.service.run_sweep``: deletes ~10 % (re-hash, tombstone, custody entry,
               file removal, one signed deletion manifest)
  plan after   the plan again once they are deleted: the same catalog, a small answer

By default the whole thing is done at --size/10 as well, to show how time and memory scale.
Targets (issue 14): the plan at most 4x the bare sqlite3 candidate loop; `--json` streamed, memory
bounded by a batch, not by the answer; the CLI plan at most 1 s more than the in-process one
(`plan-json` below: the same streamed writer, to /dev/null). No full-table Python loops.
--plan-only skips the run, so a kept --workdir can be measured again without rebuilding it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bulk import BENCH_STATION, open_bulk  # noqa: E402  (bench/)
from bulk import ts as _ts  # noqa: E402

BODYCAM = [sys.executable, "-m", "bodycam_ingest"]
DAY = timedelta(days=1)
TARGET_RATIO = 4.0  # issue 14: plan at most 4x the bare sqlite3 loop over the candidate rows
TARGET_CLI_S = 1.0  # issue 14: the CLI plan at most 1 s more than the in-process one




def _rss_mib() -> float:
    """This process image's peak RSS: ``VmHWM`` (``ru_maxrss`` would include the parent's RSS
    at fork time, which Linux carries across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    """This process's CPU seconds (user + system): what the load on a shared machine inflates
    least (wall time waits for a core, CPU time does not)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_config(station: Path) -> Path:
    config = station / "config.toml"
    config.write_text(f"""
[station]
id = "bench-station"

[storage]
state_dir = "{station / 'state'}"
free_space_reserve = 0

[[cameras]]
name = "bench-cam"
fs_labels = ["BODYCAM*"]
recordings = ["DCIM/**/*.MP4"]
""")
    return config


def build(station: Path, size: int, deletable: float, now: datetime) -> dict[str, Any]:
    """The catalog and the stored files of the deletable recordings; returns what was made."""
    from bodycam_ingest.catalog.db import open_catalog
    from bodycam_ingest.custody import keys
    from bodycam_ingest.ingest.store import relpath_for

    started = time.monotonic()
    station.mkdir(parents=True)
    write_config(station)
    state = station / "state"
    keys.generate(state / "keys")
    open_catalog(f"sqlite:///{state / 'catalog.sqlite3'}").close()
    store = state / "evidence"
    rng = random.Random(20261122)
    old_age = 740  # days: past 2 calendar years plus the 7-day grace, whatever the leap days
    span = 4 * 365
    p_old = (span - old_age) / span
    p_deletable = min(1.0, deletable / p_old)
    db = open_bulk(state, now, fast=True)
    rows: list[tuple[Any, ...]] = []
    holds: list[tuple[Any, ...]] = []
    labels: list[tuple[Any, ...]] = []
    made = {"recordings": size, "deletable": 0, "held": 0, "long_term_case": 0, "files": 0}
    due = _ts(now - 8 * DAY)
    directories: set[Path] = set()
    insert = ("INSERT INTO recordings (id, sha256, size, store_path, device_id, first_dock_id, "
              "camera_path, ingested_at, name_officer, name_device, start_utc, duration_s, zone, "
              "status, tier, tier_reason, clock_start, due_since, station_id) VALUES "
              "(?, ?, ?, ?, 1, 1, ?, ?, ?, 'DSJ9X001', ?, 600.0, 'Asia/Shanghai', 'ok', ?, ?, ?, ?, "
              f"'{BENCH_STATION}')")
    for ident in range(1, size + 1):
        age = timedelta(days=rng.random() * span)
        clock = now - age
        old = age.days >= old_age
        tier, reason, due_since = "standard", None, None
        if old:
            if rng.random() < p_deletable:
                due_since = due
            else:
                tier, reason = (("evidence", "case file") if rng.random() < 0.7
                                else ("long_term", "dispute:complaint"))
        else:
            draw = rng.random()
            if draw > 0.95:
                tier, reason = "long_term", "dispute:complaint"
            elif draw > 0.85:
                tier, reason = "evidence", "case file"
        if due_since is not None:
            content = b"bodycam bench %09d\n" % ident
            digest = hashlib.sha256(content).hexdigest()
            relpath = relpath_for(digest)
            path = store / relpath
            if path.parent not in directories:
                path.parent.mkdir(parents=True, exist_ok=True)
                directories.add(path.parent)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            os.write(fd, content)
            os.close(fd)
            made["files"] += 1
            length = len(content)
            roll = rng.random()
            if roll < 0.005:
                holds.append((ident, _ts(now - 30 * DAY)))
                made["held"] += 1
            elif roll < 0.015:
                case = f"BENCH-{ident % 100:03d}"
                labels.append((ident, case, _ts(now - 400 * DAY)))
                made["long_term_case"] += ident % 100 < 10
            made["deletable"] += roll >= 0.005 and not (0.005 <= roll < 0.015 and ident % 100 < 10)
        else:
            digest = hashlib.sha256(b"absent %d" % ident).hexdigest()
            relpath, length = relpath_for(digest), 50_000_000
        stamp = clock + timedelta(hours=8)
        rows.append((ident, digest, length, relpath,
                     f"DCIM/100MEDIA/A{ident % 500:04d}_DSJ9X001_{stamp:%Y%m%d%H%M%S}_0001.MP4",
                     _ts(clock), f"A{ident % 500:04d}", _ts(clock - timedelta(seconds=600)),
                     tier, reason, _ts(clock), due_since))
        if len(rows) == 50_000:
            db.executemany(insert, rows)
            rows.clear()
    db.executemany(insert, rows)
    db.executemany("INSERT INTO retention_holds (recording_id, reason, owner, created_at, actor, "
                   f"station_id) VALUES (?, 'court order', 'legal', ?, 'bench', '{BENCH_STATION}')",
                   holds)
    db.executemany("INSERT INTO custody_labels (recording_id, case_number, created_at, actor, "
                   f"station_id) VALUES (?, ?, ?, 'bench', '{BENCH_STATION}')", labels)
    for k in range(10):
        case = f"BENCH-{k:03d}"
        cursor = db.execute("INSERT INTO retention_tier_changes (case_number, new_tier, reason, "
                            "actor, at, station_id) VALUES (?, 'long_term', 'dispute:complaint', "
                            "'bench', ?, ?)", (case, _ts(now - 300 * DAY), BENCH_STATION))
        db.execute("INSERT INTO retention_case_tiers (case_number, tier, reason, change_id, "
                   "station_id) VALUES (?, 'long_term', 'dispute:complaint', ?, ?)",
                   (case, cursor.lastrowid, BENCH_STATION))
    db.execute("COMMIT")
    db.close()
    made["seconds"] = round(time.monotonic() - started, 1)
    return made


# --------------------------------------------------------------------------- phases (subprocess)


def phase(name: str, station: Path) -> dict[str, Any]:
    from bodycam_ingest.config import load_config
    from bodycam_ingest.station import Station

    config = load_config(station / "config.toml")
    opened = time.monotonic()
    st = Station.open(config, actor="bench")
    result: dict[str, Any] = {"open_s": round(time.monotonic() - opened, 3)}
    try:
        if name == "floor":
            result.update(_baselines(st))
        elif name == "idle":  # the interpreter, the imports and an open station: the RSS floor
            from bodycam_ingest.retention import service, sweep  # noqa: F401
        elif name in ("plan", "plan-after"):
            from bodycam_ingest.retention.service import make_plan

            started, cpu = time.monotonic(), _cpu()
            report = make_plan(st)
            result.update(seconds=time.monotonic() - started, cpu=_cpu() - cpu,
                          examined=report.examined,
                          delete_now=len(report.plan.delete_now),
                          upcoming=len(report.plan.upcoming),
                          attention=len(report.plan.attention), live=report.live)
        elif name == "plan-json":  # what `bodycam retention plan --json` does, to /dev/null
            from bodycam_ingest.retention.plan_json import write_plan_json
            from bodycam_ingest.retention.service import streamed_plan

            with open(os.devnull, "w") as null:
                sink = _Counting(null)
                started, cpu = time.monotonic(), _cpu()
                with streamed_plan(st) as stream:
                    write_plan_json(stream, sink)
                result.update(seconds=time.monotonic() - started, cpu=_cpu() - cpu,
                              examined=stream.examined, json_mb=sink.chars / 1e6)
        elif name == "run":
            from bodycam_ingest.retention.service import run_sweep

            started = time.monotonic()
            report = run_sweep(st, trigger="bench")
            result.update(seconds=time.monotonic() - started, examined=report.examined,
                          deleted=len(report.deleted), newly_due=report.newly_due,
                          rehashed=report.rehashed, alerts=len(report.alerts),
                          error=report.error, manifests=report.manifests)
    finally:
        st.catalog.close()
    result["rss_mib"] = round(_rss_mib(), 1)
    return result


def _baselines(st: Any) -> dict[str, Any]:
    """The same process, bare sqlite3: what the product's plan is compared with."""
    from bodycam_ingest.retention.state import tier_cutoffs

    now = st.clock()
    policy = st.config.retention.policy()
    cutoffs = tier_cutoffs(policy, now, 30)
    db = sqlite3.connect(st.config.storage.state_dir / "catalog.sqlite3")
    started = time.monotonic()
    count = db.execute("SELECT count(*) FROM recordings").fetchone()[0]
    count_s = time.monotonic() - started
    loop_s = loop_cpu = float("inf")
    for _ in range(2):  # the first pass may read from the disk, the plan after it will not
        started, cpu = time.monotonic(), _cpu()
        candidates = 0
        for tier, cut in cutoffs.items():
            for _row in db.execute(
                    "SELECT id, tier, tier_reason, clock_start, ingested_at, due_since, fixity_ok, "
                    "deleted_at FROM recordings WHERE deleted_at IS NULL AND tier = ? AND "
                    "clock_start <= ?", (tier.value, _ts(cut))):
                candidates += 1
        loop_s = min(loop_s, time.monotonic() - started)
        loop_cpu = min(loop_cpu, _cpu() - cpu)
    started = time.monotonic()
    every = sum(1 for _row in db.execute("SELECT id, tier, clock_start, due_since FROM recordings"))
    full_s = time.monotonic() - started
    db.close()
    return {"count": count, "count_s": count_s, "candidates": candidates, "every": every,
            "candidate_loop_s": loop_s, "candidate_loop_cpu": loop_cpu, "full_loop_s": full_s}


def run_phase(name: str, station: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--phase", name, "--station", str(station)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


class _Counting:
    """A text sink that counts what is written through it (the JSON's size, without a pipe)."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return int(self.out.write(text))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_plan(station: Path) -> dict[str, Any]:
    """``bodycam retention plan --json > /dev/null``: wall and CPU seconds of the whole process
    (start-up, config, open station, the plan). To /dev/null, as the in-process ``plan-json``
    phase writes: a pipe read by this script would add the reader's pace to the CLI's time."""
    env = {**os.environ, "BODYCAM_CONFIG": str(station / "config.toml")}
    started, cpu = time.monotonic(), _children_cpu()
    out = subprocess.run([*BODYCAM, "retention", "plan", "--json"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env, check=False)
    seconds, cpu = time.monotonic() - started, _children_cpu() - cpu
    if out.returncode != 0:
        raise SystemExit(f"bodycam retention plan failed: {out.stderr.decode()[-2000:]}")
    return {"seconds": seconds, "cpu": cpu}


def measure(station: Path, plan_only: bool) -> dict[str, Any]:
    print(f"  measuring ({load()}) ...", flush=True)
    m = {"idle": run_phase("idle", station), "floor": run_phase("floor", station),
         "plan": run_phase("plan", station), "json": run_phase("plan-json", station),
         "cli": cli_plan(station)}
    if not plan_only:
        m.update(run=run_phase("run", station), after=run_phase("plan-after", station))
    m["load"] = load()
    return m


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def report(size: int, made: dict[str, Any], m: dict[str, Any]) -> None:
    floor, plan, streamed, cli = m["floor"], m["plan"], m["json"], m["cli"]
    print(f"\n== {size:,} recordings (built in {made['seconds']} s: {made['files']:,} stored "
          f"files, {made['held']:,} held, {made['long_term_case']:,} in long-term cases)")
    print(f"  floor: open station {m['idle']['open_s']:.2f} s, RSS {m['idle']['rss_mib']:.0f} MiB "
          f"(interpreter, imports, open catalog); baselines below ran in {floor['rss_mib']:.0f} MiB")
    print(f"  baseline SELECT count(*)             {floor['count_s']:8.3f} s")
    print(f"  baseline sqlite3 loop, candidates    {floor['candidate_loop_s']:8.3f} s "
          f"({floor['candidates']:,} rows; CPU {floor['candidate_loop_cpu']:.3f} s)")
    print(f"  baseline sqlite3 loop, every row     {floor['full_loop_s']:8.3f} s")
    print(f"  plan (in-process, in memory)         {plan['seconds']:8.3f} s  CPU "
          f"{plan['cpu']:.3f} s  RSS "
          f"{plan['rss_mib']:.0f} MiB  examined {plan['examined']:,}, delete now "
          f"{plan['delete_now']:,}, upcoming {plan['upcoming']:,}")
    print(f"  plan --json (in-process, streamed)   {streamed['seconds']:8.3f} s  CPU "
          f"{streamed['cpu']:.3f} s  RSS "
          f"{streamed['rss_mib']:.0f} MiB  (to /dev/null)")
    print(f"  plan --json (CLI, cold start)        {cli['seconds']:8.3f} s  CPU "
          f"{cli['cpu']:.3f} s  ({streamed['json_mb']:.0f} MB of JSON, > /dev/null)")
    if "run" in m:
        run, after = m["run"], m["after"]
        rate = run["deleted"] / run["seconds"] if run["seconds"] else 0
        print(f"  run                                  {run['seconds']:8.3f} s  RSS "
              f"{run['rss_mib']:.0f} MiB  deleted {run['deleted']:,} ({rate:,.0f}/s), newly due "
              f"{run['newly_due']:,}, re-hashed {run['rehashed']:,}, error {run['error']}")
        print(f"  plan after the run                   {after['seconds']:8.3f} s  RSS "
              f"{after['rss_mib']:.0f} MiB  examined {after['examined']:,}, delete now "
              f"{after['delete_now']:,}, upcoming {after['upcoming']:,}")
    loop = floor["candidate_loop_s"]
    for name, seconds, cpu in (("plan (in memory)", plan["seconds"], plan["cpu"]),
                               ("plan --json (streamed)", streamed["seconds"], streamed["cpu"])):
        ratio, cpu_ratio = seconds / loop, cpu / floor["candidate_loop_cpu"]
        print(f"  {name} / bare candidate loop: wall {ratio:4.1f}x "
              f"{'ok' if ratio <= TARGET_RATIO else 'MISS'}; CPU seconds {cpu_ratio:4.1f}x "
              f"{'ok' if cpu_ratio <= TARGET_RATIO else 'MISS'}  (target <= {TARGET_RATIO:.0f}x)")
    above = streamed["rss_mib"] - m["idle"]["rss_mib"]
    print(f"  plan --json memory above the floor: {above:.0f} MiB for "
          f"{plan['delete_now'] + plan['upcoming'] + plan['attention']:,} listed decisions")
    extra, extra_cpu = cli["seconds"] - streamed["seconds"], cli["cpu"] - streamed["cpu"]
    print(f"  CLI plan --json - in-process streamed: wall {extra:+.2f} s "
          f"{'ok' if extra <= TARGET_CLI_S else 'MISS'}; CPU seconds {extra_cpu:+.2f} s "
          f"{'ok' if extra_cpu <= TARGET_CLI_S else 'MISS'}  (target <= +{TARGET_CLI_S:.0f} s)")
    print(f"  plan / full-table loop {plan['seconds'] / floor['full_loop_s']:.2f}x; {m['load']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--deletable", type=float, default=0.10)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-small", action="store_true", help="skip the --size/10 catalog")
    parser.add_argument("--plan-only", action="store_true",
                        help="skip the run (and the plan after it): the catalog stays as built, "
                        "so --workdir can be measured again without building it again")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--station", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.station), default=str))
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bodycam-bench-retention-", dir="/var/tmp"))
    sizes = [args.size] if args.no_small else [args.size // 10, args.size]
    now = datetime.now(UTC)
    results: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    try:
        for size in sizes:
            station = work / f"station-{size}"
            marker = station / "built.json"
            if args.plan_only and marker.exists():
                made = json.loads(marker.read_text())
                print(f"reusing {size:,} recordings in {station}", flush=True)
            else:
                print(f"building {size:,} recordings in {station} ...", flush=True)
                made = build(station, size, args.deletable, now)
                marker.write_text(json.dumps(made))
            results[size] = (made, measure(station, args.plan_only))
            report(size, *results[size])
        if len(sizes) == 2 and not args.plan_only:
            small, big = (results[s][1] for s in sizes)
            print(f"\nscaling x{sizes[1] // sizes[0]} catalog: plan time "
                  f"x{big['plan']['seconds'] / small['plan']['seconds']:.1f}, plan RSS above the "
                  f"floor x{_above(big, 'plan') / max(_above(small, 'plan'), 1):.1f} "
                  f"({_above(small, 'plan'):.0f} -> {_above(big, 'plan'):.0f} MiB), run RSS above "
                  f"the floor {_above(small, 'run'):.0f} -> {_above(big, 'run'):.0f} MiB, plan "
                  f"after the run (same catalog, small answer) {_above(big, 'after'):.0f} MiB")
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def _above(m: dict[str, Any], name: str) -> float:
    return float(m[name]["rss_mib"] - m["idle"]["rss_mib"])


if __name__ == "__main__":
    main()
