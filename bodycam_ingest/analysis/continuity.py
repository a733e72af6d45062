"""Is this recording whole? The pure core: timelines and facts in, findings out.

No subprocess, database, clock or file access here: ``extract`` reads files, the catalog supplies
history, and the caller passes the dock time. Every number comes from ``Thresholds``.

``analyze_file`` judges one recording on its own (and against its device's profile);
``analyze_session`` (from ``session``) judges the files of one dock against each other and the
device's history. The finding kinds are documented in FINDINGS.md beside this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bodycam_ingest.analysis.clock import clocks
from bodycam_ingest.analysis.editlist import edit_issues
from bodycam_ingest.analysis.model import (
    DeviceProfile,
    Finding,
    FindingKind,
    MediaTimeline,
    RecordingFacts,
    Severity,
    Thresholds,
    dominant,
    keyframe_intervals,
)
from bodycam_ingest.analysis.profile_check import profile_findings
from bodycam_ingest.analysis.reuse import fingerprint, repeats, shared
from bodycam_ingest.analysis.scan import StreamScan, media_duration, scan_all
from bodycam_ingest.analysis.session import analyze_session

__all__ = ["analyze_file", "analyze_reuse", "analyze_session"]

K = FindingKind
MERGE_SLACK_S = 0.5  # the same hole seen by audio and video is one finding
SEVERITY = {
    K.TIMESTAMP_GAP: Severity.CRITICAL, K.TIMESTAMP_BACKWARDS: Severity.CRITICAL,
    K.PARAMETER_CHANGE: Severity.CRITICAL, K.TRUNCATED: Severity.CRITICAL,
    K.KEYFRAME_IRREGULAR: Severity.WARNING, K.AV_DESYNC: Severity.WARNING,
    K.DURATION_MISMATCH: Severity.WARNING, K.FOREIGN_ENCODER: Severity.WARNING,
    K.EDIT_LIST: Severity.CRITICAL, K.REUSED_CONTENT: Severity.CRITICAL,
}


def analyze_file(facts: RecordingFacts, thresholds: Thresholds | None = None,
                 profile: DeviceProfile | None = None) -> list[Finding]:
    """Every within-file finding for one recording, ordered by offset (whole-file ones last)."""
    th = thresholds or Thresholds()
    t = facts.timeline
    rid = facts.recording_id
    if t is None:
        why = facts.timeline_problem or "no reader could make sense of it"
        return [_finding(K.TRUNCATED, rid, None, None, None,
                         f"The file cannot be read as a recording ({why}); it is kept as "
                         "evidence exactly as it arrived.")]
    scans = scan_all(t, th)
    out: list[Finding] = []
    out += _holes_and_jumps(rid, scans, th)
    out += _rate_changes(rid, scans, t, th, profile)
    out += _keyframes(rid, t, scans, th, profile)
    out += [_finding(K.EDIT_LIST, rid, at, measured, th.edit_tolerance_s, message)
            for at, measured, message in edit_issues(t, th)]
    out += _repeats(rid, t, scans)
    if t.complete:
        out += _av_desync(rid, scans, th)
        out += _durations(facts, t, scans, th)
    else:
        end = max((s.end for s in scans), default=None)
        out.append(_finding(
            K.TRUNCATED, rid, end, None, None,
            f"The recording is incomplete: {t.problem or 'it ends early'}"
            + ("." if end is None else f"; what remains ends at {end:.2f} s.")))
    if profile is not None:
        out += [_finding(kind, rid, None, measured, expected, message)
                for kind, measured, expected, message in profile_findings(t, profile)]
    return sorted(out, key=lambda f: (f.offset_s is None, f.offset_s or 0.0, f.kind.value))


def _finding(kind: FindingKind, rid: str, offset: float | None, measured: float | str | None,
             threshold: float | str | None, message: str, stream: int | None = None) -> Finding:
    at = None if offset is None else round(max(offset, 0.0), 3)
    return Finding(kind, SEVERITY[kind], rid, at, measured, threshold, message, stream)


def _s(seconds: float) -> str:
    """An offset for a message; audio priming can put the first packet a few ms before 0."""
    return f"{max(seconds, 0.0):.2f} s"


@dataclass
class _Cluster:
    start: float
    end: float
    streams: set[int]
    scan: StreamScan
    size: float


def _cluster(events: list[tuple[float, float, float, StreamScan]]) -> list[_Cluster]:
    """Group one event per stream that overlap in time: one cut shows in audio and video."""
    clusters: list[_Cluster] = []
    for start, end, size, scan in sorted(events, key=lambda e: e[0]):
        for c in clusters:
            if (scan.info.index not in c.streams and start <= c.end + MERGE_SLACK_S
                    and end >= c.start - MERGE_SLACK_S):
                c.streams.add(scan.info.index)
                if scan.info.kind == "video" and c.scan.info.kind != "video":
                    c.start, c.scan, c.size = start, scan, size
                c.end = max(c.end, end)
                break
        else:
            clusters.append(_Cluster(start, end, {scan.info.index}, scan, size))
    return clusters


def _holes_and_jumps(rid: str, scans: list[StreamScan], th: Thresholds) -> list[Finding]:
    out = []
    holes = [(h.start, h.start + h.missing, h.missing, s) for s in scans for h in s.holes]
    for c in _cluster(holes):
        limit = th.gap_frames * c.scan.frame_s()
        kinds = " and ".join(sorted({s.info.kind for s in scans if s.info.index in c.streams}))
        out.append(_finding(
            K.TIMESTAMP_GAP, rid, c.start, round(c.size, 3), round(limit, 3),
            f"{c.size:.2f} s of {kinds} is missing at {_s(c.start)}: the timestamps jump "
            f"ahead by more than {th.gap_frames:g} frame durations ({limit:.3f} s).",
            c.scan.info.index))
    jumps = [(j.at, j.at, j.back, s) for s in scans for j in s.jumps]
    for c in _cluster(jumps):
        kinds = " and ".join(sorted({s.info.kind for s in scans if s.info.index in c.streams}))
        what = f"go back by {c.size:.2f} s" if c.size else "stand still"
        out.append(_finding(
            K.TIMESTAMP_BACKWARDS, rid, c.start, round(c.size, 3), 0.0,
            f"The {kinds} timestamps {what} at {_s(c.start)}: a clock reset or two "
            "recordings joined together.", c.scan.info.index))
    return out


def _rate_changes(rid: str, scans: list[StreamScan], t: MediaTimeline, th: Thresholds,
                  profile: DeviceProfile | None) -> list[Finding]:
    out = []
    for s in scans:
        for run in s.runs:
            rate = 1 / (run.step * s.tick)
            normal = 1 / s.frame_s()
            if s.info.kind == "video" and profile and any(
                    abs(rate - float(r)) <= th.frame_tolerance * float(r)
                    for r in profile.frame_rates):
                continue  # a rate this device is known to switch to (variable frame rate)
            unit = "fps" if s.info.kind == "video" else "packets/s"
            out.append(_finding(
                K.PARAMETER_CHANGE, rid, run.at, round(rate, 3), round(normal, 3),
                f"The {s.info.kind} changes from {normal:.2f} to {rate:.2f} {unit} at "
                f"{_s(run.at)} for {run.frames} frames: footage with other encoder settings "
                "was joined in.", s.info.index))
    by_index = {s.info.index: s for s in scans}
    for sw in t.switches:
        found = by_index.get(sw.stream_index)
        if found is None or sw.packet_index >= len(found.positions):
            continue
        at = found.positions[sw.packet_index]
        out.append(_finding(
            K.PARAMETER_CHANGE, rid, at, sw.description, None,
            f"The {found.info.kind} stream's parameters change at {_s(at)} ({sw.description}): "
            "footage from another source was joined in.", sw.stream_index))
    return out


def _keyframes(rid: str, t: MediaTimeline, scans: list[StreamScan], th: Thresholds,
               profile: DeviceProfile | None) -> list[Finding]:
    out = []
    for s in scans:
        if s.info.kind != "video":
            continue
        keys, intervals, tail = keyframe_intervals(t.packets[s.info.index])
        pos = s.positions
        if keys[:1] != [0]:
            out.append(_finding(
                K.KEYFRAME_IRREGULAR, rid, 0.0, "no keyframe first", None,
                "The video does not start with a keyframe, as a camera's recording always "
                "does: it was cut out of a longer one.", s.info.index))
        gop = (profile.gop_for(s.info.frame_rate) if profile else None) or \
            _inferred_gop(intervals, th)
        if gop is None or not keys:
            continue
        tol = th.gop_tolerance_frames
        long_tail = t.complete and tail is not None and tail > gop + tol  # a cut file's tail
        odd = [abs(n - gop) > tol for n in intervals] + [long_tail]  # is short by nature
        i = 0
        while i < len(odd):
            if not odd[i]:
                i += 1
                continue
            j = i
            while j + 1 < len(odd) and odd[j + 1]:
                j += 1
            sizes = [*intervals, tail or 0][i:j + 1]
            short = i < len(intervals) and intervals[i] < gop
            at = pos[keys[i + 1]] if short else pos[keys[i]]
            out.append(_finding(
                K.KEYFRAME_IRREGULAR, rid, at, ", ".join(map(str, sizes)), float(gop),
                f"The keyframe rhythm breaks at {_s(at)} (groups of {', '.join(map(str, sizes))}"
                f" frames where the camera writes {gop}): the usual trace of a cut or an "
                "insertion.", s.info.index))
            i = j + 1
    return out


def _repeats(rid: str, t: MediaTimeline, scans: list[StreamScan]) -> list[Finding]:
    video = next((s for s in scans if s.info.kind == "video"), None)
    if video is None:
        return []
    out = []
    for copy, original in repeats(t):
        at, was = video.positions[copy], video.positions[original]
        out.append(_finding(
            K.REUSED_CONTENT, rid, at, round(was, 3), None,
            f"The pictures at {_s(at)} are a byte-for-byte copy of those at {_s(was)} (the "
            "same group of frames, size for size): footage was repeated to hide what was "
            "there.", video.info.index))
    return out


def analyze_reuse(rid: str, timeline: MediaTimeline | None,
                  others: Mapping[str, frozenset[str]], th: Thresholds | None = None
                  ) -> list[Finding]:
    """The recording shares pictures with earlier ones (``others``: their fingerprints, by
    recording id): a copy of footage the station already holds, presented as new."""
    th = th or Thresholds()
    mine = fingerprint(timeline)
    return [_finding(
        K.REUSED_CONTENT, rid, None, float(n), f"recording {other}",
        f"{n} group{'s' * (n > 1)} of frames of this recording are byte-for-byte the same as "
        f"in recording {other}, which the station already holds: the footage is re-used, "
        "not new.") for other, n in shared(mine, others, th.reuse_min_gops)]


def _inferred_gop(intervals: list[int], th: Thresholds) -> int | None:
    """The file's own GOP, if its complete intervals clearly agree on one."""
    gop = dominant(intervals)
    if gop is None or len(intervals) < th.min_gop_intervals:
        return None
    agreeing = sum(1 for n in intervals if abs(n - gop) <= th.gop_tolerance_frames)
    return gop if 2 * agreeing > len(intervals) else None


def _av_desync(rid: str, scans: list[StreamScan], th: Thresholds) -> list[Finding]:
    video = next((s for s in scans if s.info.kind == "video"), None)
    audio = next((s for s in scans if s.info.kind == "audio"), None)
    if video is None or audio is None:
        return []
    start_drift = audio.start - video.start
    end_drift = audio.end - video.end
    drift, at, where = max((abs(end_drift), min(audio.end, video.end), "end"),
                           (abs(start_drift), max(audio.start, video.start), "start"))
    if drift <= th.av_drift_s:
        return []
    first = "audio" if (end_drift if where == "end" else -start_drift) < 0 else "video"
    verb = "ends" if where == "end" else "starts"
    return [_finding(
        K.AV_DESYNC, rid, at, round(drift, 3), th.av_drift_s,
        f"The {first} {verb} {drift:.2f} s before the other stream (limit {th.av_drift_s:g} s): "
        "sound and picture no longer belong together.")]


def _durations(facts: RecordingFacts, t: MediaTimeline, scans: list[StreamScan],
               th: Thresholds) -> list[Finding]:
    out = []
    rid = facts.recording_id
    raw = _raw_span(t)
    declared = t.container.duration_s
    if declared is not None and raw is not None and abs(declared - raw) > th.declared_tolerance_s:
        out.append(_finding(
            K.DURATION_MISMATCH, rid, None, round(raw - declared, 3), th.declared_tolerance_s,
            f"The container declares {declared:.2f} s but its packets span {raw:.2f} s: the "
            "index was edited or rebuilt."))
    media = media_duration(scans)
    c = clocks(facts, media, th.time_tolerance_s)
    close = c.close
    if media is None or c.container_start is None or close is None:
        return out
    start = c.container_start
    if abs((start - c.name_start).total_seconds()) > th.time_tolerance_s:
        # The container and the name disagree (time_mismatch says so); judge the span from
        # whichever start fits the close time, so one wrong clock gives one finding.
        start = min((start, c.name_start),
                    key=lambda s: abs((close - s).total_seconds() - media))
    span = (close - start).total_seconds()
    if abs(span - media) > th.wallclock_tolerance_s:
        out.append(_finding(
            K.DURATION_MISMATCH, rid, None, round(span - media, 3), th.wallclock_tolerance_s,
            f"The camera's clock says it recorded for {span:.1f} s (start to file close) but the "
            f"file holds {media:.1f} s of footage: {abs(span - media):.1f} s "
            + ("are missing." if span > media else "too many.")))
    return out


def _raw_span(t: MediaTimeline) -> float | None:
    """Packets' span as stored (no reset bridging), comparable to the declared duration."""
    lo: float | None = None
    hi: float | None = None
    for s in t.streams:
        table = t.packets.get(s.index)
        times = table.decode_times() if table else []
        if not times or table is None:
            continue
        tick = float(s.time_base)
        lo = min(lo if lo is not None else float("inf"), min(times) * tick)
        hi = max(hi if hi is not None else float("-inf"),
                 (max(times) + table.duration[-1]) * tick)
    return None if lo is None or hi is None else hi - lo
