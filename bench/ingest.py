"""Ingest throughput against the durable-copy floor (`cp -r && sync`) and a hand-made two-pass copy.

Usage: python bench/ingest.py [--size-gib 2] [--workdir DIR] [--repeat 3] [--keep]
                              [--verify direct|cached|overlap|none ...]

Builds a simulated camera folder of unique recording-like files (a real H.264 clip from ffmpeg,
then unique random bytes: content does not matter for throughput), then times, each after dropping
the page cache, the product (`bodycam ingest CAMERA` on a fresh station: copy + SHA-256 + fsync,
verify, publish, catalogue, probe, signed manifest), `cp -r SRC DST && sync`, and
`cp -r SRC DST && sync && openssl dgst -sha256 FILES`; with --verify, also the bare engine (open,
copy_and_hash to a staging file, hash_fd verify, rename, fsync the directory).
Prints best and median of every method, the ratios, the target beside them, and the cost of a
verify re-read with and without the page cache. See bench/README.md for measured figures.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bodycam_ingest.ingest.copier import (
    CHUNK_SIZE,
    WRITEBACK_WINDOW,
    CopyResult,
    copy_and_hash,
    hash_fd,
)

MB = 1_000_000
TARGET_VS_CP = 0.85
TARGET_VS_TWO_PASS = 1.0
SRC_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
STAGE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


# ------------------------------------------------------------------------------------------------
# The simulated camera


def make_clip(path: Path) -> bytes:
    """One short real H.264 recording; every benchmark file starts with its bytes."""
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "testsrc=size=320x240:rate=10:duration=1", "-c:v", "libx264", "-preset", "ultrafast",
         "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )
    return path.read_bytes()


def build_camera(root: Path, total: int, count: int) -> list[Path]:
    """`count` unique files adding up to `total` bytes, named like a camera names recordings."""
    media = root / "DCIM" / "100MEDIA"
    media.mkdir(parents=True)
    header = make_clip(root.parent / "clip.mp4")
    (root.parent / "clip.mp4").unlink()
    rng = random.Random(20261122)
    per_file = total // count
    files = []
    for i in range(count):
        size = per_file + (total - per_file * count if i == count - 1 else 0)
        path = media / f"A1024_DSJ9X001_20261122{9 + i // 6:02d}{(i % 6) * 10:02d}00_{i + 1:04d}.MP4"
        with path.open("wb") as out:
            out.write(header)
            left = size - len(header)
            while left > 0:
                block = rng.randbytes(min(left, 8 * 1024 * 1024))
                out.write(block)
                left -= len(block)
        files.append(path)
    os.sync()
    return files


# ------------------------------------------------------------------------------------------------
# Methods under test


def drop_caches() -> bool:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_one(src: Path, staging: Path, chunk: int, window: int) -> CopyResult:
    sfd = os.open(src, SRC_FLAGS)
    try:
        dfd = os.open(staging, STAGE_FLAGS, 0o600)
        try:
            return copy_and_hash(sfd, dfd, chunk_size=chunk, writeback_window=window)
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def verify_and_publish(staging: Path, final: Path, copied: CopyResult, drop_cache: bool) -> None:
    fd = os.open(staging, os.O_RDONLY | os.O_CLOEXEC)
    try:
        checked = hash_fd(fd, drop_cache=drop_cache)
    finally:
        os.close(fd)
    if checked != copied:
        raise SystemExit(f"verify mismatch on {staging}: {checked} != {copied}")
    staging.rename(final)
    fsync_dir(final.parent)


def engine(files: list[Path], dst: Path, verify: str, chunk: int, window: int) -> None:
    """What ingest does per recording; verify is "direct", "cached", "overlap" or "none".

    "overlap" verifies file N (from the medium) in a second thread while file N+1 is copied.
    """
    (dst / "staging").mkdir(parents=True)
    (dst / "store").mkdir()
    fsync_dir(dst)
    pending: Future[None] | None = None
    with ThreadPoolExecutor(max_workers=1) as pool:
        for src in files:
            staging = dst / "staging" / (src.name + ".part")
            final = dst / "store" / src.name
            copied = copy_one(src, staging, chunk, window)
            if verify == "none":
                staging.rename(final)
                fsync_dir(final.parent)
            elif verify == "overlap":
                if pending is not None:
                    pending.result()
                pending = pool.submit(verify_and_publish, staging, final, copied, True)
            else:
                verify_and_publish(staging, final, copied, verify == "direct")
        if pending is not None:
            pending.result()


class Product:
    """The product itself: `bodycam ingest CAMERA` on a fresh station (catalog, store, key) each run:
    listing, copy + SHA-256 + fsync, verify, publish, catalogue, probe, signed dock manifest."""

    def __init__(self, work: Path, camera: Path) -> None:
        self.root = work / "station"
        self.camera = camera
        self.config = work / "station.toml"
        self.config.write_text(
            f'[station]\nid = "bench"\n[storage]\nstate_dir = "{self.root}"\n'
            'free_space_reserve = 0\n[[cameras]]\nname = "bench"\nfs_labels = ["BODYCAM*"]\n'
            'recordings = ["DCIM/**/*.MP4"]\n')
        self.reset()

    def reset(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "bodycam_ingest", "keys", "init", "--config",
                        str(self.config)], check=True, capture_output=True)
        os.sync()

    def run_in_process(self) -> None:
        """What the daemon does per dock (its interpreter is already running): open the station,
        ingest the camera folder, close."""
        from bodycam_ingest.config import load_config
        from bodycam_ingest.detection.dock import ingest_folder
        from bodycam_ingest.station import Station

        config = load_config(self.config)
        station = Station.open(config)
        try:
            report = ingest_folder(station, self.camera, config.cameras[0], device_key=None,
                                   trigger="bench")
        finally:
            station.close()
        if report.outcome != "complete":
            raise RuntimeError(f"ingest ended {report.outcome}: {report.reason}")

    def run(self) -> None:
        result = subprocess.run([sys.executable, "-m", "bodycam_ingest", "ingest",
                                 str(self.camera), "--config", str(self.config)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"bodycam ingest exited {result.returncode}:\n{result.stderr}")


def cp_sync(src: Path, dst: Path) -> None:
    subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
    subprocess.run(["sync"], check=True)


def cp_sync_openssl(src: Path, dst: Path) -> None:
    cp_sync(src, dst)
    copies = sorted(str(p) for p in dst.rglob("*.MP4"))
    subprocess.run(["openssl", "dgst", "-sha256", *copies], check=True, stdout=subprocess.DEVNULL)


def reread(files: list[Path], drop_cache: bool) -> None:
    for path in files:
        fd = os.open(path, SRC_FLAGS)
        try:
            hash_fd(fd, drop_cache=drop_cache)
        finally:
            os.close(fd)


# ------------------------------------------------------------------------------------------------
# Timing and report


def cpu_seconds() -> float:
    """CPU of this process (all threads) and its waited-for children: less noisy than wall time."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(run: Callable[[], None], cleanup: Callable[[], None], settle: float) -> tuple[float, float]:
    """(wall, cpu) seconds of one run, starting from a cold page cache and an idle disk."""
    drop_caches()
    time.sleep(settle)
    cpu = cpu_seconds()
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds() - cpu
    cleanup()
    return elapsed, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-gib", type=float, default=2.0)
    ap.add_argument("--files", type=int, default=12)
    ap.add_argument("--workdir", type=Path, default=None, help="default: a new dir in /var/tmp")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--verify", choices=["direct", "cached", "overlap", "none"],
                    action="append", help="also time the bare engine in these variants")
    ap.add_argument("--chunk-mib", type=float, default=CHUNK_SIZE / 2**20)
    ap.add_argument("--window-mib", type=float, default=WRITEBACK_WINDOW / 2**20)
    ap.add_argument("--only-engine", action="store_true", help="skip cp and openssl (tuning)")
    ap.add_argument("--no-reread", action="store_true", help="skip the re-read measurements")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds of idle disk before each timed run (after sync and cache drop)")
    ap.add_argument("--keep", action="store_true", help="keep the workdir")
    args = ap.parse_args(argv)
    variants = args.verify or []
    chunk, window = int(args.chunk_mib * 2**20), int(args.window_mib * 2**20)

    base = args.workdir or Path("/var/tmp")
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bodycam-bench-", dir=base))
    try:
        return run_all(work, args, variants, chunk, window)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            os.sync()


def run_all(work: Path, args: argparse.Namespace, variants: list[str], chunk: int,
            window: int) -> int:
    total = int(args.size_gib * 2**30)
    camera = work / "camera"
    files = build_camera(camera, total, args.files)
    size = sum(p.stat().st_size for p in files)
    dst = work / "dst"
    print(f"camera: {len(files)} files, {size / MB:.0f} MB in {camera}")
    print(f"engine: chunk {chunk / 2**20:g} MiB, writeback window {window / 2**20:g} MiB")
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores shared: figures are noisy)")
    if not drop_caches():
        print("NOTE: cannot write /proc/sys/vm/drop_caches (not root?): sources may be cached")

    product = None if args.only_engine else Product(work, camera)

    def clean() -> None:
        shutil.rmtree(dst, ignore_errors=True)
        if product is not None:
            product.reset()
        os.sync()

    methods: dict[str, Callable[[], None]] = {}
    if product is not None:
        methods["bodycam ingest (product CLI, cold start)"] = product.run
        methods["bodycam daemon path (product in-process)"] = product.run_in_process
    methods.update({
        f"engine ({v})": functools.partial(engine, files, dst, v, chunk, window) for v in variants
    })
    if not args.only_engine:
        methods["cp -r && sync"] = lambda: cp_sync(camera, dst)
        methods["cp -r && sync && openssl"] = lambda: cp_sync_openssl(camera, dst)
    if not args.no_reread:
        methods["re-read, drop_cache=True"] = lambda: reread(files, True)
        methods["re-read, drop_cache=False"] = lambda: reread(files, False)
    times: dict[str, list[float]] = {name: [] for name in methods}
    cpus: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    for round_no in range(args.repeat):
        # A new order every round: what ran just before (host write cache, deferred discards of
        # the last cleanup) measurably changes a run, so no method may always follow the same one.
        order = random.Random(round_no).sample(names, len(names))
        for name in order:
            wall, cpu = timed(methods[name], clean, args.settle)
            times[name].append(wall)
            cpus[name].append(cpu)
        print(f"round {round_no + 1} MB/s: " + ", ".join(
            f"{n} {size / ts[-1] / MB:.0f}" for n, ts in times.items()), flush=True)

    def rate(name: str, pick: Callable[[list[float]], float]) -> float:
        return size / pick(times[name]) / MB

    print(f"\n{'method':34} {'best MB/s':>10} {'median MB/s':>12} {'CPU s/GB':>9}")
    for name in names:
        print(f"{name:34} {rate(name, min):10.0f} {rate(name, statistics.median):12.0f} "
              f"{statistics.median(cpus[name]) / (size / 1e9):9.2f}")
    if args.only_engine:
        return 0
    print(f"\n{'ratio (target beside actual)':60} {'target':>7} {'best':>6} {'median':>7}")
    for name in [n for n in names if n.startswith(("bodycam", "engine"))]:
        for floor, target in (("cp -r && sync", TARGET_VS_CP),
                              ("cp -r && sync && openssl", TARGET_VS_TWO_PASS)):
            best = rate(name, min) / rate(floor, min)
            med = rate(name, statistics.median) / rate(floor, statistics.median)
            sign = ">=" if target < 1 else ">"
            print(f"{name + ' / ' + floor:60} {sign + str(target):>7} {best:6.2f} "
                  f"{med:7.2f}  {'ok' if med >= target else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
