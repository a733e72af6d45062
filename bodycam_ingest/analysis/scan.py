"""One pass over a stream's decode timestamps: where the holes, jumps and rate changes are.

Positions are seconds from the start of the recording (the first video frame), continued across
a timestamp reset so that an offset always points at the place a viewer would see.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bodycam_ingest.analysis.model import (
    MediaTimeline,
    PacketTable,
    StreamInfo,
    Thresholds,
    dominant,
    frame_deltas,
)


@dataclass(frozen=True)
class Hole:
    start: float  # where the missing time begins (end of the last frame before it)
    missing: float  # seconds


@dataclass(frozen=True)
class Jump:
    at: float
    back: float  # seconds the timestamps went back (0: they stood still)


@dataclass(frozen=True)
class RateRun:
    at: float
    frames: int
    step: int  # the run's frame duration in ticks


@dataclass(frozen=True)
class StreamScan:
    info: StreamInfo
    step: int  # the dominant frame duration in ticks; 0 when unknown
    tick: float  # seconds per tick
    positions: list[float] = field(repr=False)
    holes: list[Hole]
    jumps: list[Jump]
    runs: list[RateRun]

    @property
    def start(self) -> float:
        return self.positions[0] if self.positions else 0.0

    @property
    def end(self) -> float:
        return self.positions[-1] + self.step * self.tick if self.positions else 0.0

    def frame_s(self) -> float:
        return self.step * self.tick


def origin(timeline: MediaTimeline) -> float:
    """Time zero of a recording: its first video packet's pts (else the earliest stream's).

    A camera's first packet is the keyframe it starts with; later packets can be "earlier"
    after a timestamp reset, so they are not looked at.
    """
    firsts: list[tuple[bool, float]] = []
    for s in timeline.streams:
        table = timeline.packets.get(s.index)
        first = next((p for p in table.pts if p is not None), None) if table else None
        if first is not None:
            firsts.append((s.kind != "video", first * float(s.time_base)))
    return min(firsts)[1] if firsts else 0.0


def scan_stream(info: StreamInfo, table: PacketTable, zero: float, th: Thresholds) -> StreamScan:
    tick = float(info.time_base)
    ts = table.decode_times()
    deltas = frame_deltas(ts)
    step = dominant(d for d in deltas if d > 0) or 0
    positions: list[float] = []
    holes: list[Hole] = []
    jumps: list[Jump] = []
    runs: list[RateRun] = []
    if not ts:
        return StreamScan(info, step, tick, positions, holes, jumps, runs)
    # Decode times run ahead of presentation by the B-frame delay; shift so that positions
    # are presentation times, the ones a player shows.
    first_pts = next((p for p in table.pts[:1] if p is not None), None)
    adjust = max(0, first_pts - ts[0]) if first_pts is not None else 0
    gap_limit = step * (1 + th.gap_frames)
    tol = th.frame_tolerance * step
    run_start = -1
    run_step = 0
    positions.append((ts[0] + adjust) * tick - zero)
    for i, d in enumerate(deltas, start=1):
        prev_pos = positions[-1]
        odd = False
        if d <= 0:
            jumps.append(Jump(prev_pos + step * tick, -d * tick))
            adjust += step - d
        elif step and d > gap_limit:
            holes.append(Hole(prev_pos + step * tick, (d - step) * tick))
        elif abs(d - step) > tol:
            odd = True
        if odd and run_start >= 0 and abs(d - run_step) <= th.frame_tolerance * run_step:
            pass  # the run goes on
        else:
            if run_start >= 0 and i - run_start >= th.rate_change_frames:
                runs.append(RateRun(positions[run_start - 1], i - run_start, run_step))
            run_start, run_step = (i, d) if odd else (-1, 0)
        positions.append((ts[i] + adjust) * tick - zero)
    if run_start >= 0 and len(ts) - run_start >= th.rate_change_frames:
        runs.append(RateRun(positions[run_start - 1], len(ts) - run_start, run_step))
    return StreamScan(info, step, tick, positions, holes, jumps, runs)


def scan_all(timeline: MediaTimeline, th: Thresholds) -> list[StreamScan]:
    zero = origin(timeline)
    return [scan_stream(s, timeline.packets[s.index], zero, th) for s in timeline.streams
            if s.index in timeline.packets and len(timeline.packets[s.index])]


def media_duration(scans: list[StreamScan]) -> float | None:
    """Seconds of recorded time (gaps included, resets bridged): the video's, else the audio's."""
    for kind in ("video", "audio"):
        scan = next((s for s in scans if s.info.kind == kind), None)
        if scan is not None and scan.positions:
            return scan.end - scan.start
    return None
