"""What ffprobe says about a stored recording, reduced to a summary. The ffmpeg edge.

A file ffprobe cannot read is still evidence: the summary says ``unreadable`` with ffprobe's own
words, and the recording stays stored exactly as it came off the camera. ffprobe runs through the
analysis reader's runner (``analysis.ffprobe.run_ffprobe``), with the binary and timeout of
``analysis.ffprobe`` / ``analysis.ffprobe_timeout_s``: a hanging ffprobe makes the recording
``unreadable`` ("took longer than N s") instead of stopping the dock worker for ever.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bodycam_ingest.analysis.ffprobe import TIMEOUT_S, ProbeFailed, run_ffprobe


@dataclass(frozen=True)
class ProbeSummary:
    status: str  # ok | unreadable | empty
    error: str | None = None
    duration_s: float | None = None
    container: str | None = None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    creation_time: datetime | None = None
    raw_json: str | None = None


def _fits(value: object, length: int) -> str | None:
    """A summary field as its catalog column takes it: a longer value (a crafted file's) is left
    out of the summary, not cut; the whole ffprobe answer is kept in ``raw_json``."""
    return value if isinstance(value, str) and len(value) <= length else None


def summarize(info: dict[str, Any]) -> ProbeSummary:
    """Reduce ffprobe's ``-show_format -show_streams`` JSON to a summary (pure)."""
    fmt = info.get("format", {})
    streams = info.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None and audio is None:
        return ProbeSummary(status="unreadable", error="no audio or video stream",
                            container=_fits(fmt.get("format_name"), 64), raw_json=json.dumps(info))
    created = (fmt.get("tags") or {}).get("creation_time")
    return ProbeSummary(
        status="ok",
        duration_s=_float(fmt.get("duration")),
        container=_fits(fmt.get("format_name"), 64),
        video_codec=_fits(video.get("codec_name"), 32) if video else None,
        width=video.get("width") if video else None,
        height=video.get("height") if video else None,
        frame_rate=_fits(video.get("avg_frame_rate"), 16) if video else None,
        audio_codec=_fits(audio.get("codec_name"), 32) if audio else None,
        sample_rate=int(audio["sample_rate"]) if audio and audio.get("sample_rate") else None,
        creation_time=_timestamp(created),
        raw_json=json.dumps(info, sort_keys=True),
    )


SUMMARY_ARGS = ("-v", "error", "-hide_banner", "-of", "json", "-show_format", "-show_streams")


def probe_file(path: Path, *, ffprobe: str = "ffprobe", timeout_s: float = TIMEOUT_S
               ) -> ProbeSummary:
    if path.stat().st_size == 0:
        return ProbeSummary(status="empty", error="zero-byte file")
    try:
        out, _err = run_ffprobe([ffprobe, *SUMMARY_ARGS, str(path)], timeout_s)
        info = json.loads(out)
    except ProbeFailed as exc:
        return ProbeSummary(status="unreadable", error=str(exc)[:500])
    except ValueError as exc:
        return ProbeSummary(status="unreadable", error=f"ffprobe's output is not JSON ({exc})")
    return summarize(info)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
