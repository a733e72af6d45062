"""The ffprobe fallback: its JSON becomes the same plain timeline, and failures become reasons."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

from bodycam_ingest.analysis.ffprobe import probe, timeline_from_probe

HEADER = {
    "streams": [
        {"index": 0, "codec_type": "video", "codec_name": "h264", "profile": "High",
         "width": 320, "height": 240, "time_base": "1/90000",
         "extradata_hash": "SHA256:ABCDEF", "tags": {"handler_name": "Cam", "encoder": "X"}},
        {"index": 1, "codec_type": "data", "codec_name": "bin_data", "time_base": "1/1000"},
        {"index": 2, "codec_type": "audio", "codec_name": "aac", "profile": "LC",
         "sample_rate": "16000", "time_base": "1/16000"},
    ],
    "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "0.300000",
               "tags": {"major_brand": "qt  ", "compatible_brands": "qt  ",
                        "creation_time": "2026-11-20T01:30:00.000000Z", "encoder": "Lavf"}},
}
PACKETS = [
    {"stream_index": 0, "pts": 0, "dts": 0, "duration": 9000, "size": "10", "flags": "K_"},
    {"stream_index": 2, "pts": 0, "dts": 0, "duration": 1024, "size": "5", "flags": "K_"},
    {"stream_index": 0, "pts": 9000, "dts": 9000, "duration": 9000, "size": "11", "flags": "__"},
    {"stream_index": 0, "dts": 18000, "size": "12", "flags": "K_",
     "side_data_list": [{"side_data_type": "New Extradata"}]},
    {"stream_index": 1, "pts": 5, "dts": 5, "size": "3", "flags": "K_"},
]


def test_ffprobe_json_becomes_a_timeline_of_audio_and_video_only() -> None:
    t = timeline_from_probe(HEADER, PACKETS)
    assert t.source == "ffprobe" and t.complete
    assert [s.index for s in t.streams] == [0, 2]
    video, audio = t.streams
    assert (video.frame_rate, video.extradata_sha256, video.encoder) == (Fraction(10), "abcdef",
                                                                         "X")
    assert (audio.sample_rate, audio.time_base) == (16000, Fraction(1, 16000))
    assert t.packets[0].pts == (0, 9000, None)  # N/A stays unknown, never 0
    assert t.packets[0].keyframe == (True, False, True)
    assert t.container.format == "mov" and t.container.brands == ("qt  ", "qt  ")
    assert t.container.creation_time == datetime(2026, 11, 20, 1, 30, tzinfo=UTC)
    assert [(s.stream_index, s.packet_index) for s in t.switches] == [(0, 2)]


def test_ffprobe_complaints_while_reading_mark_the_timeline_incomplete() -> None:
    t = timeline_from_probe(HEADER, PACKETS, "[mov] stream 1, offset 0x1: partial file\n")
    assert not t.complete and "partial file" in (t.problem or "")


def test_a_missing_ffprobe_is_a_reason_naming_the_fix(tmp_path: Path) -> None:
    f = tmp_path / "x.MP4"
    f.write_bytes(b"\0" * 64)
    timeline, why = probe(f, ffprobe=str(tmp_path / "no-such-ffprobe"))
    assert timeline is None and why is not None and "install ffmpeg" in why
