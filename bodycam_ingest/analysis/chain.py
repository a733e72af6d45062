"""The recording chain: how a camera splits one recording into segments, and what gives a forger
away at a split. Pure: timelines and facts in, links and findings out.

A camera runs one encoder per recording session and cuts its output into segments of a fixed
length (``split_s``). So, between consecutive segments of one session:

- every segment but the last is exactly the split length (a cut inside one shortens it);
- the audio samples run on: what the previous segment's audio overhangs its video by
  (``tail``) is exactly what this one's audio starts late by (``lead``);
- only the session's first segment carries the encoder's start-up marks (``start_marks``:
  SEI user data x264 writes once, audio priming placed before the picture...).

``learn_chain`` learns those three facts from clean sessions; ``judge_chain`` judges a dock's
consecutive segments by them. A fresh start after a short segment is simply a new session (a
quick restart), and a seam in the names of a continuous chain is the camera's clock being
stepped (GPS/NTP), a warning and not a gap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise

from bodycam_ingest.analysis.model import (
    DeviceProfile,
    MediaTimeline,
    RecordingFacts,
    Thresholds,
)
from bodycam_ingest.analysis.scan import scan_all

AUDIO_FIRST = "audio-first"  # the audio starts before the picture: encoder priming at a start
ORDER_SLACK_S = 0.0005


@dataclass(frozen=True)
class Link:
    """One segment as the chain sees it: length, where audio and video start and end, marks."""

    frames: int
    fps: float
    video: tuple[float, float]
    audio: tuple[float, float] | None
    marks: frozenset[str]

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    @property
    def tail(self) -> float | None:
        """Seconds the audio runs past the picture at the end."""
        return None if self.audio is None else self.audio[1] - self.video[1]

    @property
    def lead(self) -> float | None:
        """Seconds the audio starts after the picture."""
        return None if self.audio is None else self.audio[0] - self.video[0]


def link(timeline: MediaTimeline | None, th: Thresholds) -> Link | None:
    if timeline is None or not timeline.complete:
        return None
    scans = scan_all(timeline, th)
    video = next((s for s in scans if s.info.kind == "video"), None)
    audio = next((s for s in scans if s.info.kind == "audio"), None)
    if video is None or not video.step or len(video.positions) < 2:
        return None
    fps = 1 / video.frame_s()
    marks = set(timeline.start_marks)
    span = None
    if audio is not None and audio.positions:
        table = timeline.packets[audio.info.index]
        step = audio.step or table.duration[-1]  # one packet: its own duration
        span = (audio.start, audio.positions[-1] + step * audio.tick)
        if audio.start < video.start - ORDER_SLACK_S:
            marks.add(AUDIO_FIRST)
    return Link(len(video.positions), fps, (video.start, video.end), span, frozenset(marks))


def residual(a: Link, b: Link) -> float | None:
    """How far b's audio resumes from where a's left off (0 for a continuous sample stream)."""
    if a.tail is None or b.lead is None:
        return None
    return b.lead - a.tail


def is_fresh(b: Link, profile: DeviceProfile | None) -> bool:
    return bool(profile and profile.start_marks and profile.start_marks & b.marks)


def split_of(links: Sequence[Link], profile: DeviceProfile | None) -> frozenset[float]:
    """The split lengths to judge by: what this session's own middle segments agree on (twice
    or more: the officer may have changed the setting), else what the profile learned."""
    counts = Counter(round(x.seconds, 3) for x in links)
    agreed = {s for s, n in counts.items() if n >= 2}
    if agreed:
        return frozenset(agreed)
    return profile.split_s if profile else frozenset()


def fits(x: Link, splits: frozenset[float]) -> bool:
    return any(abs(x.seconds - s) <= 0.5 / x.fps for s in splits)


def learn_chain(profile: DeviceProfile, sessions: Sequence[Sequence[MediaTimeline]],
                th: Thresholds) -> DeviceProfile:
    """Add what clean sessions (each in recording order) show about the camera's chain.

    Start marks are the marks every first segment has and no later one has: with no session of
    two segments or more, nothing is learned (nothing tells a start from a continuation); nor
    from segments that neither differ at a start nor keep their audio running on (a camera that
    encodes each file afresh has no chain).
    """
    firsts: list[frozenset[str]] = []
    laters: list[frozenset[str]] = []
    splits: set[float] = set()
    joins: list[bool] = []
    for one in sessions:
        links = [link(t, th) for t in one]
        if len(links) < 2 or any(x is None for x in links):
            continue
        chain = [x for x in links if x is not None]
        firsts.append(chain[0].marks)
        laters += [x.marks for x in chain[1:]]
        splits |= {round(x.seconds, 3) for x in chain[:-1]}
        for a, b in pairwise(chain):
            r = residual(a, b)
            if r is not None:
                joins.append(abs(r) <= th.audio_join_tolerance_s)
    if not firsts:
        return profile
    marks = frozenset.intersection(*firsts) - frozenset().union(*laters)
    continues = all(joins) if joins else None
    if not marks and not continues:
        return profile  # segments that do not continue each other: no chain to learn
    return replace(profile, split_s=frozenset(splits), start_marks=marks,
                   audio_continues=continues)


def knows_chain(profile: DeviceProfile | None) -> bool:
    """Whether the profile says how this camera chains its segments (else no chain rule)."""
    return bool(profile and (profile.split_s or profile.start_marks or profile.audio_continues))


def sessions_of(items: Sequence[tuple[int | None, datetime | None, float | None]],
                th: Thresholds) -> list[list[int]]:
    """Indices of (seq, name start, duration) items in recording order, grouped into sessions:
    consecutive numbers whose names follow within ``session_break_s``."""
    groups: list[list[int]] = []
    for i, (seq, start, _) in enumerate(items):
        if groups:
            pseq, pstart, pdur = items[groups[-1][-1]]
            if seq is not None and pseq is not None and seq == pseq + 1 and start and pstart \
                    and pdur is not None and abs((start - pstart - timedelta(seconds=pdur))
                                                 .total_seconds()) <= th.session_break_s:
                groups[-1].append(i)
                continue
        groups.append([i])
    return groups


def continuing_pairs(facts: Sequence[RecordingFacts], profile: DeviceProfile | None,
                     th: Thresholds) -> list[tuple[RecordingFacts, RecordingFacts]]:
    """Consecutive segments of one dock where the later one claims to continue the earlier
    (next number, within ``session_break_s``, not a fresh start): the seams worth a look.
    Without a profile that knows the chain, a continuation cannot be told from a restart."""
    if not knows_chain(profile):
        return []
    ordered = sorted((f for f in facts if f.seq >= 0), key=lambda f: f.seq)
    out = []
    for a, b in pairwise(ordered):
        lb = link(b.timeline, th)
        la = link(a.timeline, th)
        if b.seq != a.seq + 1 or la is None or lb is None or is_fresh(lb, profile):
            continue
        gap = (b.filename_start - a.filename_start).total_seconds() - la.seconds
        if abs(gap) <= th.session_break_s:
            out.append((a, b))
    return out
