"""Plain data that the continuity analysis reads and writes.

Everything here is frozen and free of I/O so that the analysis core can be fed from the MP4 index
reader, from ffprobe, from a catalog row or from a hypothesis strategy alike. Timestamps stay in
their stream's time base (integers) until the analysis converts them, because a rounding error
of one tick must never look like a gap.

Packets are stored column by column (``PacketTable``): a 10-minute 30 fps recording has some 46,000
packets, and a frozen object per packet alone would eat a third of the 0.3 s budget.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise
from typing import Literal, overload

StreamKind = Literal["video", "audio"]
TimelineSource = Literal["index", "ffprobe"]


class FindingKind(StrEnum):
    """Stable identifiers of findings; stored in the catalog and documented in FINDINGS.md."""

    TIMESTAMP_GAP = "timestamp_gap"
    TIMESTAMP_BACKWARDS = "timestamp_backwards"
    PARAMETER_CHANGE = "parameter_change"
    KEYFRAME_IRREGULAR = "keyframe_irregular"
    AV_DESYNC = "av_desync"
    DURATION_MISMATCH = "duration_mismatch"
    FOREIGN_ENCODER = "foreign_encoder"
    TRUNCATED = "truncated"
    SEGMENT_GAP = "segment_gap"
    SEGMENT_OVERLAP = "segment_overlap"
    MISSING_SEGMENT = "missing_segment"
    CLOCK_DRIFT = "clock_drift"
    TIME_MISMATCH = "time_mismatch"
    SEGMENT_SHORT = "segment_short"
    CONTINUATION_MISSING = "continuation_missing"
    FRESH_START = "fresh_start"
    AUDIO_DISCONTINUITY = "audio_discontinuity"
    EDIT_LIST = "edit_list"
    REUSED_CONTENT = "reused_content"
    OVERLAY_MISMATCH = "overlay_mismatch"
    PICTURE_DISCONTINUITY = "picture_discontinuity"


class Severity(StrEnum):
    """``critical``: footage is probably missing or altered; ``warning``: needs a look."""

    CRITICAL = "critical"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Packet:
    """One compressed frame as the container stores it, in its stream's time base."""

    pts: int | None
    dts: int | None
    duration: int
    keyframe: bool
    size: int


@dataclass(frozen=True, slots=True)
class PacketTable:
    """The packets of one stream in decode (file) order, one tuple per field."""

    pts: tuple[int | None, ...]
    dts: tuple[int | None, ...]
    duration: tuple[int, ...]
    keyframe: tuple[bool, ...]
    size: tuple[int, ...]

    def __post_init__(self) -> None:
        n = len(self.pts)
        if not len(self.dts) == len(self.duration) == len(self.keyframe) == len(self.size) == n:
            raise ValueError("PacketTable columns must all have the same length")

    @classmethod
    def from_packets(cls, packets: Iterable[Packet]) -> PacketTable:
        rows = list(packets)
        return cls(
            pts=tuple(p.pts for p in rows),
            dts=tuple(p.dts for p in rows),
            duration=tuple(p.duration for p in rows),
            keyframe=tuple(p.keyframe for p in rows),
            size=tuple(p.size for p in rows),
        )

    def __len__(self) -> int:
        return len(self.pts)

    @overload
    def __getitem__(self, i: int) -> Packet: ...
    @overload
    def __getitem__(self, i: slice) -> PacketTable: ...
    def __getitem__(self, i: int | slice) -> Packet | PacketTable:
        if isinstance(i, slice):
            return PacketTable(
                self.pts[i], self.dts[i], self.duration[i], self.keyframe[i], self.size[i]
            )
        return Packet(self.pts[i], self.dts[i], self.duration[i], self.keyframe[i], self.size[i])

    def __iter__(self) -> Iterator[Packet]:
        return map(Packet, self.pts, self.dts, self.duration, self.keyframe, self.size)

    def decode_times(self) -> list[int]:
        """dts where known, else pts; packets with neither are dropped (ffprobe prints N/A)."""
        if None not in self.dts:
            return list(self.dts)  # type: ignore[arg-type]  # no None, as just checked
        out: list[int] = []
        for d, p in zip(self.dts, self.pts, strict=True):
            if d is not None:
                out.append(d)
            elif p is not None:
                out.append(p)
        return out


@dataclass(frozen=True)
class StreamInfo:
    """What one audio or video stream declares; ``index`` is the container's track order."""

    index: int
    kind: StreamKind
    codec: str
    profile: str | None
    width: int | None
    height: int | None
    frame_rate: Fraction | None
    sample_rate: int | None
    time_base: Fraction
    extradata_sha256: str | None
    encoder: str | None = None  # per-stream tag: the MP4 sample entry's compressor name


@dataclass(frozen=True)
class ContainerInfo:
    """Container-level metadata: what wrote the file and when it says it started."""

    format: str
    brands: tuple[str, ...] = ()  # major brand first, then the compatible brands
    encoder: str | None = None
    handler_names: tuple[str, ...] = ()
    creation_time: datetime | None = None  # aware UTC, as the container states it
    duration_s: float | None = None  # declared, not measured


@dataclass(frozen=True)
class ParamSwitch:
    """A stream changes its declared parameters mid-file (e.g. a second MP4 sample entry)."""

    stream_index: int
    packet_index: int
    description: str


@dataclass(frozen=True)
class Edit:
    """One edit list entry: play ``duration_s`` of media from ``media_start_s`` (None: a pause)."""

    duration_s: float
    media_start_s: float | None
    rate: float = 1.0


@dataclass(frozen=True)
class EditList:
    """A track's edit list (MP4 ``elst``), and how much media the track holds."""

    stream_index: int
    edits: tuple[Edit, ...]
    media_s: float
    first_s: float = 0.0  # the first sample's presentation time in media time (B-frame delay)


@dataclass(frozen=True)
class MediaTimeline:
    """Everything the analysis needs about one file, whichever reader produced it."""

    container: ContainerInfo
    streams: tuple[StreamInfo, ...]
    packets: Mapping[int, PacketTable]
    source: TimelineSource
    complete: bool = True
    problem: str | None = None  # why ``complete`` is False
    switches: tuple[ParamSwitch, ...] = ()
    edit_lists: tuple[EditList, ...] = ()  # MP4 only; a track without one is absent
    start_marks: tuple[str, ...] = ()  # NAL/SEI types of the first video sample (MP4 index)

    def stream(self, kind: StreamKind) -> StreamInfo | None:
        """The first stream of a kind: the one a player shows and the analysis anchors on."""
        return next((s for s in self.streams if s.kind == kind), None)


@dataclass(frozen=True)
class RecordingFacts:
    """One recording as the camera left it: name fields, file times and its timeline."""

    recording_id: str
    device: str
    officer: str
    filename_start: datetime  # naive, camera-local, from the file name
    zone: str  # the camera's time zone name, e.g. "Asia/Shanghai"
    seq: int
    camera_mtime: datetime | None  # aware; the camera's clock when it closed the file
    size: int
    timeline: MediaTimeline | None  # None: unreadable
    timeline_problem: str | None = None  # why ``timeline`` is None or incomplete
    seen_at: datetime | None = None  # aware; when the station listed (copied) the file

    def __post_init__(self) -> None:
        if self.filename_start.tzinfo is not None:
            raise ValueError("filename_start is camera-local wall time and must be naive")
        if self.camera_mtime is not None and self.camera_mtime.tzinfo is None:
            raise ValueError("camera_mtime must be timezone-aware")


@dataclass(frozen=True)
class SeenRecording:
    """A recording of the same device from an earlier dock (from the catalog)."""

    recording_id: str
    seq: int
    filename_start: datetime  # naive, camera-local
    duration_s: float | None


@dataclass(frozen=True)
class DeviceHistory:
    """What the station already knows about a device before this dock."""

    device: str
    recordings: tuple[SeenRecording, ...] = ()
    dock_times: tuple[datetime, ...] = ()  # aware; docks whose ingest completed


@dataclass(frozen=True)
class Finding:
    """One problem with one recording; explanations are attached by the catalog, never here."""

    kind: FindingKind
    severity: Severity
    recording_id: str
    offset_s: float | None  # seconds from the start of the recording; None: whole file
    measured: float | str | None  # seconds unless the message says otherwise
    threshold: float | str | None
    message: str
    stream: int | None = None

    def fingerprint(self) -> str:
        """Identity across re-analysis runs, so an explanation stays with its finding."""
        where = "-" if self.offset_s is None else f"{self.offset_s:.1f}"
        return f"{self.recording_id}:{self.kind.value}:{where}"


@dataclass(frozen=True)
class Thresholds:
    """Every number the analysis judges by; each default is explained beside it."""

    gap_frames: float = 2.0
    """timestamp_gap: a hole of more than this many frame durations (a 30 fps camera: 67 ms)."""
    rate_change_frames: int = 10
    """parameter_change: a different frame duration must hold this many frames in a row."""
    frame_tolerance: float = 0.05
    """Relative jitter of a frame duration that still counts as the same rate."""
    gop_tolerance_frames: int = 0
    """keyframe_irregular: allowed deviation from the regular GOP; camera encoders are exact."""
    min_gop_intervals: int = 2
    """Without a device profile, a GOP is only inferred from this many complete intervals."""
    av_drift_s: float = 1.0
    """av_desync: audio and video start or end further apart than this (a common 1 s limit)."""
    declared_tolerance_s: float = 0.5
    """duration_mismatch: declared container duration vs the packets' span."""
    wallclock_tolerance_s: float = 3.0
    """duration_mismatch: media duration vs camera close time - container start time.
    Container times have 1 s resolution and FAT mtimes 2 s."""
    time_tolerance_s: float = 2.0
    """time_mismatch: file name time vs container creation time (both 1 s resolution)."""
    seam_tolerance_s: float = 0.04
    """segment_gap/segment_overlap: a seam beyond this is suspicious (one frame at 25 fps)."""
    start_time_resolution_s: float = 1.0
    """File name times are whole seconds, so a seam is only known to within this much."""
    session_break_s: float = 30.0
    """A pause longer than this between consecutive files starts a new session, not a gap."""
    clock_tolerance_s: float = 5.0
    """clock_drift: how far a recording may end after the dock or start before the last one."""
    earliest_plausible: datetime = datetime(2015, 1, 1, tzinfo=UTC)
    """clock_drift: camera times before this are a reset clock (factory date 2000-01-01)."""
    audio_join_tolerance_s: float = 0.003
    """audio_discontinuity: where a continuing segment's audio resumes vs where the previous
    one's ended (edit lists are written in 1 ms movie ticks; an AAC frame is 21 ms)."""
    edit_tolerance_s: float = 0.1
    """edit_list: footage a player skips, repeats or hides beyond this (priming is 21 ms)."""
    overlay_tolerance_s: float = 1.0
    """overlay_mismatch: burned-in clock vs the timeline. The overlay shows whole seconds, so an
    honest reading is always less than 1 s off; a cut of 2 s or more always shows."""
    scene_change_ratio: float = 3.0
    """picture_discontinuity: the picture change across a seam vs the change between adjacent
    frames on either side (a continuous recording: about 1)."""
    reuse_min_gops: int = 2
    """reused_content: this many identical GOP size sequences (each of several distinct sizes)."""
    seam_keyframe_ratio: float = 1.5
    """picture_discontinuity: a seam is let through without its frames being judged when the
    picture changes across it, keyframe to keyframe, at most this many times as much as over the
    earlier segment's last GOP (a continuous recording: about 1); 0 judges every seam frame by
    frame (sharper, ~0.06 s more per seam on a 1080p file; FINDINGS.md says what it gives up)."""

    def __post_init__(self) -> None:
        for name in ("gap_frames", "frame_tolerance", "av_drift_s", "declared_tolerance_s",
                     "wallclock_tolerance_s", "time_tolerance_s", "seam_tolerance_s",
                     "session_break_s", "clock_tolerance_s", "audio_join_tolerance_s",
                     "edit_tolerance_s", "overlay_tolerance_s", "scene_change_ratio"):
            if getattr(self, name) <= 0:
                raise ValueError(f"threshold {name} must be positive")
        if self.seam_keyframe_ratio < 0:
            raise ValueError("threshold seam_keyframe_ratio must be 0 (off) or positive")
        if self.rate_change_frames < 2 or self.min_gop_intervals < 1 or self.reuse_min_gops < 1:
            raise ValueError("rate_change_frames must be >= 2, min_gop_intervals and "
                             "reuse_min_gops >= 1")
        if self.earliest_plausible.tzinfo is None:
            raise ValueError("earliest_plausible must be timezone-aware")


@dataclass(frozen=True)
class DeviceProfile:
    """What a device normally writes; an empty set means "not known", never "nothing"."""

    gop: int | None = None
    encoders: frozenset[str | None] = frozenset()
    stream_encoders: frozenset[str | None] = frozenset()
    handler_names: frozenset[str] = frozenset()
    brands: frozenset[tuple[str, ...]] = frozenset()
    time_bases: frozenset[tuple[str, Fraction]] = frozenset()
    resolutions: frozenset[tuple[int, int]] = frozenset()
    frame_rates: frozenset[Fraction] = frozenset()
    sample_rates: frozenset[int] = frozenset()
    codecs: frozenset[tuple[str, str, str | None]] = frozenset()
    extradata: frozenset[tuple[str, str]] = frozenset()
    # The recording chain (issue 13): how this camera splits and continues a recording.
    gops: frozenset[tuple[Fraction, int]] = frozenset()  # GOP per frame rate (night mode)
    split_s: frozenset[float] = frozenset()  # segment length of a continuing recording
    start_marks: frozenset[str] = frozenset()  # written at a session's start, never after
    audio_continues: bool | None = None  # True: a split never breaks the audio samples
    overlay: Overlay | None = None  # where and how the camera burns its time and ids in
    learned_from: int = field(default=0, compare=False)

    def gop_for(self, rate: Fraction | None) -> int | None:
        """The GOP this camera uses at ``rate`` (night mode has its own), else its usual one."""
        if rate is not None:
            for known, gop in self.gops:
                if abs(known - rate) <= known / 100:
                    return gop
        return self.gop


@dataclass(frozen=True)
class Overlay:
    """The burned-in overlay: crop ``WxH+X+Y`` of the picture, upscaled ``scale`` times for the
    OCR, read as ``format`` (``{device}``, ``{officer}`` and strftime codes, e.g.
    ``"{device} {officer} %Y-%m-%d %H:%M:%S"``)."""

    crop: str
    format: str
    scale: int = 3


def dominant(values: Iterable[int]) -> int | None:
    """The most common value (ties: the smallest), the robust "normal" of a jittery series."""
    counts = Counter(values)
    if not counts:
        return None
    best = max(counts.values())
    return min(v for v, c in counts.items() if c == best)


def frame_deltas(times: list[int]) -> list[int]:
    return [b - a for a, b in pairwise(times)]


def nominal_frame_rate(table: PacketTable, time_base: Fraction) -> Fraction | None:
    """Frames per second from the most common positive dts step, identical for every reader."""
    step = dominant(d for d in frame_deltas(table.decode_times()) if d > 0)
    return None if step is None else 1 / (step * time_base)


def keyframe_intervals(table: PacketTable) -> tuple[list[int], list[int], int | None]:
    """Packet indices of keyframes, complete intervals between them, and the trailing run."""
    keys = [i for i, k in enumerate(table.keyframe) if k]
    intervals = [b - a for a, b in pairwise(keys)]
    tail = len(table) - keys[-1] if keys else None
    return keys, intervals, tail


def learn_profile(timelines: Iterable[MediaTimeline]) -> DeviceProfile:
    """Union of what clean recordings of one device show; the GOP is their common interval."""
    items = [t for t in timelines if t.complete]
    if not items:
        raise ValueError("learn_profile needs at least one complete timeline")
    gops: list[int] = []
    by_rate: dict[Fraction, list[int]] = {}
    streams = [(t, s) for t in items for s in t.streams]
    videos = [(t, s) for t, s in streams if s.kind == "video"]
    for t, s in videos:
        table = t.packets.get(s.index)
        if table is not None:
            intervals = keyframe_intervals(table)[1]
            gops.extend(intervals)
            if s.frame_rate:
                by_rate.setdefault(s.frame_rate, []).extend(intervals)
    per_rate = {(r, g) for r, n in by_rate.items() if (g := dominant(n)) is not None}
    return DeviceProfile(
        gop=dominant(gops),
        gops=frozenset(per_rate) if len(per_rate) > 1 else frozenset(),
        encoders=frozenset(t.container.encoder for t in items),
        stream_encoders=frozenset(s.encoder for _, s in streams),
        handler_names=frozenset(n for t in items for n in t.container.handler_names),
        brands=frozenset(t.container.brands for t in items),
        time_bases=frozenset((s.kind, s.time_base) for _, s in streams),
        resolutions=frozenset((s.width, s.height) for _, s in videos if s.width and s.height),
        frame_rates=frozenset(s.frame_rate for _, s in videos if s.frame_rate),
        sample_rates=frozenset(
            s.sample_rate for _, s in streams if s.kind == "audio" and s.sample_rate),
        codecs=frozenset((s.kind, s.codec, s.profile) for _, s in streams),
        extradata=frozenset((s.kind, s.extradata_sha256) for _, s in streams
                            if s.extradata_sha256),
        learned_from=len(items),
    )
