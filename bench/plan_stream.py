"""Peak memory of a custodian's ``bodycam retention plan --json`` through the local API (issue 14).

Runs as root on a copy of a bench catalog (``bench/retention.py --keep`` builds one): the real
API server (``api.server.ApiServer`` on ``Station.open``) in this process, the CLI as a real
non-root OS user mapped to a custodian account (``runuser``, so ``SO_PEERCRED`` names it), under
``/usr/bin/time``. Prints the server's resident-memory peak growth (VmHWM) over its warm state,
the client's peak RSS, wall and CPU seconds, the JSON's size, and the load average. With
``--document`` it then asks the old one-frame ``retention.plan`` (as root, through the socket) for
comparison: the server's peak then grows by the whole document.

    python bench/plan_stream.py --catalog /var/tmp/wt152-ret/station-1000000/state/catalog.sqlite3
"""

from __future__ import annotations

import argparse
import os
import pwd
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bodycam_ingest.access.identity import current_system_principal  # noqa: E402
from bodycam_ingest.api import client  # noqa: E402
from bodycam_ingest.api.registry import dispatch  # noqa: E402
from bodycam_ingest.api.server import ApiServer  # noqa: E402
from bodycam_ingest.config import load_config  # noqa: E402
from bodycam_ingest.station import Station  # noqa: E402

USER = "bench-plan-clerk"


def hwm_kib(key: str = "VmHWM") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(key)


def reset_hwm() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", type=Path, required=True, help="a bench catalog (copied)")
    parser.add_argument("--station-id", default="bench-station")
    parser.add_argument("--document", action="store_true", help="also the one-frame plan")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="plan-stream-", dir="/var/tmp"))
    work.chmod(0o755)
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    state = work / "state"
    state.mkdir()
    shutil.copy(args.catalog, state / "catalog.sqlite3")
    keys = args.catalog.parent / "keys"
    if keys.is_dir():
        shutil.copytree(keys, state / "keys")
    (work / "api").mkdir(mode=0o755)
    config = work / "config.toml"
    config.write_text(f'[station]\nid = "{args.station_id}"\n\n[storage]\nstate_dir = "{state}"\n'
                      'free_space_reserve = 0\n\n[[cameras]]\nname = "c"\nfs_labels = '
                      '["NO-SUCH-LABEL"]\nrecordings = ["DCIM/**/*.MP4"]\n\n[access]\n'
                      f'socket = "{work / "api" / "api.sock"}"\n')
    config.chmod(0o644)
    try:
        pwd.getpwnam(USER)
        made_user = False
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        USER], check=True)
        made_user = True
    try:
        station = Station.open(load_config(config))
        dispatch(station, current_system_principal(), "users.add", {
            "login": "bench.clerk", "display_name": "bench clerk", "roles": ["custodian"],
            "os_users": [USER]})
        api = ApiServer(station)
        api.start()
        try:
            measure(station, api, config, args.document)
        finally:
            api.stop()
            station.close()
    finally:
        if made_user:
            subprocess.run(["userdel", USER], check=False)


def measure(station: Station, api: ApiServer, config: Path, document: bool) -> None:
    socket_path = station.config.access.socket
    client.call(socket_path, "whoami")  # handlers imported, pools warm
    out = config.parent / "plan.json"
    reset_hwm()
    before = hwm_kib("VmRSS")
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    env = {"PATH": "/usr/bin:/bin", "BODYCAM_CONFIG": str(config), "PYTHONPATH": str(REPO),
           "PYTHONDONTWRITEBYTECODE": "1"}
    command = ["/usr/bin/time", "-f", "%M %U %S", "runuser", "-u", USER, "--", "env",
               *(f"{k}={v}" for k, v in env.items()), sys.executable, "-m", "bodycam_ingest",
               "retention", "plan", "--json"]
    with out.open("w") as sink:
        done = subprocess.run(command, stdout=sink, stderr=subprocess.PIPE, text=True, cwd="/",
                              check=False)
    wall = time.monotonic() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    peak = hwm_kib()
    if done.returncode != 0:
        raise SystemExit(f"the plan failed ({done.returncode}): {done.stderr}")
    client_kib, user_s, sys_s = done.stderr.strip().splitlines()[-1].split()
    server_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    load = os.getloadavg()
    print(f"streamed plan as a custodian: {out.stat().st_size / 1e6:.1f} MB of JSON in {wall:.2f} s"
          f" wall; server CPU {server_cpu:.2f} s, client CPU {float(user_s) + float(sys_s):.2f} s")
    print(f"  server (API server process) RSS {before / 1024:.0f} MiB before, peak "
          f"{peak / 1024:.0f} MiB: +{(peak - before) / 1024:.1f} MiB")
    print(f"  client (bodycam CLI) peak RSS {int(client_kib) / 1024:.1f} MiB")
    print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if document:
        reset_hwm()
        before = hwm_kib("VmRSS")
        started = time.monotonic()
        answer = client.call(socket_path, "retention.plan")
        wall = time.monotonic() - started
        peak = hwm_kib()  # this process is also the client here: its answer is counted too
        print(f"one-frame retention.plan (root, client in this process): {wall:.2f} s; peak RSS "
              f"+{(peak - before) / 1024:.1f} MiB over {before / 1024:.0f} MiB "
              f"({len(answer['delete_now'])} deletions); load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
