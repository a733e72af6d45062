"""Property tests of the pure core: clean timelines never raise a finding, and a hole put
anywhere is reported exactly once, where it is."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from bodycam_ingest.analysis.clock import to_utc
from bodycam_ingest.analysis.continuity import analyze_file, analyze_session
from bodycam_ingest.analysis.model import (
    ContainerInfo,
    DeviceHistory,
    FindingKind,
    MediaTimeline,
    PacketTable,
    RecordingFacts,
    StreamInfo,
    Thresholds,
    learn_profile,
)

FPS = [Fraction(10), Fraction(15), Fraction(25), Fraction(30), Fraction(30000, 1001)]
ZONES = ["Asia/Shanghai", "UTC", "Asia/Kolkata", "America/New_York"]
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True)


@dataclass(frozen=True)
class Spec:
    fps: Fraction
    scale: int  # video ticks per second
    frames: int
    gop: int
    audio_rate: int | None
    priming: bool
    start_ticks: int
    zone: str
    local: datetime  # naive camera-local start (whole seconds, as in a file name)
    local_container_time: bool
    close_jitter: float  # FAT stores even seconds, the camera closes a little late


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    fps = draw(st.sampled_from(FPS))
    frames = draw(st.integers(10, 400))
    return Spec(
        fps=fps, scale=draw(st.sampled_from([90000, 1000, 15360])), frames=frames,
        gop=draw(st.integers(1, 30)),
        audio_rate=draw(st.sampled_from([None, 8000, 16000, 44100, 48000])),
        priming=draw(st.booleans()), start_ticks=draw(st.sampled_from([0, 126000, 7])),
        zone=draw(st.sampled_from(ZONES)),
        local=draw(st.datetimes(datetime(2016, 1, 1), datetime(2030, 12, 31))).replace(
            microsecond=0),
        local_container_time=draw(st.booleans()),
        close_jitter=draw(st.floats(-1.9, 0.9)))


def video_times(spec: Spec) -> list[int]:
    return [spec.start_ticks + round(i * spec.scale / spec.fps) for i in range(spec.frames)]


def build(spec: Spec, hole_at: int | None = None, hole_s: float = 0.0) -> RecordingFacts:
    """A camera recording as the readers would report it, optionally with a hole cut in."""
    vt = video_times(spec)
    frame = 1 / spec.fps
    shift_v = round(hole_s * spec.scale)
    cut_time = (vt[hole_at] - spec.start_ticks) / spec.scale if hole_at is not None else None
    if hole_at is not None:
        vt = vt[:hole_at] + [t + shift_v for t in vt[hole_at:]]
    vdur = [b - a for a, b in pairwise(vt)] + [round(spec.scale / spec.fps)]
    streams = [StreamInfo(0, "video", "h264", "High", 320, 240, spec.fps, None,
                          Fraction(1, spec.scale), "ab" * 32)]
    packets = {0: PacketTable(tuple(vt), tuple(vt), tuple(vdur),
                              tuple(i % spec.gop == 0 for i in range(len(vt))), (1000,) * len(vt))}
    length = float(spec.frames * frame)
    if spec.audio_rate:
        sr = spec.audio_rate
        base = spec.start_ticks * sr // spec.scale
        n = math.ceil(length * sr / 1024) + (1 if spec.priming else 0)
        at = [base + (i - (1 if spec.priming else 0)) * 1024 for i in range(n)]
        if cut_time is not None:
            limit = base + cut_time * sr
            at = [t + (round(hole_s * sr) if t >= limit else 0) for t in at]
        adur = [1024] * (n - 1) + [max(1, round(length * sr) - (n - 1 - spec.priming) * 1024)]
        streams.append(StreamInfo(1, "audio", "aac", "LC", None, None, None, sr,
                                  Fraction(1, sr), "cd" * 32))
        packets[1] = PacketTable(tuple(at), tuple(at), tuple(adur), (True,) * n, (200,) * n)
    total = length + hole_s
    start_utc = to_utc(spec.local, spec.zone)
    created = start_utc
    if spec.local_container_time:
        created = spec.local.replace(tzinfo=UTC)
    container = ContainerInfo("mp4", ("isom",), None, ("VideoHandler",), created, total)
    timeline = MediaTimeline(container, tuple(streams), packets, "index")
    close = start_utc + timedelta(seconds=total + spec.close_jitter)
    return RecordingFacts("r1", "DEV", "A1", spec.local, spec.zone, 1, close, 1, timeline)


@SETTINGS
@given(specs())
def test_random_clean_timelines_give_no_finding(spec: Spec) -> None:
    facts = build(spec)
    assert facts.timeline is not None
    assert analyze_file(facts) == []
    assert analyze_file(facts, profile=learn_profile([facts.timeline])) == []
    assert analyze_session([facts], None, to_utc(spec.local, spec.zone) + timedelta(hours=1)) \
        == []


@SETTINGS
@given(specs(), st.data())
def test_a_hole_anywhere_gives_exactly_one_timestamp_gap_at_that_place(
        spec: Spec, data: st.DataObject) -> None:
    th = Thresholds()
    at = data.draw(st.integers(1, spec.frames - 1), label="cut before frame")
    frame = float(1 / spec.fps)
    hole = data.draw(st.floats(th.gap_frames + 0.5, 300.0), label="hole in frames") * frame
    facts = build(spec, at, hole)
    findings = analyze_file(facts, th)
    assert [f.kind for f in findings] == [FindingKind.TIMESTAMP_GAP], findings
    where = at * frame  # the hole starts where frame `at` used to be
    assert findings[0].offset_s is not None
    assert abs(findings[0].offset_s - where) <= frame, (findings[0], where)
    assert abs(float(findings[0].measured or 0) - hole) <= frame


@dataclass(frozen=True)
class Segment:
    local: datetime
    seconds: float


@SETTINGS
@given(st.integers(2, 6), st.lists(st.integers(20, 3000), min_size=6, max_size=6),
       st.floats(0, 0.999), st.sampled_from(ZONES), st.sampled_from(FPS))
def test_random_clean_sessions_have_no_seam_findings(
        count: int, frame_counts: list[int], fraction: float, zone: str, fps: Fraction) -> None:
    """Segment lengths in whole frames, starts truncated to whole seconds in the names."""
    true_start = datetime(2026, 3, 1, 8, 0, 0) + timedelta(seconds=fraction)
    facts = []
    for i in range(count):
        frames = frame_counts[i]
        local = true_start.replace(microsecond=0)
        spec = Spec(fps, 90000, frames, 10, None, False, 0, zone, local, False, 0.0)
        one = build(spec)
        assert one.timeline is not None
        # the name is whole seconds; the camera really started `fraction` later
        close = to_utc(true_start, zone) + timedelta(seconds=float(frames / fps))
        close = close.replace(second=close.second - close.second % 2, microsecond=0)
        container = replace(one.timeline.container, creation_time=to_utc(local, zone))
        facts.append(replace(one, recording_id=f"r{i}", seq=i + 1, camera_mtime=close,
                             timeline=replace(one.timeline, container=container)))
        true_start += timedelta(seconds=float(frames / fps))
    dock = to_utc(true_start, zone) + timedelta(minutes=5)
    history = DeviceHistory("DEV", (), (dock - timedelta(days=1),))
    assert analyze_session(facts, history, dock) == []
    assert [f for one in facts for f in analyze_file(one)] == []
