"""The console's officer page with 10,000 recordings, beside `bodycam list --json` for the same
filter, in one run (issue 10).

Usage: python bench/console.py [--size 10000] [--repeat 5] [--workdir DIR] [--keep]

Builds a station whose catalog holds ``--size`` recordings of one officer (bulk INSERTs into the
migrated schema, as bench/retention.py does), an officer account with a password, and starts the
real daemon with its console. Then, in the same run:

  page         Debian's Chromium (Playwright) loads /me as the logged-in officer: from navigation
               start to the DOMContentLoaded of the first page of their recordings (100, newest
               first, with verdicts, deadlines and labels, and the count of all 10,000), the
               page's own ``performance`` timing, median of --repeat
  cli          ``bodycam list --json --officer A1024 --limit 100`` (the same filter and page),
               wall time of the subprocess (through the daemon's socket), median of --repeat

Target: the page under 1 s. Prints target, figures and ok/MISS, and the load average.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from bulk import open_bulk  # noqa: E402  (bench/, the script's own folder)
from bulk import ts as _ts  # noqa: E402

STATION = "bench-console"  # its config's station.id: the rows it writes name it

BODYCAM = [sys.executable, "-m", "bodycam_ingest"]
TARGET_PAGE_S = 1.0
PASSWORD = "bench password"


def build(root: Path, size: int, port: int) -> Path:
    from argon2 import PasswordHasher

    from bodycam_ingest.custody import keys
    from bodycam_ingest.ingest.store import relpath_for

    state = root / "state"
    keys.generate(state / "keys")
    config = root / "config.toml"
    config.write_text(f"""
[station]
id = "bench-console"

[storage]
state_dir = "{state}"
free_space_reserve = 0

[[cameras]]
name = "bench"
fs_labels = ["NO-SUCH-LABEL"]

[access]
socket = "{root / 'api.sock'}"

[web]
listen = "127.0.0.1:{port}"
""")
    now = datetime.now(UTC)
    db = open_bulk(state, now, rule="bench", station=STATION)
    rows = []
    for ident in range(1, size + 1):
        start = now - timedelta(minutes=10 * ident)
        digest = hashlib.sha256(b"console %d" % ident).hexdigest()
        rows.append((ident, digest, 50_000_000, relpath_for(digest),
                     f"DCIM/100MEDIA/A1024_DSJ9X001_{start + timedelta(hours=8):%Y%m%d%H%M%S}"
                     "_0001.MP4", _ts(start + timedelta(minutes=10)), _ts(start),
                     _ts(start.replace(tzinfo=None)), _ts(start + timedelta(minutes=10))))
    db.executemany(
        "INSERT INTO recordings (id, sha256, size, store_path, device_id, first_dock_id, "
        "camera_path, ingested_at, name_officer, name_device, start_utc, name_start_local, "
        "duration_s, zone, status, tier, clock_start, station_id) VALUES (?, ?, ?, ?, 1, 1, ?, "
        "?, 'A1024', 'DSJ9X001', ?, ?, 600.0, 'Asia/Shanghai', 'ok', 'standard', ?, ?)",
        [(*row, STATION) for row in rows])
    db.execute("INSERT INTO accounts (login, display_name, officer_number, roles, enabled, "
               "password_hash, created_at, created_by, updated_at) VALUES ('zhang', '张三', "
               "'A1024', '[\"officer\"]', 1, ?, ?, 'os:root', ?)",
               (PasswordHasher().hash(PASSWORD), _ts(now), _ts(now)))
    db.execute("COMMIT")
    db.close()
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    from web_support import free_port

    root = Path(tempfile.mkdtemp(prefix="bench-console-", dir=args.workdir))
    port = free_port()
    config = build(root, args.size, port)
    env = {**os.environ, "BODYCAM_CONFIG": str(config)}
    log = (root / "daemon.log").open("w")
    daemon = subprocess.Popen([*BODYCAM, "daemon"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "daemon ready" not in (root / "daemon.log").read_text():
            if daemon.poll() is not None or time.monotonic() > deadline:
                print((root / "daemon.log").read_text())
                return 1
            time.sleep(0.1)
        cli: list[float] = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            out = subprocess.run([*BODYCAM, "list", "--json", "--officer", "A1024", "--limit",
                                  "100"], env=env, capture_output=True, check=True)
            cli.append(time.perf_counter() - started)
        listed = out.stdout.count(b'"sha256"')
        pages, rows = page_times(port, args.repeat, args.size)
        page, line = statistics.median(pages), statistics.median(cli)
        load = os.getloadavg()
        print(f"recordings: {args.size} (officer A1024); load average {load[0]:.2f} "
              f"{load[1]:.2f} {load[2]:.2f}")
        print(f"bodycam list --json (socket): median {line:.3f} s  ({listed} listed)")
        print(f"console /me page load:        median {page:.3f} s  ({rows} rows)  "
              f"target < {TARGET_PAGE_S:.1f} s  {'ok' if page < TARGET_PAGE_S else 'MISS'}")
        print(f"page / CLI: {page / line:.2f}x")
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def page_times(port: int, repeat: int, size: int) -> tuple[list[float], int]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"http://127.0.0.1:{port}/login")
        page.fill("input[name=login]", "zhang")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/me")
        times = []
        for _ in range(repeat):
            page.goto(f"http://127.0.0.1:{port}/me")
            timing = page.evaluate("(() => { const t = performance.getEntriesByType('navigation')"
                                   "[0]; return t.domContentLoadedEventEnd - t.startTime; })()")
            times.append(float(timing) / 1000)
        rows = page.locator("#recordings tbody tr").count()
        browser.close()
    return times, rows


if __name__ == "__main__":
    sys.exit(main())
