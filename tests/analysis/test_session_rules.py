"""Cross-file rules on plain data: seams, sequence numbers across docks, clocks, zones."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from bodycam_ingest.analysis.clock import to_utc
from bodycam_ingest.analysis.continuity import analyze_file, analyze_session
from bodycam_ingest.analysis.model import (
    ContainerInfo,
    DeviceHistory,
    Finding,
    FindingKind,
    MediaTimeline,
    PacketTable,
    RecordingFacts,
    SeenRecording,
    StreamInfo,
    Thresholds,
)

ZONE = "Asia/Shanghai"
K = FindingKind


def rec(seq: int, local: datetime, seconds: float = 2.0, *, created: datetime | None = None,
        close: datetime | None = None, readable: bool = True) -> RecordingFacts:
    n = round(seconds * 10)
    times = tuple(i * 9000 for i in range(n))
    table = PacketTable(times, times, (9000,) * n, tuple(i % 5 == 0 for i in range(n)), (9,) * n)
    start = to_utc(local, ZONE)
    timeline = MediaTimeline(
        ContainerInfo("mp4", ("avc1",), None, ("V",), created or start, seconds),
        (StreamInfo(0, "video", "h264", "Main", 160, 120, Fraction(10), None,
                    Fraction(1, 90000), None),), {0: table}, "index")
    return RecordingFacts(f"r{seq}", "DEV", "A1", local, ZONE, seq,
                          close or start + timedelta(seconds=seconds), 100,
                          timeline if readable else None, None if readable else "garbage")


DAY = datetime(2026, 11, 20, 9, 0, 0)
DOCK = to_utc(datetime(2026, 11, 20, 18, 0, 0), ZONE)
BEFORE = DeviceHistory("DEV", (), (DOCK - timedelta(days=1),))


def kinds(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.kind.value, f.recording_id) for f in findings]


def test_a_camera_writing_local_time_as_utc_is_not_a_time_mismatch() -> None:
    local_as_utc = DAY.replace(tzinfo=UTC)
    one = rec(1, DAY, created=local_as_utc, close=local_as_utc + timedelta(seconds=2))
    assert analyze_session([one], BEFORE, DOCK) == []
    assert analyze_file(one) == []


def test_a_seam_smaller_than_the_name_resolution_is_not_a_gap_but_a_larger_one_is() -> None:
    a, b = rec(1, DAY, 2.4), rec(2, DAY + timedelta(seconds=3))
    assert analyze_session([a, b], BEFORE, DOCK) == []  # 0.6 s: within whole-second names
    c = rec(2, DAY + timedelta(seconds=4))
    assert kinds(analyze_session([a, c], BEFORE, DOCK)) == [("segment_gap", "r2")]
    strict = Thresholds(start_time_resolution_s=0.0)  # a camera with exact start times
    assert kinds(analyze_session([a, b], BEFORE, DOCK, strict)) == [("segment_gap", "r2")]


def test_a_pause_longer_than_the_session_break_starts_a_new_session() -> None:
    a, b = rec(1, DAY), rec(2, DAY + timedelta(minutes=5))
    assert analyze_session([a, b], BEFORE, DOCK) == []


def test_sequence_numbers_missing_since_the_last_dock_are_reported_once() -> None:
    seen = tuple(SeenRecording(f"old{s}", s, DAY - timedelta(days=1, minutes=10 - s), 2.0)
                 for s in (1, 2, 3))
    history = DeviceHistory("DEV", seen, (DOCK - timedelta(days=1),))
    found = analyze_session([rec(6, DAY), rec(7, DAY + timedelta(seconds=2))], history, DOCK)
    assert kinds(found) == [("missing_segment", "r6")]
    assert found[0].measured == 2.0


def test_a_numbering_restart_or_a_redocked_file_is_not_a_missing_segment() -> None:
    seen = (SeenRecording("old9", 9, DAY - timedelta(days=1), 2.0),
            SeenRecording("r1", 1, DAY, 2.0))
    history = DeviceHistory("DEV", seen, (DOCK - timedelta(days=1),))
    assert analyze_session([rec(1, DAY), rec(2, DAY + timedelta(seconds=2))], history,
                           DOCK) == []


def test_clock_drift_measures_how_far_the_camera_is_off() -> None:
    ahead = analyze_session([rec(1, datetime(2026, 11, 20, 18, 10))], BEFORE, DOCK)
    assert kinds(ahead) == [("clock_drift", "r1")] and ahead[0].measured == 602.0
    behind = analyze_session([rec(1, datetime(2026, 11, 18, 9, 0))], BEFORE, DOCK)
    assert kinds(behind) == [("clock_drift", "r1")] and behind[0].measured == -118800.0
    reset = analyze_session([rec(1, datetime(2000, 1, 1, 0, 0, 3))], BEFORE, DOCK)
    assert kinds(reset) == [("clock_drift", "r1")] and "reset date" in reset[0].message


def test_an_unreadable_file_is_truncated_and_does_not_break_the_session() -> None:
    bad = rec(2, DAY + timedelta(seconds=2), readable=False)
    assert kinds(analyze_file(bad)) == [("truncated", "r2")]
    assert analyze_session([rec(1, DAY), bad], BEFORE, DOCK) == []


def test_a_container_rewritten_with_another_start_time_is_a_time_mismatch() -> None:
    moved = rec(1, DAY, created=to_utc(DAY, ZONE) + timedelta(minutes=7))
    assert kinds(analyze_session([moved], BEFORE, DOCK)) == [("time_mismatch", "r1")]
    assert analyze_file(moved) == []  # one wrong clock, one finding


def test_a_file_closed_long_after_its_footage_ends_is_a_duration_mismatch() -> None:
    cut = rec(1, DAY, 2.0, close=to_utc(DAY, ZONE) + timedelta(seconds=12))
    assert kinds(analyze_file(cut)) == [("duration_mismatch", "r1")]
    assert cut.timeline is not None
    container = replace(cut.timeline.container, creation_time=None)
    no_container_time = replace(cut, timeline=replace(cut.timeline, container=container))
    assert kinds(analyze_session([no_container_time], BEFORE, DOCK)) == [("time_mismatch", "r1")]


def test_misuse_is_refused_loudly() -> None:
    with pytest.raises(ValueError, match="aware"):
        analyze_session([rec(1, DAY)], BEFORE, DOCK.replace(tzinfo=None))
    with pytest.raises(ValueError, match="one device"):
        analyze_session([rec(1, DAY), replace(rec(2, DAY), device="OTHER")], None, DOCK)
    with pytest.raises(ValueError, match="positive"):
        Thresholds(av_drift_s=0)
