"""How fast is continuity analysis, by the MP4 index and by an ffprobe packet scan?

Generates (once, cached under /var/tmp) a 10-minute 1920x1080 30 fps H.264 + AAC recording: a
10 s clip encoded with x264 ultrafast at a constant bitrate, looped with ``-c copy`` to 10 minutes
(same packets and timestamps an encoder would give, in seconds instead of minutes). Then times:

- index path: ``extract`` (reads moov and the first video sample) + ``analyze_file`` (edit
  lists and repeated GOPs included) + the chain link + the content fingerprint (issue 13);
- ffprobe path: ``ffprobe.probe`` (reads every packet) + ``analyze_file``;
- pictures at the seams (issue 13): the overlay OCR of one recording (first frame and last
  keyframe, one tesseract run) + one continuing seam (into a 2 s file that continues the
  recording's picture: what a dock's split segments give), whose keyframes let it through;
  printed beside it, not in the total: the same seam judged frame by frame (what a seam whose
  keyframes do not let it through costs on top);
- the ingest proxy: a plain copy + SHA-256 of the same file, fsynced (what ingest must do anyway).

Prints hours of footage per wall second and each path's time as a fraction of the ingest proxy,
with its target, ratio and ok/MISS. Targets: index path >= 2000x real time (issue 3: 10 minutes
in < 0.3 s) and < 10 % of ingest; pictures < 10 % of the ingest time of the same file (issue 13).

    .venv/bin/python bench/continuity.py [--bitrate 8M] [--runs 5] [--paths index,pictures]
        [--preset veryfast]
"""

from __future__ import annotations

import argparse
import calendar
import functools
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bodycam_ingest.analysis import frames as in_process
from bodycam_ingest.analysis.chain import link
from bodycam_ingest.analysis.continuity import analyze_file
from bodycam_ingest.analysis.extract import extract
from bodycam_ingest.analysis.ffprobe import probe
from bodycam_ingest.analysis.model import (
    Finding,
    MediaTimeline,
    Overlay,
    RecordingFacts,
    Thresholds,
)
from bodycam_ingest.analysis.reuse import fingerprint
from bodycam_ingest.analysis.seams import ocr_reader, overlay_check, scene_check, seam_thumbs

CACHE = Path("/var/tmp/bodycam-bench")
MINUTES = 10


FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"  # fonts-dejavu-core
START = datetime(2026, 11, 20, 9, 30)  # the file name's camera-local start (see ``facts``)


def _overlay(clock_from_s: float | None, work: Path) -> str:
    """drawtext burning 'DEV A1 <camera clock>' in the top-left corner, as a camera does; None:
    the box without text (the looped middle, never read on an honest file)."""
    if clock_from_s is None:
        return "drawbox=x=0:y=0:w=900:h=60:color=black:t=fill"
    epoch = calendar.timegm(START.timetuple()) + int(clock_from_s)
    text = work / f"overlay{int(clock_from_s)}.txt"
    text.write_text(f"DEV A1 %{{pts:gmtime:{epoch}:%Y-%m-%d %H\\:%M\\:%S}}")
    return (f"drawtext=fontfile={FONT}:fontsize=40:fontcolor=white:box=1:boxcolor=black@1:"
            f"boxborderw=8:x=8:y=6:textfile={text}")


def make_file(bitrate: str, preset: str = "ultrafast") -> Path:
    """The first and last 10 s carry a burned-in clock that runs with the footage (what the
    pictures read on an honest file: the first frame and the last keyframe); the 58 x 10 s in
    between are one clip repeated with ``-c copy``."""
    CACHE.mkdir(parents=True, exist_ok=True)
    suffix = "" if preset == "ultrafast" else f"_{preset}"
    out = CACHE / f"continuity_1080p30_{MINUTES}min_{bitrate}_overlay{suffix}.mp4"
    if out.exists():
        return out
    print(f"generating {out} (once)...", file=sys.stderr)
    ff = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    video = _video_args(bitrate, preset)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        work = Path(tmp)
        parts = []
        for name, clock in (("head", 0.0), ("mid", None), ("tail", MINUTES * 60.0 - 10)):
            part = work / f"{name}.mp4"
            subprocess.run([*ff, "-f", "lavfi", "-i",
                            "testsrc=size=1920x1080:rate=30:duration=10", "-vf",
                            _overlay(clock, work), *video, str(part)], check=True)
            parts.append(part)
        head, mid, tail = parts
        listing = work / "parts.txt"
        listing.write_text("".join(f"file '{p}'\n"
                                   for p in [head, *[mid] * (MINUTES * 6 - 2), tail]))
        sound = work / "sound.m4a"
        subprocess.run([*ff, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:"
                        f"duration={MINUTES * 60}", "-c:a", "aac", "-b:a", "64k", str(sound)],
                       check=True)
        tmp_out = work / "out.mp4"
        subprocess.run([*ff, "-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(sound),
                        "-map", "0:v", "-map", "1:a", "-c", "copy", "-metadata",
                        "creation_time=2026-11-20T01:30:00Z", str(tmp_out)], check=True)
        tmp_out.replace(out)
    return out


def make_next(bitrate: str, preset: str = "ultrafast") -> Path:
    """The next 2 s segment: the picture continues the recording's last frame (testsrc frame
    300 after 299, the burned-in clock from 600 s), encoded alike (cached beside it)."""
    suffix = "" if preset == "ultrafast" else f"_{preset}"
    out = CACHE / f"continuity_1080p30_next2s_{bitrate}_overlay{suffix}.mp4"
    if out.exists():
        return out
    print(f"generating {out} (once)...", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        work = Path(tmp)
        part = work / "next.mp4"
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                        "-f", "lavfi", "-i", "testsrc=size=1920x1080:rate=30:duration=12",
                        "-vf", "trim=start_frame=300,setpts=PTS-STARTPTS,"
                        + _overlay(MINUTES * 60.0, work), *_video_args(bitrate, preset),
                        str(part)], check=True)
        part.replace(out)
    return out


def _video_args(bitrate: str, preset: str) -> list[str]:
    return ["-c:v", "libx264", "-preset", preset, "-g", "30", "-bf", "0", "-pix_fmt", "yuv420p",
            "-b:v", bitrate, "-minrate", bitrate, "-maxrate", bitrate, "-bufsize", bitrate,
            "-x264-params", "nal-hrd=cbr"]


def facts(path: Path, timeline: MediaTimeline | None) -> RecordingFacts:
    return RecordingFacts("bench", "DEV", "A1", START, "Asia/Shanghai",
                          1, datetime.fromtimestamp(path.stat().st_mtime, UTC),
                          path.stat().st_size, timeline)


Timed = tuple[float, float]  # (wall seconds, CPU seconds: user + sys, children included)


def _cpu() -> float:
    own, kids = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                    resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(work: Callable[[], object]) -> Timed:
    cpu, start = _cpu(), time.perf_counter()
    work()
    return time.perf_counter() - start, _cpu() - cpu


def index_path(path: Path) -> dict[str, Timed]:
    def work() -> None:
        got = extract(path)
        assert got.timeline is not None and got.timeline.source == "index", got.problem
        analyze_file(facts(path, got.timeline))
        link(got.timeline, Thresholds())
        fingerprint(got.timeline)

    return {"": timed(work)}


OVERLAY = Overlay("900x60+0+0", "{device} {officer} %Y-%m-%d %H:%M:%S", 1)  # a 1080p corner


def pictures_path(path: Path, engine: str = "in-process", *, nxt: Path | None = None
                  ) -> dict[str, Timed]:
    """What a dock adds per recording when its profile places the overlay: the overlay read
    (first frame and last keyframe, OCR) and one continuing seam (this file's end into ``nxt``,
    the next segment: its keyframes let it through). The files are closed first, as a new
    recording's are (``frames`` keeps the last files it read open)."""
    one = facts(path, extract(path).timeline)
    after = nxt or path
    then = facts(after, extract(after).timeline)
    in_process.release()
    found: list[Finding] = []

    def overlay() -> None:
        found.extend(overlay_check(one, ocr_reader(path, OVERLAY, engine=engine), Thresholds(),
                                   ocr_reader(path, OVERLAY, frames=2, engine=engine)))

    def seam() -> None:
        found.extend(scene_check(one, then, seam_thumbs(path, after, engine=engine),
                                 Thresholds()))

    parts = {"overlay": timed(overlay), "seam": timed(seam)}
    assert not found, found  # an honest file and seam: no second, confirming read; no finding
    return parts


def seam_by_frames(path: Path, nxt: Path) -> Timed:
    """The same seam judged frame by frame (``a``'s last GOP decoded), as a seam whose keyframes
    do not let it through is: its extra cost (files closed first, as above)."""
    in_process.release()
    # seam_keyframe_ratio 0: nothing is let through on its keyframes
    return timed(lambda: seam_thumbs(path, nxt, engine="in-process", keyframe_ratio=0.0))


def pictures_programs(path: Path, *, nxt: Path | None = None) -> dict[str, Timed]:
    """The same with ffmpeg and tesseract started per frame and per recording (the fallback)."""
    return pictures_path(path, "programs", nxt=nxt)


def ffprobe_path(path: Path) -> dict[str, Timed]:
    def work() -> None:
        timeline, why = probe(path)
        assert timeline is not None, why
        analyze_file(facts(path, timeline))

    return {"": timed(work)}


def copy_and_hash(path: Path) -> Timed:
    def work() -> None:
        digest = hashlib.sha256()
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        with path.open("rb") as src, tempfile.NamedTemporaryFile(dir=CACHE) as dst:
            while n := src.readinto(buf):
                digest.update(view[:n])
                dst.write(view[:n])
            dst.flush()
            os.fsync(dst.fileno())

    return timed(work)


def _median(runs: list[Timed]) -> Timed:
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bitrate", default="8M", help="video bitrate (a 1080p camera: 8-12M)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--preset", default="ultrafast",
                    help="x264 preset: ultrafast (CAVLC, no loop filter: cheap to decode) or, "
                         "closer to a camera's Main/High profile, veryfast (CABAC, loop filter)")
    ap.add_argument("--paths", default="index,ffprobe,pictures,programs",
                    help="which paths to time (comma-separated)")
    args = ap.parse_args(argv)
    wanted = set(args.paths.split(","))
    path = make_file(args.bitrate, args.preset)
    nxt = make_next(args.bitrate, args.preset) if {"pictures", "programs"} & wanted else None
    footage = MINUTES * 60.0
    mib = path.stat().st_size / 2**20
    load = os.getloadavg()
    path.read_bytes()  # warm the page cache so every path reads from memory alike
    ingest, ingest_cpu = _median([copy_and_hash(path) for _ in range(args.runs)])
    print(f"file: {path} ({mib:.0f} MiB, {MINUTES} min 1920x1080 30 fps H.264 {args.preset} "
          "+ AAC)")
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"ingest proxy (copy + sha256 + fsync): {ingest:.3f} s ({mib / ingest:.0f} MiB/s), "
          f"CPU {ingest_cpu:.3f} s")
    targets = {"index": 0.10, "ffprobe": None, "pictures": 0.10, "pictures (programs)": None}
    paths: list[tuple[str, Callable[..., dict[str, Timed]], int]] = [
        ("index", index_path, args.runs), ("ffprobe", ffprobe_path, 2),
        ("pictures", pictures_path, args.runs), ("pictures (programs)", pictures_programs, 3)]
    for name, fn, runs in paths:
        if name.split()[-1].strip("()") not in wanted:
            continue
        call: Callable[[], dict[str, Timed]] = (
            functools.partial(fn, path, nxt=nxt) if name.startswith("pictures")
            else functools.partial(fn, path))
        call()  # warm-up
        got = [call() for _ in range(runs)]
        parts = {part: _median([g[part] for g in got]) for part in got[0]}
        t, cpu = _median([(sum(w for w, _ in g.values()), sum(c for _, c in g.values()))
                          for g in got])
        share = t / ingest
        print(f"{name:19s}: {t:.3f} s  = {footage / t:,.0f}x real time, "
              f"{footage / 3600 / t:.2f} h of footage per wall second, "
              f"{100 * share:.1f}% of the ingest proxy; CPU {cpu:.3f} s = "
              f"{100 * cpu / ingest_cpu:.1f}% of the ingest proxy's CPU")
        for part, (pw, pc) in parts.items():
            if part:
                print(f"  {part:17s}: {pw:.3f} s ({100 * pw / ingest:.1f}%), CPU {pc:.3f} s "
                      f"({100 * pc / ingest_cpu:.1f}%)")
        if name == "pictures" and nxt is not None:
            fw, fc = _median([seam_by_frames(path, nxt) for _ in range(runs)])
            print(f"  (not in the total) the seam judged frame by frame, as one its keyframes "
                  f"do not let through: {fw:.3f} s ({100 * fw / ingest:.1f}%), CPU {fc:.3f} s "
                  f"({100 * fc / ingest_cpu:.1f}%)")
        limit = targets[name]
        if name == "index":
            speed = footage / t
            print(f"  target >= 2,000x real time: {speed:,.0f}x, ratio {speed / 2000:.1f} "
                  f"-> {'ok' if speed >= 2000 else 'MISS'}")
        if limit is not None:
            print(f"  target < {100 * limit:.0f}% of ingest: {100 * share:.1f}%, ratio "
                  f"{share / limit:.2f} -> {'ok' if share < limit else 'MISS'} "
                  f"(CPU: {100 * cpu / ingest_cpu:.1f}%, ratio {cpu / ingest_cpu / limit:.2f})")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
