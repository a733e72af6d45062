"""The adversarial corpus (issue 13): careful forgeries and honest oddities, made with ffmpeg.

The "camera" here behaves like a real body camera: one continuous encoder per recording session
(x264 with a fixed GOP, AAC), split into numbered segments of a fixed length (the split length)
by the segment muxer, so the segments of a session continue each other (no encoder restart,
the audio samples run on across each split), a burned-in overlay with the device id, officer id
and the camera clock (as GA/T 947 cameras must), file names with the camera-local start time,
container creation time = start (UTC), mtime = close time.

The "forger" is careful: ``-c copy`` or a re-encode with the camera's own settings, cuts only at
keyframes, timestamps rewritten continuous, the camera's tags, brands, time scales and handler
names restored, creation and file times set to what a clean file would carry, and names and
container times shifted together. Each forgery was checked against the release before issue 13
(see FINDINGS.md, "Adversarial corpus"): every one passed as clean at its own dock.

Deterministic: same inputs, same bytes (``-fflags +bitexact``, single-threaded x264). Small:
320x240 at 10 fps, sessions of a few seconds; the whole corpus builds in well under a minute.
"""

from __future__ import annotations

import calendar
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bodycam_ingest.analysis.clock import to_utc
from bodycam_ingest.analysis.extract import extract
from bodycam_ingest.analysis.model import FindingKind, RecordingFacts

from . import mp4edit as me

ZONE = "Asia/Shanghai"
DEVICE = "DSJ9X001"
OTHER_DEVICE = "DSJ9X002"
OFFICER = "A1024"
FPS = 10
GOP = 5  # frames: one keyframe every 0.5 s, day and night
SPLIT = 3.0  # seconds per segment
SIZE = "320x240"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"  # fonts-dejavu-core
DAY = datetime(2026, 11, 20)
DOCK = to_utc(datetime(2026, 11, 20, 18, 0, 0), ZONE)
PREVIOUS_DOCK = to_utc(datetime(2026, 11, 19, 18, 0, 0), ZONE)
OVERLAY = {"overlay_crop": "316x22+0+0", "overlay_scale": 3,
           "overlay_format": "{device} {officer} %Y-%m-%d %H:%M:%S"}
"""Where this camera burns its overlay and in which form (for ``[analysis.profiles.X]``)."""
K = FindingKind


@dataclass(frozen=True)
class AClip:
    """One file as the camera (or the forger) left it."""

    path: Path
    seq: int
    start: datetime  # naive camera-local time in the file name
    seconds: float
    device: str = DEVICE

    @property
    def recording_id(self) -> str:
        return self.path.name

    def facts(self, seen_at: datetime | None = None) -> RecordingFacts:
        got = extract(self.path)
        mtime = datetime.fromtimestamp(self.path.stat().st_mtime, UTC)
        return RecordingFacts(
            recording_id=self.recording_id, device=self.device, officer=OFFICER,
            filename_start=self.start, zone=ZONE, seq=self.seq, camera_mtime=mtime,
            size=self.path.stat().st_size, timeline=got.timeline, timeline_problem=got.problem,
            seen_at=seen_at)


@dataclass(frozen=True)
class Case:
    """One dock: the files it brings, and what the analysis must say about them."""

    name: str
    clips: tuple[AClip, ...]
    expect: tuple[tuple[FindingKind, int], ...] = ()  # (kind, index into clips)
    note: str = ""
    dock: datetime = DOCK
    seen_after_dock_s: float = 30.0  # when the station listed/copied the files
    earlier: tuple[AClip, ...] = ()  # recordings of earlier docks (for re-used content)
    history_seqs: tuple[int, ...] = ()
    pictures: bool = False  # needs the seam pictures (OCR) to be caught

    @property
    def forged(self) -> bool:
        return bool(self.expect)


def _ffmpeg(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
                   check=True, capture_output=True, cwd=cwd)


def name(start: datetime, seq: int, device: str = DEVICE) -> str:
    return f"{OFFICER}_{device}_{start:%Y%m%d%H%M%S}_{seq:04d}.MP4"


def _stamp(path: Path, start: datetime, seconds: float) -> None:
    end = to_utc(start, ZONE) + timedelta(seconds=seconds)
    os.utime(path, (end.timestamp(), end.timestamp()))


MAC_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)


def set_creation(path: Path, start_local: datetime) -> None:
    """Rewrite mvhd/tkhd/mdhd creation and modification times (moov is at the end)."""
    stamp = int((to_utc(start_local, ZONE) - MAC_EPOCH).total_seconds())

    def fix(body: bytes) -> bytes:
        return body[:4] + struct.pack(">II", stamp, stamp) + body[12:] if body[0] == 0 else body

    def change(tree: me.Tree) -> None:
        me.replace_body(tree, (b"mvhd",), fix(me.find(tree, b"mvhd")))  # type: ignore[arg-type]
        for n in range(sum(1 for t, _ in tree if t == b"trak")):
            trak = [b for t, b in tree if t == b"trak"][n]
            assert isinstance(trak, list)
            me.replace_body(trak, (b"tkhd",), fix(me.find(trak, b"tkhd")))  # type: ignore[arg-type]
            mdia = me.find(trak, b"mdia")
            assert isinstance(mdia, list)
            me.replace_body(mdia, (b"mdhd",), fix(me.find(mdia, b"mdhd")))  # type: ignore[arg-type]

    tmp = path.with_suffix(".tmp")
    me.edit_moov(path, tmp, change)
    tmp.replace(path)


CAMERA_V = ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(GOP), "-keyint_min", str(GOP),
            "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p", "-threads", "1",
            "-x264-params", "sliced-threads=0"]
CAMERA_A = ["-c:a", "aac", "-b:a", "32k", "-ac", "1", "-ar", "48000"]
CAMERA_TAGS = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
               "-metadata:s:v", "encoder=DSJ9X_AVC", "-metadata:s:v", "handler_name=DSJVideo",
               "-metadata:s:a", "handler_name=DSJAudio"]
MUX = ["-video_track_timescale", "90000", "-brand", "avc1"]


def _overlay(work: Path, device: str, start: datetime, steps: list[tuple[float, float]]) -> str:
    """drawtext filters burning '<device> <officer> <camera clock>' in the top-left corner;
    ``steps``: (from second, clock offset) - a clock stepped by GPS/NTP mid-session."""
    parts = []
    bounds = [*steps[1:], (1e9, 0.0)]
    for n, ((at, shift), (until, _)) in enumerate(zip(steps, bounds, strict=True)):
        epoch = calendar.timegm(start.timetuple()) + int(shift)
        text = work / f"overlay{n}.txt"
        text.write_text(f"{device} {OFFICER} %{{pts:gmtime:{epoch}:%Y-%m-%d %H\\:%M\\:%S}}")
        parts.append(f"drawtext=fontfile={FONT}:fontsize=13:fontcolor=white:box=1:"
                     f"boxcolor=black@1:boxborderw=4:x=4:y=4:textfile={text.name}:"
                     f"enable='between(t,{at},{until - 0.001})'")
    return ",".join(parts)


def session(d: Path, start: datetime, first_seq: int, seconds: float, *, device: str = DEVICE,
            split: float = SPLIT, fps: int = FPS, gop: int = GOP, hue: int = 0, tone: int = 440,
            audio: bool = True, scene: str = "testsrc2",
            clock_step: tuple[float, float] | None = None) -> list[AClip]:
    """One recording session as the camera writes it: one encoder, split every ``split`` s.

    ``clock_step`` = (at second, step seconds): the camera clock is stepped at a split (GPS/NTP),
    so the later segments' names, container times and burned-in clock move with it.
    """
    work = d / f".enc-{device}-{first_seq}-{start:%H%M%S}"
    work.mkdir(parents=True, exist_ok=True)
    steps = [(0.0, 0.0)] + ([clock_step] if clock_step else [])
    source = (f"testsrc2=size={SIZE}:rate={fps}:duration={seconds}" if scene == "testsrc2"
              else f"color=c=0x101010:size={SIZE}:rate={fps}:duration={seconds}")
    inputs = ["-f", "lavfi", "-i", source]
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=48000:"
                   f"duration={seconds}"]
    vf = (f"hue=h={hue}," if hue else "") + _overlay(work, device, start, steps)
    gop_args = ["-g", str(gop), "-keyint_min", str(gop)]
    _ffmpeg(*inputs, "-vf", vf, *CAMERA_V, *gop_args, *(CAMERA_A if audio else []),
            *CAMERA_TAGS, "-f", "segment", "-segment_time", str(split), "-reset_timestamps", "1",
            "-segment_format", "mp4", "-segment_format_options",
            "video_track_timescale=90000:brand=avc1", "seg%03d.mp4", cwd=work)
    clips = []
    parts = sorted(work.glob("seg*.mp4"))
    for i, part in enumerate(parts):
        offset = i * split
        length = min(split, seconds - offset)
        shift = clock_step[1] if clock_step and offset >= clock_step[0] else 0.0
        local = start + timedelta(seconds=offset + shift)
        out = d / name(local, first_seq + i, device)
        part.replace(out)
        set_creation(out, local)
        _stamp(out, local, length)
        clips.append(AClip(out, first_seq + i, local, length, device))
    shutil.rmtree(work)
    return clips


# --- the forger's tools -------------------------------------------------------------------
Piece = tuple[Path, float | None, float | None]  # file, from second, to second


def remux(src: AClip, out: Path, listing: list[Piece], *, start: datetime | None = None,
          seconds: float | None = None, seq: int | None = None, extra: tuple[str, ...] = ()
          ) -> AClip:
    """``-c copy`` through the concat demuxer; the camera's tags, times and mtime restored."""
    out.parent.mkdir(parents=True, exist_ok=True)
    concat = out.with_suffix(".txt")
    parts: list[Path] = []
    lines = []
    for n, (path, inpoint, outpoint) in enumerate(listing):
        part = out.with_suffix(f".part{n}.mp4")  # each piece alone first: clean timestamps
        _ffmpeg("-i", str(path), *(["-ss", str(inpoint)] if inpoint is not None else []),
                *(["-to", str(outpoint)] if outpoint is not None else []),
                "-c", "copy", *MUX, str(part))
        parts.append(part)
        lines.append(f"file '{part}'")
    concat.write_text("\n".join(lines) + "\n")
    local = start or src.start
    _ffmpeg("-f", "concat", "-safe", "0", "-i", str(concat), *extra, "-c", "copy",
            *CAMERA_TAGS, *MUX, str(out))
    concat.unlink()
    for part in parts:
        part.unlink()
    length = seconds if seconds is not None else src.seconds
    set_creation(out, local)
    _stamp(out, local, length)
    return AClip(out, seq if seq is not None else src.seq, local, length)


def renamed(src: AClip, d: Path, start: datetime, seq: int) -> AClip:
    """Copy under another name; container times and mtime moved along (the careful way)."""
    d.mkdir(parents=True, exist_ok=True)
    out = d / name(start, seq)
    shutil.copyfile(src.path, out)
    set_creation(out, start)
    _stamp(out, start, src.seconds)
    return AClip(out, seq, start, src.seconds)


def _elst(entries: list[tuple[int, int]]) -> bytes:
    return struct.pack(">I", 0) + struct.pack(">I", len(entries)) + b"".join(
        struct.pack(">IiHH", dur, media, 1, 0) for dur, media in entries)


def with_edit_list(src: AClip, out: Path, edits_s: list[tuple[float, float]]) -> AClip:
    """Rewrite every track's edit list to play ``(media start s, length s)`` pieces in turn;
    declared durations stay the packets' span (so the declared length looks right)."""
    out.parent.mkdir(parents=True, exist_ok=True)

    def change(tree: me.Tree) -> None:
        mvhd = me.find(tree, b"mvhd")
        assert isinstance(mvhd, bytes)
        (movie_scale,) = struct.unpack_from(">I", mvhd, 12)
        for trak in [b for t, b in tree if t == b"trak"]:
            assert isinstance(trak, list)
            mdhd = me.find(trak, b"mdia", b"mdhd")
            assert isinstance(mdhd, bytes)
            (scale,) = struct.unpack_from(">I", mdhd, 12)
            entries = [(round(n * movie_scale), round(a * scale)) for a, n in edits_s]
            edts = [(typ, body) for typ, body in trak if typ == b"edts"]
            if edts:
                me.replace_body(trak, (b"edts", b"elst"), _elst(entries))
            else:
                trak.insert(1, (b"edts", [(b"elst", _elst(entries))]))

    me.edit_moov(src.path, out, change)
    shutil.copystat(src.path, out)
    return replace(src, path=out)


def reencode(src: AClip, out: Path, *, video: bool = True, audio_from: Path | None = None,
             tone: int | None = None) -> AClip:
    """Re-encode with the camera's own settings (or replace the audio), tags and times kept."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if video:
        args = ["-i", str(src.path), *CAMERA_V, *CAMERA_A]
    else:
        sound = ["-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=48000:"
                 f"duration={src.seconds}"] if tone else ["-i", str(audio_from)]
        args = ["-i", str(src.path), *sound, "-map", "0:v", "-map", "1:a", "-c:v", "copy",
                *CAMERA_A, "-shortest"]
    _ffmpeg(*args, *CAMERA_TAGS, *MUX, str(out))
    set_creation(out, src.start)
    _stamp(out, src.start, src.seconds)
    return replace(src, path=out)


def _list(*pieces: Piece) -> list[Piece]:
    return list(pieces)


def build(d: Path) -> dict[str, Case]:
    """Every forgery and every honest oddity of issue 13's "must show", one dock each."""
    d.mkdir(parents=True, exist_ok=True)
    at = DAY.replace
    cases: dict[str, Case] = {}

    def add(case: Case) -> None:
        cases[case.name] = case

    def sub(label: str) -> Path:
        p = d / label
        p.mkdir(exist_ok=True)
        return p

    # ---- honest recordings (the profile is learned from "clean_day" and "night_mode") ----
    add(Case("clean_day", tuple(session(sub("clean_day"), at(hour=8), 1, 8.0)),
             note="3 segments of one session (3 s, 3 s, 2 s)"))
    add(Case("night_mode", tuple(session(sub("night"), at(hour=2), 5, 7.0, fps=6, gop=3,
                                         hue=40, tone=300)),
             note="night mode: 6 fps with a 3-frame GOP (0.5 s, as by day)"))
    docked = session(sub("docked"), at(hour=17, minute=59, second=57), 10, 12.5, hue=80,
                     tone=350)
    add(Case("docked_recording", tuple(docked[:4]),
             note="recording on in the vehicle cradle: the last copied segment closes 9 s "
                  "after the dock began; the fifth is still being written on the camera",
             seen_after_dock_s=60.0))
    add(Case("gps_clock_step", tuple(session(sub("gps"), at(hour=9), 20, 8.0, hue=120,
                                             tone=380, clock_step=(6.0, 4.0))),
             note="the camera clock is stepped +4 s by GPS at the second split"))
    add(Case("other_split_length", tuple(session(sub("split2"), at(hour=9, minute=10), 30, 7.0,
                                                 split=2.0, hue=160, tone=420)),
             note="the officer set a 2 s split: 4 segments (2, 2, 2, 1 s)"))
    first = session(sub("restart"), at(hour=9, minute=20), 40, 4.6, hue=200, tone=460)
    again = session(sub("restart"), at(hour=9, minute=20, second=8), 42, 5.0, hue=220, tone=470)
    add(Case("quick_restart", (*first, *again),
             note="stop, then record again 3 s later: the next number starts a fresh session"))
    add(Case("static_scene", tuple(session(sub("static"), at(hour=9, minute=30), 50, 8.0,
                                           scene="color", tone=500)),
             note="lens covered: every GOP is the same few bytes"))
    add(Case("mic_off", tuple(session(sub("mute"), at(hour=9, minute=40), 60, 8.0, hue=260,
                                      audio=False)),
             note="audio switched off: segments without a sound track"))
    add(Case("second_camera_same_scene", tuple(session(
        sub("cam2"), at(hour=8), 1, 8.0, device=OTHER_DEVICE)),
             note="another camera of the same model filming the same scene at the same time"))

    # ---- careful forgeries ----
    f = sub("forged")
    s = session(sub("s1"), at(hour=10), 100, 8.0, hue=30, tone=520)  # 3, 3, 2 s
    cut = remux(s[1], f / "cut" / s[1].path.name,
                _list((s[1].path, None, 1.0), (s[1].path, 2.0, None)), seconds=2.0)
    add(Case("gop_cut_mid_session", (s[0], cut, s[2]),
             ((K.SEGMENT_SHORT, 1),),
             note="1 s cut out of the middle segment at keyframes, timestamps rewritten "
                  "continuous, tags/times/mtime restored; the 1 s seam hides in the name "
                  "resolution"))

    s = session(sub("s2"), at(hour=10, minute=10), 110, 8.0, hue=50, tone=540)
    add(Case("last_segment_deleted", (s[0], s[1]), ((K.CONTINUATION_MISSING, 1),),
             note="the session's last segment deleted on the camera before the dock"))

    s = session(sub("s3"), at(hour=10, minute=20), 120, 11.0, hue=70, tone=560)  # 3,3,3,2
    r2 = renamed(s[2], f / "renumbered", s[1].start, 121)
    r3 = renamed(s[3], f / "renumbered", s[1].start + timedelta(seconds=SPLIT), 122)
    add(Case("middle_deleted_renumbered", (s[0], r2, r3), ((K.AUDIO_DISCONTINUITY, 1),),
             note="segment 2 deleted, the later files renumbered and their names, container "
                  "times and mtimes moved 3 s earlier together"))

    s = session(sub("s4"), at(hour=10, minute=30), 130, 8.0, hue=90, tone=580)
    re = reencode(s[1], f / "reencoded" / s[1].path.name)
    add(Case("reencoded_camera_settings", (s[0], re, s[2]), ((K.FRESH_START, 1),),
             note="the middle segment decoded and re-encoded with the camera's own x264/AAC "
                  "settings, tags, handler names, time scale, brand and times restored"))

    s = session(sub("s5"), at(hour=10, minute=40), 140, 8.0, hue=110, tone=600)
    other = session(sub("s5other"), at(hour=10, minute=50), 150, 3.0, hue=115, tone=610)
    spliced = renamed(other[0], f / "spliced", s[1].start, 141)
    add(Case("fresh_recording_spliced", (s[0], spliced, s[2]), ((K.FRESH_START, 1),),
             note="segment 2 replaced by another (genuine, 3 s) recording of the same camera, "
                  "renamed and re-timed into its place"))

    s = session(sub("s6"), at(hour=11), 160, 8.0, hue=130, tone=620)
    dubbed = reencode(s[1], f / "dubbed" / s[1].path.name, video=False, tone=880)
    add(Case("audio_replaced", (s[0], dubbed, s[2]),
             ((K.FRESH_START, 1), (K.AUDIO_DISCONTINUITY, 2)),
             note="the middle segment's sound replaced by a new AAC track with the camera's "
                  "settings; picture copied untouched"))

    s = session(sub("s7"), at(hour=11, minute=10), 170, 2.6, hue=150, tone=640)
    skip = with_edit_list(s[0], f / "elst_skip" / s[0].path.name, [(0.0, 1.0), (2.0, 0.6)])
    add(Case("edit_list_skip", (skip,), ((K.EDIT_LIST, 0),),
             note="edit lists of both tracks make players skip 1.0-2.0 s; nothing else "
                  "changed"))
    s = session(sub("s8"), at(hour=11, minute=20), 180, 2.6, hue=170, tone=660)
    loop = with_edit_list(s[0], f / "elst_repeat" / s[0].path.name,
                          [(0.0, 1.5), (0.5, 1.1)])
    add(Case("edit_list_repeat", (loop,), ((K.EDIT_LIST, 0),),
             note="edit lists make players show 0.5-1.5 s twice (and not the last second)"))

    old = session(sub("s9old"), at(hour=7), 90, 2.6, hue=190, tone=680)
    reused = renamed(old[0], f / "reused", at(hour=11, minute=30), 190)
    add(Case("reused_old_recording", (reused,), ((K.REUSED_CONTENT, 0),),
             earlier=tuple(old),
             note="a recording already on the station (an earlier dock) renamed and re-timed "
                  "as new footage"))

    s = session(sub("s10"), at(hour=11, minute=40), 200, 8.0, hue=210, tone=700)
    theirs = session(sub("s10other"), at(hour=11, minute=40), 500, 8.0, hue=215, tone=700,
                     device=OTHER_DEVICE)
    foreign = renamed(theirs[1], f / "foreign", s[1].start, 201)
    add(Case("foreign_device_segment", (s[0], foreign, s[2]), ((K.OVERLAY_MISMATCH, 1),),
             pictures=True,
             note="segment 2 replaced by the same moment's segment of another camera of the "
                  "same model (same firmware, same profile), renamed into place"))

    last = session(sub("s11b"), at(hour=12, minute=5), 220, 6.0, split=10.0, hue=235, tone=730)
    trimmed = remux(last[0], f / "clockjump" / last[0].path.name,
                    _list((last[0].path, None, 1.0), (last[0].path, 3.0, None)), seconds=4.0)
    add(Case("burned_clock_jump", (trimmed,), ((K.OVERLAY_MISMATCH, 0),), pictures=True,
             note="2 s cut out of a one-segment recording at keyframes, timestamps rewritten, "
                  "times restored: only the burned-in clock shows the jump"))

    s = session(sub("s12"), at(hour=12, minute=30), 230, 2.6, hue=245, tone=740)
    shifted = renamed(s[0], f / "shifted", at(hour=12, minute=10), 230)
    add(Case("names_and_times_shifted", (shifted,), ((K.OVERLAY_MISMATCH, 0),), pictures=True,
             note="name, container times and mtime all moved 20 minutes earlier together"))

    s = session(sub("s13"), at(hour=13), 240, 8.0, hue=250, tone=760)
    looped = remux(s[1], f / "looped" / s[1].path.name,
                   _list((s[1].path, None, 1.5), (s[1].path, 1.0, 1.5), (s[1].path, 2.0, None)))
    add(Case("gop_repeated_to_hide", (s[0], looped, s[2]), ((K.REUSED_CONTENT, 1),),
             note="0.5 s hidden by repeating the GOP before it: same length, same keyframe "
                  "rhythm, same times"))

    s = session(sub("s14"), at(hour=13, minute=30), 250, 8.0, hue=260, tone=780)
    other = session(sub("s14other"), at(hour=6), 260, 8.0, tone=780, scene="color")
    swapped = renamed(other[1], f / "swapped", s[1].start, 251)
    add(Case("other_scene_swapped_in", (s[0], swapped, s[2]),
             ((K.OVERLAY_MISMATCH, 1), (K.PICTURE_DISCONTINUITY, 1)), pictures=True,
             note="segment 2 replaced by the second segment of another session of the same "
                  "camera (same split, same audio phase: the index cannot tell), renamed into "
                  "place"))
    return cases
