"""How fast is continuity analysis, by the MP4 index and by an ffprobe packet scan?

Generates (once, cached under /var/tmp) a 10-minute 1920x1080 30 fps H.264 + AAC recording: a
10 s clip encoded with x264 ultrafast at a constant bitrate, looped with ``-c copy`` to 10 minutes
(same packets and timestamps an encoder would give, in seconds instead of minutes). Then times:

- index path: ``extract`` (reads moov only) + ``analyze_file``;
- ffprobe path: ``ffprobe.probe`` (reads every packet) + ``analyze_file``;
- the ingest proxy: a plain copy + SHA-256 of the same file, fsynced (what ingest must do anyway).

Prints hours of footage per wall second and analysis time as a fraction of the ingest proxy.
Target (issue 3): >= 2000x real time for MP4 (10 minutes in < 0.3 s) and < 10% of ingest time.

    .venv/bin/python bench/continuity.py [--bitrate 8M] [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bodycam_ingest.analysis.continuity import analyze_file
from bodycam_ingest.analysis.extract import extract
from bodycam_ingest.analysis.ffprobe import probe
from bodycam_ingest.analysis.model import MediaTimeline, RecordingFacts

CACHE = Path("/var/tmp/bodycam-bench")
MINUTES = 10


def make_file(bitrate: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"continuity_1080p30_{MINUTES}min_{bitrate}.mp4"
    if out.exists():
        return out
    seed = CACHE / f"seed_1080p30_10s_{bitrate}.mp4"
    ff = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    print(f"generating {out} (once)...", file=sys.stderr)
    subprocess.run([*ff, "-f", "lavfi", "-i", "testsrc=size=1920x1080:rate=30:duration=10",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10",
                    "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p",
                    "-b:v", bitrate, "-minrate", bitrate, "-maxrate", bitrate, "-bufsize",
                    bitrate, "-x264-params", "nal-hrd=cbr", "-c:a", "aac", "-b:a", "64k",
                    str(seed)], check=True)
    tmp = out.with_suffix(".part.mp4")
    subprocess.run([*ff, "-stream_loop", str(MINUTES * 6 - 1), "-i", str(seed), "-c", "copy",
                    "-metadata", "creation_time=2026-11-20T01:30:00Z", str(tmp)], check=True)
    tmp.replace(out)
    seed.unlink()
    return out


def facts(path: Path, timeline: MediaTimeline | None) -> RecordingFacts:
    return RecordingFacts("bench", "DEV", "A1", datetime(2026, 11, 20, 9, 30), "Asia/Shanghai",
                          1, datetime.fromtimestamp(path.stat().st_mtime, UTC),
                          path.stat().st_size, timeline)


def index_path(path: Path) -> float:
    start = time.perf_counter()
    got = extract(path)
    assert got.timeline is not None and got.timeline.source == "index", got.problem
    analyze_file(facts(path, got.timeline))
    return time.perf_counter() - start


def ffprobe_path(path: Path) -> float:
    start = time.perf_counter()
    timeline, why = probe(path)
    assert timeline is not None, why
    analyze_file(facts(path, timeline))
    return time.perf_counter() - start


def copy_and_hash(path: Path) -> float:
    start = time.perf_counter()
    digest = hashlib.sha256()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with path.open("rb") as src, tempfile.NamedTemporaryFile(dir=CACHE) as dst:
        while n := src.readinto(buf):
            digest.update(view[:n])
            dst.write(view[:n])
        dst.flush()
        os.fsync(dst.fileno())
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bitrate", default="8M", help="video bitrate (a 1080p camera: 8-12M)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    path = make_file(args.bitrate)
    footage = MINUTES * 60.0
    mib = path.stat().st_size / 2**20
    path.read_bytes()  # warm the page cache so every path reads from memory alike
    ingest = statistics.median(copy_and_hash(path) for _ in range(args.runs))
    print(f"file: {path} ({mib:.0f} MiB, {MINUTES} min 1920x1080 30 fps H.264 + AAC)")
    print(f"ingest proxy (copy + sha256 + fsync): {ingest:.3f} s ({mib / ingest:.0f} MiB/s)")
    for name, fn, runs in (("index", index_path, args.runs), ("ffprobe", ffprobe_path, 2)):
        fn(path)  # warm-up
        t = statistics.median(fn(path) for _ in range(runs))
        print(f"{name:8s}: {t:.3f} s  = {footage / t:,.0f}x real time, "
              f"{footage / 3600 / t:.2f} h of footage per wall second, "
              f"{100 * t / ingest:.1f}% of the ingest proxy")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
