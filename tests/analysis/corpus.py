"""The continuity test corpus: real recordings made with ffmpeg, and real forgeries of them.

The "camera" writes what a body camera's firmware would: a fixed GOP (5 frames at 10 fps, no
scene-cut keyframes), its own handler names and compressor name, brand ``avc1``, a 90 kHz video
time scale, no encoder tag, creation time = start in UTC, and the file's mtime at its close.

The "forger" is careful: it edits with ``ffmpeg -c copy`` (no re-encoding), keeps the camera's
tags (bitexact, same brand, same creation time) and puts the original mtime back. So every
forgery must be caught by its timeline, not by a remuxer's fingerprint. Only the re-encoded
copy is careless on purpose.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bodycam_ingest.analysis.clock import to_utc
from bodycam_ingest.analysis.extract import extract
from bodycam_ingest.analysis.model import FindingKind, RecordingFacts

ZONE = "Asia/Shanghai"
DEVICE = "DSJ9X001"
OFFICER = "A1024"
FPS = 10
GOP = 5
DOCK = to_utc(datetime(2026, 11, 20, 18, 0, 0), ZONE)  # the station's clock at dock
PREVIOUS_DOCK = to_utc(datetime(2026, 11, 19, 18, 0, 0), ZONE)
K = FindingKind

CAMERA_ARGS = [
    "-c:v", "libx264", "-preset", "ultrafast", "-g", str(GOP), "-keyint_min", str(GOP),
    "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "32k", "-ac", "1",
    "-video_track_timescale", "90000", "-fflags", "+bitexact", "-flags:v", "+bitexact",
    "-metadata:s:v", "encoder=DSJ9X_AVC", "-metadata:s:v", "handler_name=DSJVideo",
    "-metadata:s:a", "handler_name=DSJAudio", "-brand", "avc1",
]


@dataclass(frozen=True)
class Clip:
    """One file as the camera (or the forger) left it, with what its name and mtime say."""

    path: Path
    seq: int
    start: datetime  # naive camera-local time in the file name
    seconds: float  # what the camera recorded (for the mtime)

    @property
    def recording_id(self) -> str:
        return self.path.name

    def facts(self, *, reader: str = "auto") -> RecordingFacts:
        """The facts ingest would collect; ``reader`` forces "index" or "ffprobe"."""
        if reader == "ffprobe":
            from bodycam_ingest.analysis.ffprobe import probe

            timeline, problem = probe(self.path)
        else:
            got = extract(self.path)
            timeline, problem = got.timeline, got.problem
        mtime = datetime.fromtimestamp(self.path.stat().st_mtime, UTC)
        return RecordingFacts(
            recording_id=self.recording_id, device=DEVICE, officer=OFFICER,
            filename_start=self.start, zone=ZONE, seq=self.seq, camera_mtime=mtime,
            size=self.path.stat().st_size, timeline=timeline, timeline_problem=problem)


@dataclass(frozen=True)
class Expect:
    kind: FindingKind
    recording: int  # index into the case's clips
    offset_s: float | None  # None: a whole-file finding
    tolerance_s: float = 0.11  # one frame at 10 fps


@dataclass(frozen=True)
class Case:
    name: str
    clips: tuple[Clip, ...]
    expect: tuple[Expect, ...] = ()
    history_seqs: tuple[int, ...] = ()  # recordings seen at the previous dock
    forbid: frozenset[FindingKind] = field(default_factory=frozenset)
    same_camera: bool = True  # False: another camera model, judged without the MP4 profile

    @property
    def clean(self) -> bool:
        return not self.expect


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
                   check=True, capture_output=True)


def _name(start: datetime, seq: int, ext: str = "MP4") -> str:
    return f"{OFFICER}_{DEVICE}_{start:%Y%m%d%H%M%S}_{seq:04d}.{ext}"


def _stamp(path: Path, start: datetime, seconds: float) -> None:
    """The camera closes the file when it stops: mtime = start + length (camera clock)."""
    end = to_utc(start, ZONE) + timedelta(seconds=seconds)
    os.utime(path, (end.timestamp(), end.timestamp()))


def camera_clip(d: Path, start: datetime, seq: int, seconds: float = 2.0, *, tone: int = 440,
                audio_seconds: float | None = None, local_container_time: bool = False) -> Clip:
    path = d / _name(start, seq)
    created = start if local_container_time else to_utc(start, ZONE).replace(tzinfo=None)
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=160x120:rate={FPS}:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=48000:"
            f"duration={audio_seconds or seconds}", *CAMERA_ARGS,
            "-metadata", f"creation_time={created:%Y-%m-%dT%H:%M:%S}Z", str(path))
    _stamp(path, start, seconds)
    return Clip(path, seq, start, seconds)


def _forge(src: Clip, out: Path, concat_list: str) -> Clip:
    """-c copy through the concat demuxer, keeping the camera's tags, times and mtime."""
    listing = out.with_suffix(".txt")
    listing.write_text(concat_list)
    created = to_utc(src.start, ZONE)
    _ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
            "-fflags", "+bitexact", "-brand", "avc1",
            "-metadata", f"creation_time={created:%Y-%m-%dT%H:%M:%S}Z", str(out))
    listing.unlink()
    shutil.copystat(src.path, out)
    return replace(src, path=out)


def _cut_end(src: Clip, out: Path, keep: int) -> Clip:
    out.write_bytes(src.path.read_bytes()[:keep])
    shutil.copystat(src.path, out)
    return replace(src, path=out)


def _without_moov(src: Clip, out: Path) -> Clip:
    """Power loss: the camera never wrote its index. Keep every box but moov."""
    data = src.path.read_bytes()
    kept, off = [], 0
    while off < len(data):
        size = int.from_bytes(data[off:off + 4], "big")
        if data[off + 4:off + 8] != b"moov":
            kept.append(data[off:off + size])
        off += size
    out.write_bytes(b"".join(kept))
    shutil.copystat(src.path, out)
    return replace(src, path=out)


def truncation_time(src: Path, keep: int) -> float:
    """Where the media data of ``src`` cut at byte ``keep`` ends, from ffprobe's packet list."""
    got = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_entries",
                          "packet=stream_index,pts_time,pos,size", "-show_packets", str(src)],
                         check=True, capture_output=True).stdout
    ends: dict[int, float] = {}
    for p in json.loads(got)["packets"]:
        if int(p["pos"]) + int(p["size"]) > keep:
            ends.setdefault(p["stream_index"], float(p["pts_time"]))
    return max(ends.values())


def build(d: Path) -> dict[str, Case]:
    """Every scenario of issue 3's "must show" list, plus the clean inputs."""
    for sub in ("hole", "rebased", "inserted", "reencoded", "damaged", "ts"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    day = datetime(2026, 11, 20)
    at = day.replace
    cases: dict[str, Case] = {}

    def add(case: Case) -> None:
        cases[case.name] = case

    # Clean inputs.
    add(Case("clean_single", (camera_clip(d, at(hour=9, minute=30), 1, 4.0),)))
    add(Case("clean_session", tuple(camera_clip(d, at(hour=10, second=2 * i), 11 + i, 2.0,
                                                 tone=300 + 100 * i) for i in range(3))))
    add(Case("clean_local_container_time", (camera_clip(
        d, at(hour=9, minute=40), 2, 3.0, local_container_time=True),)))

    # Within-file forgeries of one 4 s recording (GOP boundaries at 0.5 s).
    src = camera_clip(d, at(hour=10, minute=10), 20, 4.0, tone=500)
    hole = _forge(src, d / "hole" / src.path.name, f"file '{src.path}'\noutpoint 1.2\n"
                  f"duration 2.5\nfile '{src.path}'\ninpoint 2.5\n")
    add(Case("cut_with_hole", (hole,), (Expect(K.TIMESTAMP_GAP, 0, 1.2),)))
    rebased = _forge(src, d / "rebased" / src.path.name,
                     f"file '{src.path}'\noutpoint 1.2\nfile '{src.path}'\ninpoint 2.5\n")
    add(Case("cut_rebased", (rebased,), (Expect(K.KEYFRAME_IRREGULAR, 0, 1.2),),
             forbid=frozenset({K.FOREIGN_ENCODER})))

    host = camera_clip(d, at(hour=10, minute=20), 30, 4.0, tone=600)
    foreign = d / "foreign_source.mp4"  # another camera: 15 fps, GOP 15, other preset
    _ffmpeg("-f", "lavfi", "-i", "smptebars=size=160x120:rate=15:duration=1", "-f", "lavfi",
            "-i", "sine=frequency=900:sample_rate=48000:duration=1", "-c:v", "libx264",
            "-preset", "veryfast", "-bf", "0", "-g", "15", "-pix_fmt", "yuv420p", "-c:a", "aac",
            "-b:a", "32k", "-ac", "1", "-video_track_timescale", "90000", str(foreign))
    inserted = _forge(host, d / "inserted" / host.path.name,
                      f"file '{host.path}'\noutpoint 1.5\nfile '{foreign}'\n"
                      f"file '{host.path}'\ninpoint 1.5\n")
    add(Case("foreign_inserted", (inserted,), (Expect(K.PARAMETER_CHANGE, 0, 1.5),
                                              Expect(K.KEYFRAME_IRREGULAR, 0, 1.5))))

    plain = camera_clip(d, at(hour=10, minute=30), 40, 3.0, tone=700)
    reenc = d / "reencoded" / plain.path.name
    _ffmpeg("-i", str(plain.path), "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac",
            "-metadata", f"creation_time={to_utc(plain.start, ZONE):%Y-%m-%dT%H:%M:%S}Z",
            str(reenc))
    shutil.copystat(plain.path, reenc)
    add(Case("reencoded_copy", (replace(plain, path=reenc),),
             (Expect(K.FOREIGN_ENCODER, 0, None), Expect(K.PARAMETER_CHANGE, 0, None))))

    # Damaged files.
    whole = camera_clip(d, at(hour=10, minute=40), 50, 3.0, tone=800)
    size = whole.path.stat().st_size
    add(Case("truncated_end", (_cut_end(whole, d / "damaged" / "cut_end.MP4", size - 300),),
             (Expect(K.TRUNCATED, 0, None),)))
    add(Case("moov_missing", (_without_moov(whole, d / "damaged" / "no_moov.MP4"),),
             (Expect(K.TRUNCATED, 0, None),)))
    front = d / "damaged" / "faststart_full.MP4"
    _ffmpeg("-i", str(whole.path), "-c", "copy", "-fflags", "+bitexact", "-brand", "avc1",
            "-movflags", "+faststart", str(front))
    shutil.copystat(whole.path, front)
    keep = front.stat().st_size * 2 // 3
    cut_at = truncation_time(front, keep)
    add(Case("truncated_mid_data", (_cut_end(replace(whole, path=front),
                                             d / "damaged" / "faststart_cut.MP4", keep),),
             (Expect(K.TRUNCATED, 0, cut_at, 0.05),)))

    # A timestamp reset: an MPEG-TS camera whose clock restarts in the middle of a file.
    ts_src = camera_clip(d, at(hour=10, minute=50), 60, 4.0, tone=900)
    part_a, part_b = d / "ts" / "a.ts", d / "ts" / "b.ts"
    _ffmpeg("-i", str(ts_src.path), "-c", "copy", "-t", "2", str(part_a))
    _ffmpeg("-ss", "2", "-i", str(ts_src.path), "-c", "copy", str(part_b))
    reset = d / "ts" / _name(ts_src.start, 60, "TS")
    reset.write_bytes(part_a.read_bytes() + part_b.read_bytes())
    shutil.copystat(ts_src.path, reset)
    add(Case("timestamp_reset", (replace(ts_src, path=reset),),
             (Expect(K.TIMESTAMP_BACKWARDS, 0, 2.0),), same_camera=False))

    # Sessions.
    trio = [camera_clip(d, at(hour=11, second=2 * i), 71 + i, 2.0, tone=400 + 50 * i)
            for i in range(3)]
    add(Case("session_middle_deleted", (trio[0], trio[2]), (Expect(K.MISSING_SEGMENT, 1, 0.0),)))
    add(Case("segments_overlap", (camera_clip(d, at(hour=11, minute=10), 81, 3.0),
                                  camera_clip(d, at(hour=11, minute=10, second=1), 82, 2.0)),
             (Expect(K.SEGMENT_OVERLAP, 1, 0.0),)))
    add(Case("segments_gap", (camera_clip(d, at(hour=11, minute=30), 111, 2.0),
                              camera_clip(d, at(hour=11, minute=30, second=4), 112, 2.0)),
             (Expect(K.SEGMENT_GAP, 1, 0.0),)))
    add(Case("missing_across_docks", (camera_clip(d, at(hour=11, minute=40), 125, 2.0),),
             (Expect(K.MISSING_SEGMENT, 0, 0.0),), history_seqs=(121, 122, 123)))
    add(Case("clock_reset_2000", (camera_clip(d, datetime(2000, 1, 1, 0, 0, 5), 91, 2.0),),
             (Expect(K.CLOCK_DRIFT, 0, None),)))
    add(Case("clock_ahead", (camera_clip(d, at(hour=18, minute=5), 95, 2.0),),
             (Expect(K.CLOCK_DRIFT, 0, None),)))

    # Times that disagree, and sound that does not fit the picture.
    orig = camera_clip(d, at(hour=11, minute=20), 100, 3.0)
    renamed = orig.path.with_name(_name(at(hour=11, minute=25), 100))
    orig.path.rename(renamed)
    add(Case("renamed_file", (replace(orig, path=renamed, start=at(hour=11, minute=25)),),
             (Expect(K.TIME_MISMATCH, 0, None),)))
    add(Case("audio_stops_early", (camera_clip(d, at(hour=11, minute=50), 130, 4.0,
                                               audio_seconds=2.5),),
             (Expect(K.AV_DESYNC, 0, 2.5, 0.05),)))
    return cases
