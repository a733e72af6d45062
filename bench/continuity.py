"""How fast is continuity analysis, by the MP4 index and by an ffprobe packet scan?

Generates (once, cached under /var/tmp) a 10-minute 1920x1080 30 fps H.264 + AAC recording: a
10 s clip encoded with x264 ultrafast at a constant bitrate, looped with ``-c copy`` to 10 minutes
(same packets and timestamps an encoder would give, in seconds instead of minutes). Then times:

- index path: ``extract`` (reads moov and the first video sample) + ``analyze_file`` (edit
  lists and repeated GOPs included) + the chain link + the content fingerprint (issue 13);
- ffprobe path: ``ffprobe.probe`` (reads every packet) + ``analyze_file``;
- pictures at the seams (issue 13): the overlay OCR of one recording (first frame and last
  keyframe, two frames each, one tesseract run) + the scene-change thumbnails of one seam;
- the ingest proxy: a plain copy + SHA-256 of the same file, fsynced (what ingest must do anyway).

Prints hours of footage per wall second and each path's time as a fraction of the ingest proxy,
with its target, ratio and ok/MISS. Targets: index path >= 2000x real time (issue 3: 10 minutes
in < 0.3 s) and < 10 % of ingest; pictures < 10 % of the ingest time of the same file (issue 13).

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

from bodycam_ingest.analysis.chain import link
from bodycam_ingest.analysis.continuity import analyze_file
from bodycam_ingest.analysis.extract import extract
from bodycam_ingest.analysis.ffprobe import probe
from bodycam_ingest.analysis.model import MediaTimeline, Overlay, RecordingFacts, Thresholds
from bodycam_ingest.analysis.reuse import fingerprint
from bodycam_ingest.analysis.seams import ocr_reader, overlay_check, scene_check, seam_thumbs

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
    link(got.timeline, Thresholds())
    fingerprint(got.timeline)
    return time.perf_counter() - start


OVERLAY = Overlay("900x60+0+0", "{device} {officer} %Y-%m-%d %H:%M:%S", 1)  # a 1080p corner


def pictures_path(path: Path, engine: str = "in-process") -> float:
    """What a dock adds per recording when its profile places the overlay: OCR + one seam."""
    timeline = extract(path).timeline
    one = facts(path, timeline)
    start = time.perf_counter()
    overlay_check(one, ocr_reader(path, OVERLAY, engine=engine), Thresholds(),
                  ocr_reader(path, OVERLAY, frames=2, engine=engine))
    scene_check(one, one, seam_thumbs(path, path, engine=engine), Thresholds())
    return time.perf_counter() - start


def pictures_programs(path: Path) -> float:
    """The same with ffmpeg and tesseract started per frame and per recording (the fallback)."""
    return pictures_path(path, "programs")


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
    targets = {"index": 0.10, "ffprobe": None, "pictures": 0.10, "pictures (programs)": None}
    for name, fn, runs in (("index", index_path, args.runs), ("ffprobe", ffprobe_path, 2),
                           ("pictures", pictures_path, args.runs),
                           ("pictures (programs)", pictures_programs, 3)):
        fn(path)  # warm-up
        t = statistics.median(fn(path) for _ in range(runs))
        share = t / ingest
        print(f"{name:19s}: {t:.3f} s  = {footage / t:,.0f}x real time, "
              f"{footage / 3600 / t:.2f} h of footage per wall second, "
              f"{100 * share:.1f}% of the ingest proxy")
        limit = targets[name]
        if name == "index":
            speed = footage / t
            print(f"  target >= 2,000x real time: {speed:,.0f}x, ratio {speed / 2000:.1f} "
                  f"-> {'ok' if speed >= 2000 else 'MISS'}")
        if limit is not None:
            print(f"  target < {100 * limit:.0f}% of ingest: {100 * share:.1f}%, ratio "
                  f"{share / limit:.2f} -> {'ok' if share < limit else 'MISS'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
