"""Replication to a local Ceph radosgw: the product's S3Store against boto3 ``upload_file``.

Starts a throwaway Ceph (scripts/ceph-up.sh, free ports, an OSD with enough memory for both
copies), writes ``--size-gib`` of seeded random files (``--files`` of them) to a work dir, then, in
a new random order every round, uploads the same files to two buckets with Object Lock:

- product: ``S3Store.put`` per file, in a fresh subprocess (what the replication worker does per
  recording: read in parts, SHA-256 + Content-MD5 per part, multipart upload, HEAD read-back,
  COMPLIANCE lock applied and read back); its peak RSS (``ru_maxrss``) is the worker's memory;
- boto3: ``client.upload_file`` per file (s3transfer's defaults: 8 MiB parts, 10 threads), in a
  fresh subprocess, same client settings, no lock, no read-back.

Prints MB/s (10^6 bytes) per method and round, the ratio product / boto3 (target >= 0.9) and the
product's peak RSS (target < 150 MB), with ok/MISS and the load average.

    .venv/bin/python bench/replicate.py [--size-gib 2] [--files 8] [--repeat 1] [--keep]
                                        [--concurrency N] [--part-mib N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ACCESS, SECRET = "AKTEST", "SKTEST"

CHILD = r"""
import hashlib, json, resource, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from bodycam_ingest.storage.locks import Lock
from bodycam_ingest.storage.s3 import S3Store, make_client
from bodycam_ingest.storage.settings import ObjectStoreConfig

method, endpoint, bucket, listing, tuning = sys.argv[1:6]
files = json.loads(Path(listing).read_text())
config = ObjectStoreConfig(endpoint=endpoint, bucket=bucket, **json.loads(tuning))
client = make_client(config, ("AKTEST", "SKTEST"))
store = S3Store(config, client)
store.key(files[0]["sha256"])  # the lazy imports of both paths happen before the clock starts
import boto3.s3.transfer, s3transfer.manager  # noqa: E401,F401
before = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
total = 0
if method == "product":
    until = datetime.now(UTC) + timedelta(days=1)
    for item in files:
        with open(item["path"], "rb") as source:
            store.put(item["sha256"], source, item["size"], Lock(until, False))
        total += item["size"]
else:
    for item in files:
        client.upload_file(item["path"], bucket, "sha256/" + item["sha256"])
        total += item["size"]
elapsed = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
print(json.dumps({"bytes": total, "seconds": elapsed, "rss": usage.ru_maxrss * 1024, "cpu": cpu}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_files(workdir: Path, size: int, count: int) -> list[dict[str, object]]:
    import hashlib

    rng = random.Random(12)
    block = rng.randbytes(1 << 20)
    files = []
    each = size // count
    for number in range(count):
        path = workdir / f"rec{number:03d}.bin"
        hasher = hashlib.sha256()
        with open(path, "wb") as out:
            for index in range(each >> 20):
                chunk = bytes([number, index & 0xFF]) + block[2:]  # unique per file and MiB
                hasher.update(chunk)
                out.write(chunk)
        files.append({"path": str(path), "size": each, "sha256": hasher.hexdigest()})
    return files


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running process has used (radosgw: the server's share)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_child(method: str, endpoint: str, bucket: str, listing: Path,
              tuning: dict[str, object], rgw_pid: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server_before = cpu_seconds(rgw_pid)
    out = subprocess.run([sys.executable, "-c", CHILD, method, endpoint, bucket, str(listing),
                          json.dumps(tuning)],
                         env=env, capture_output=True, text=True, check=True, timeout=7200)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    result["server_cpu"] = cpu_seconds(rgw_pid) - server_before
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--concurrency", type=int, help="parts in flight (default: the config's)")
    parser.add_argument("--part-mib", type=int, help="part size (default: the config's)")
    parser.add_argument("--part-checksum", choices=("md5", "sha256"),
                        help="what the server verifies per part (default: the config's)")
    args = parser.parse_args()
    tuning = {key: value for key, value in (("concurrency", args.concurrency),
              ("part_size", args.part_mib and args.part_mib << 20),
              ("part_checksum", args.part_checksum)) if value}
    size = int(args.size_gib * 2**30)
    workdir = Path(tempfile.mkdtemp(prefix="bodycam-repl-", dir="/var/tmp"))
    ceph_dir = Path(tempfile.mkdtemp(prefix="bc-ceph-", dir="/tmp"))
    memstore = (2 * args.repeat + 1) * size + 2**30  # both copies of every round, and headroom
    env = {**os.environ, "D": str(ceph_dir), "RGW_PORT": str(free_port()),
           "MON_PORT": str(free_port()), "MON_V1_PORT": str(free_port()),
           "MEMSTORE_BYTES": str(memstore)}
    try:
        up = subprocess.run(["bash", str(REPO / "scripts" / "ceph-up.sh")], env=env,
                            capture_output=True, text=True, timeout=900, check=False)
        if up.returncode != 0:
            print(up.stdout, up.stderr, file=sys.stderr)
            return 1
        endpoint = f"http://127.0.0.1:{env['RGW_PORT']}"
        pids_line = [x for x in up.stdout.splitlines() if x.startswith("pids:")][-1]
        rgw_pid = int(dict(item.split("=") for item in pids_line.split()[1:])["rgw"])
        sys.path.insert(0, str(REPO))
        from bodycam_ingest.storage.s3 import ensure_bucket, make_client
        from bodycam_ingest.storage.settings import ObjectStoreConfig

        client = make_client(ObjectStoreConfig(endpoint=endpoint, bucket="unused"),
                             (ACCESS, SECRET))
        print(f"writing {args.files} files, {size / 1e6:.0f} MB, to {workdir}", flush=True)
        listing = workdir / "files.json"
        listing.write_text(json.dumps(make_files(workdir, size, args.files)))
        results: dict[str, list[dict[str, float]]] = {"product": [], "boto3": []}
        for round_ in range(args.repeat):
            order = ["product", "boto3"]
            random.shuffle(order)
            for method in order:
                bucket = f"{method}-{uuid.uuid4().hex[:8]}"
                ensure_bucket(client, bucket)
                subprocess.run(["sync"], check=False)
                result = run_child(method, endpoint, bucket, listing, tuning, rgw_pid)
                results[method].append(result)
                gib = result["bytes"] / 2**30
                print(f"round {round_ + 1} {method:8s} {result['bytes'] / result['seconds'] / 1e6:7.1f}"
                      f" MB/s  CPU {result['cpu'] / gib:5.2f} s/GiB (radosgw "
                      f"{result['server_cpu'] / gib:5.2f})  peak RSS {result['rss'] / 1e6:6.1f} MB"
                      f"  load {os.getloadavg()[0]:.1f}", flush=True)
        ours = statistics.median(r["bytes"] / r["seconds"] for r in results["product"])
        theirs = statistics.median(r["bytes"] / r["seconds"] for r in results["boto3"])
        rss = max(r["rss"] for r in results["product"])
        cpu = {m: statistics.median(r["cpu"] / (r["bytes"] / 2**30) for r in rs)
               for m, rs in results.items()}
        print(f"CPU per GiB (user+sys of the uploading process): product {cpu['product']:.2f} s, "
              f"boto3 {cpu['boto3']:.2f} s: ratio boto3/product {cpu['boto3'] / cpu['product']:.2f}")
        ratio = ours / theirs
        print(f"product {ours / 1e6:.1f} MB/s, boto3 upload_file {theirs / 1e6:.1f} MB/s: "
              f"ratio {ratio:.2f} (target >= 0.9) {'ok' if ratio >= 0.9 else 'MISS'}")
        print(f"product peak RSS {rss / 1e6:.1f} MB (target < 150 MB) "
              f"{'ok' if rss < 150e6 else 'MISS'}")
        return 0
    finally:
        subprocess.run(["bash", str(REPO / "scripts" / "ceph-down.sh")], env={**os.environ,
                       "D": str(ceph_dir)}, capture_output=True, timeout=600, check=False)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
