"""Across the files of one device: seams between segments, deleted files, wrong clocks.

Cameras split a long recording into numbered segments every few minutes; consecutive segments
must join without a seam, every sequence number must arrive at some dock, and the camera's clock
must agree with the station's (R5: officers calibrate it before use). File names carry whole
seconds, so a seam is only known to within ``start_time_resolution_s``: a seam is flagged when it
is certainly larger than ``seam_tolerance_s``, which keeps clean recordings of any length clean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from bodycam_ingest.analysis.chain import (
    Link,
    fits,
    is_fresh,
    knows_chain,
    link,
    residual,
    split_of,
)
from bodycam_ingest.analysis.clock import clocks, to_utc
from bodycam_ingest.analysis.model import (
    DeviceHistory,
    DeviceProfile,
    Finding,
    FindingKind,
    RecordingFacts,
    Severity,
    Thresholds,
)
from bodycam_ingest.analysis.scan import media_duration, scan_all

K = FindingKind
SEVERITY = {
    K.SEGMENT_GAP: Severity.CRITICAL, K.MISSING_SEGMENT: Severity.CRITICAL,
    K.SEGMENT_OVERLAP: Severity.WARNING, K.CLOCK_DRIFT: Severity.WARNING,
    K.TIME_MISMATCH: Severity.WARNING, K.SEGMENT_SHORT: Severity.CRITICAL,
    K.CONTINUATION_MISSING: Severity.CRITICAL, K.FRESH_START: Severity.CRITICAL,
    K.AUDIO_DISCONTINUITY: Severity.CRITICAL,
}


@dataclass(frozen=True)
class _Item:
    recording_id: str
    seq: int
    start: datetime  # UTC from the file name
    duration: float | None
    facts: RecordingFacts | None  # None: from an earlier dock
    link: Link | None = None  # its place in the recording chain (this dock's files only)


@dataclass(frozen=True)
class _Chain:
    """What the chain judgement needs beyond the two segments."""

    profile: DeviceProfile | None
    splits: frozenset[float]
    th: Thresholds


def analyze_session(facts_list: Sequence[RecordingFacts], device_history: DeviceHistory | None,
                    dock_time: datetime, thresholds: Thresholds | None = None,
                    profile: DeviceProfile | None = None) -> list[Finding]:
    """Cross-file findings for the recordings of one device docked at ``dock_time``; with a
    profile that knows the camera's recording chain, the chain is judged too (``chain``)."""
    th = thresholds or Thresholds()
    if dock_time.tzinfo is None:
        raise ValueError("dock_time must be timezone-aware")
    devices = {f.device for f in facts_list} | ({device_history.device} if device_history
                                                 else set())
    if len(devices) > 1:
        raise ValueError(f"analyze_session takes one device at a time, got {sorted(devices)}")
    if not facts_list:
        return []
    zone = facts_list[0].zone
    current = [_Item(f.recording_id, f.seq, to_utc(f.filename_start, f.zone), _duration(f, th), f,
                     link(f.timeline, th)) for f in facts_list]
    ids = {i.recording_id for i in current}
    seqs = {i.seq for i in current}
    earlier = [_Item(r.recording_id, r.seq, to_utc(r.filename_start, zone), r.duration_s, None)
               for r in (device_history.recordings if device_history else ())
               if r.recording_id not in ids and r.seq not in seqs]
    chain = sorted(earlier + current, key=lambda i: (i.seq, i.facts is None))
    middles = [a.link for a, b in pairwise(sorted(current, key=lambda i: i.seq))
               if a.link and b.link and b.seq == a.seq + 1 and not is_fresh(b.link, profile)]
    ctx = _Chain(profile, split_of(middles, profile), th)
    out: list[Finding] = []
    for a, b in pairwise(chain):
        if b.facts is not None and b.seq != a.seq:
            out += _seam(a, b, ctx)
    last = max(current, key=lambda i: i.seq)
    if last.seq + 1 not in {i.seq for i in earlier}:  # (re-analysis: it came at a later dock)
        out += _tail(last, dock_time, ctx)
    docks = [d for d in (device_history.dock_times if device_history else ()) if d < dock_time]
    previous = max(docks) if docks else None
    for item in current:
        out += _clock(item, dock_time, previous, th)
        out += _times(item, th)
    order = {i.recording_id: i.seq for i in current}
    return sorted(out, key=lambda f: (order.get(f.recording_id, 0), f.kind.value))


def _duration(f: RecordingFacts, th: Thresholds) -> float | None:
    return media_duration(scan_all(f.timeline, th)) if f.timeline else None


def _finding(kind: FindingKind, rid: str, offset: float | None, measured: float | str | None,
             threshold: float | str | None, message: str) -> Finding:
    return Finding(kind, SEVERITY[kind], rid, offset, measured, threshold, message)


def _seam(a: _Item, b: _Item, ctx: _Chain) -> list[Finding]:
    th = ctx.th
    if b.seq > a.seq + 1:
        missing = b.seq - a.seq - 1
        names = f"{a.seq + 1:04d}" if missing == 1 else f"{a.seq + 1:04d} to {b.seq - 1:04d}"
        where = "an earlier dock" if a.facts is None else "this dock"
        return [_finding(
            K.MISSING_SEGMENT, b.recording_id, 0.0, float(missing), 0.0,
            f"Sequence number {names} ({missing} file{'s' * (missing > 1)}) between file "
            f"{a.seq:04d} (from {where}) and this one never reached the station: deleted on "
            "the camera?")]
    if a.duration is None or b.seq != a.seq + 1:
        return []
    seam = (b.start - a.start).total_seconds() - a.duration
    if seam > th.session_break_s:
        return []  # a new recording session, not a seam
    if a.link is not None and b.link is not None and knows_chain(ctx.profile):
        judged = _chain_seam(a, b, a.link, b.link, seam, ctx)
        if judged is not None:
            return judged
    return _name_seam(a, b, seam, th)


def _chain_seam(a: _Item, b: _Item, la: Link, lb: Link, seam: float,
                ctx: _Chain) -> list[Finding] | None:
    """The seam judged by the recording chain; None: the chain has nothing to say."""
    th, p = ctx.th, ctx.profile
    assert p is not None
    within = abs(seam) - th.start_time_resolution_s <= th.seam_tolerance_s
    full = bool(ctx.splits) and fits(la, ctx.splits)
    if is_fresh(lb, p):
        if full and within:
            return [_finding(
                K.FRESH_START, b.recording_id, 0.0, ", ".join(sorted(p.start_marks & lb.marks)),
                "a continuation",
                f"This segment continues segment {a.seq:04d} by its name and times, but starts "
                "like a fresh recording (encoder start-up marks: "
                f"{', '.join(sorted(p.start_marks & lb.marks))}): it was re-encoded or put in "
                "the place of the real continuation.")]
        if full:
            return [_finding(
                K.CONTINUATION_MISSING, a.recording_id, None, round(la.seconds, 3),
                _splits(ctx.splits),
                f"This segment is exactly the camera's split length ({la.seconds:.1f} s), so "
                f"the recording went on, but segment {b.seq:04d} starts a new recording "
                f"{seam:.0f} s later: the segment that continued this one is missing.")]
        return None if seam < -th.seam_tolerance_s - th.start_time_resolution_s else []
    out = []
    if ctx.splits and not full:
        out.append(_finding(
            K.SEGMENT_SHORT, a.recording_id, None, round(la.seconds, 3), _splits(ctx.splits),
            f"This segment holds {la.seconds:.2f} s but segment {b.seq:04d} continues it, and "
            f"the camera only splits a recording every {_splits(ctx.splits)} s: "
            f"{abs(min(ctx.splits, key=lambda s: abs(s - la.seconds)) - la.seconds):.2f} s "
            "were cut out of it (or put in)."))
    r = residual(la, lb)
    if p.audio_continues and r is not None and abs(r) > th.audio_join_tolerance_s:
        out.append(_finding(
            K.AUDIO_DISCONTINUITY, b.recording_id, 0.0, round(r, 4), th.audio_join_tolerance_s,
            f"The sound of this segment does not continue segment {a.seq:04d}'s: it resumes "
            f"{abs(r) * 1000:.1f} ms {'late' if r > 0 else 'early'}, where this camera's audio "
            "runs on sample for sample across a split. A segment is missing in between, or "
            "the sound was replaced."))
    if out:
        return out + _name_seam(a, b, seam, th)
    if not within and ctx.splits:
        return [_finding(
            K.TIME_MISMATCH, b.recording_id, None, round(seam, 1),
            th.seam_tolerance_s + th.start_time_resolution_s,
            f"The camera's clock was stepped by {seam:+.0f} s at the split before this segment "
            "(GPS or network time): picture and sound run on without a break, so nothing is "
            "missing, but times after this point differ from those before it.")]
    return [] if ctx.splits else None


def _splits(splits: frozenset[float]) -> str:
    return " or ".join(f"{s:g}" for s in sorted(splits))


def _tail(last: _Item, dock: datetime, ctx: _Chain) -> list[Finding]:
    """The dock's last segment: a full split length means the recording went on."""
    f, la = last.facts, last.link
    if f is None or la is None or not knows_chain(ctx.profile) or not ctx.splits or \
            not fits(la, ctx.splits):
        return []
    c = clocks(f, last.duration, ctx.th.wallclock_tolerance_s)
    close = c.close or last.start + timedelta(seconds=la.seconds)
    if close > dock - timedelta(seconds=ctx.th.clock_tolerance_s):
        return []  # closed while docked: the camera is still recording the next one
    return [_finding(
        K.CONTINUATION_MISSING, last.recording_id, None, round(la.seconds, 3),
        _splits(ctx.splits),
        f"This segment is exactly the camera's split length ({la.seconds:.1f} s) and closed "
        f"{(dock - close).total_seconds():.0f} s before the dock, so the recording went on in "
        f"segment {last.seq + 1:04d}, which did not reach the station: deleted on the camera "
        "(it was no longer recording when docked).")]


def _name_seam(a: _Item, b: _Item, seam: float, th: Thresholds) -> list[Finding]:
    res = th.start_time_resolution_s
    if seam - res > th.seam_tolerance_s:
        return [_finding(
            K.SEGMENT_GAP, b.recording_id, 0.0, round(seam, 3), th.seam_tolerance_s + res,
            f"About {seam:.1f} s are missing between segment {a.seq:04d} and this one (the "
            f"previous segment ends {seam:.1f} s before this one starts).")]
    if seam + res < -th.seam_tolerance_s:
        return [_finding(
            K.SEGMENT_OVERLAP, b.recording_id, 0.0, round(-seam, 3), th.seam_tolerance_s + res,
            f"This segment starts {-seam:.1f} s before segment {a.seq:04d} ends: one camera "
            "cannot record the same moment twice (clock changed, or footage inserted).")]
    return []


def _clock(item: _Item, dock: datetime, previous: datetime | None,
           th: Thresholds) -> list[Finding]:
    f = item.facts
    assert f is not None
    c = clocks(f, item.duration, th.wallclock_tolerance_s)
    end = item.start + timedelta(seconds=item.duration or 0.0)
    if c.close is not None:
        end = max(end, c.close)
    local = f.filename_start.strftime("%Y-%m-%d %H:%M:%S")
    if item.start < th.earliest_plausible:
        off = (end - dock).total_seconds()
        return [_finding(
            K.CLOCK_DRIFT, item.recording_id, None, round(off, 1),
            th.earliest_plausible.isoformat(),
            f"The camera's clock read {local} when this was recorded, a reset date "
            f"{-off / 86400:.0f} days behind the station at dock: every time in it is wrong.")]
    seen = max(dock, f.seen_at) if f.seen_at is not None else dock
    ahead = (end - seen).total_seconds()
    if ahead > th.clock_tolerance_s:
        return [_finding(
            K.CLOCK_DRIFT, item.recording_id, None, round(ahead, 1), th.clock_tolerance_s,
            f"The recording ends {ahead:.0f} s after the station "
            + ("copied it" if seen > dock else "was docked") + ": the camera's "
            f"clock is at least {ahead:.0f} s fast.")]
    if previous is not None:
        behind = (previous - item.start).total_seconds()
        if behind > th.clock_tolerance_s:
            return [_finding(
                K.CLOCK_DRIFT, item.recording_id, None, round(-behind, 1), th.clock_tolerance_s,
                f"The recording starts {behind:.0f} s before the camera's previous dock, yet "
                "arrived only now: the camera's clock is slow, or the file was held back.")]
    return []


def _times(item: _Item, th: Thresholds) -> list[Finding]:
    f = item.facts
    assert f is not None
    c = clocks(f, item.duration, th.time_tolerance_s if f.timeline else th.wallclock_tolerance_s)
    if c.container_start is not None:
        off = (c.container_start - c.name_start).total_seconds()
        if abs(off) > th.time_tolerance_s:
            return [_finding(
                K.TIME_MISMATCH, item.recording_id, None, round(off, 1), th.time_tolerance_s,
                f"The file name says it started at {f.filename_start:%H:%M:%S} but the container "
                f"says {abs(off):.0f} s {'later' if off > 0 else 'earlier'}: renamed, or "
                "rewritten by other software.")]
        return []
    if c.close is None:
        return []
    end = c.name_start + timedelta(seconds=item.duration or 0.0)
    off = (c.close - end).total_seconds()
    late_ok = item.duration is None  # unreadable: only a close before the start is impossible
    if off < -th.wallclock_tolerance_s or (off > th.wallclock_tolerance_s and not late_ok):
        return [_finding(
            K.TIME_MISMATCH, item.recording_id, None, round(off, 1), th.wallclock_tolerance_s,
            f"The camera closed the file {abs(off):.0f} s {'after' if off > 0 else 'before'} "
            "the end its name and length imply: renamed, or its length was changed.")]
    return []
