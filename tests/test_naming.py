"""File names tell device, officer, local start and sequence; odd names are still evidence."""

from __future__ import annotations

from datetime import datetime

import pytest

from bodycam_ingest.naming import compile_pattern, parse_name, preset

PRESETS = tuple(preset(name) for name in ("officer_device_time_seq", "device_time_seq",
                                          "time_seq"))


@pytest.mark.parametrize(("name", "pattern", "device", "officer", "start", "seq"), [
    ("A1024_DSJ9X001_20261120093000_0001.MP4", "officer_device_time_seq", "DSJ9X001", "A1024",
     datetime(2026, 11, 20, 9, 30), 1),
    ("DSJ9X001_20261120093000_0012.mp4", "device_time_seq", "DSJ9X001", None,
     datetime(2026, 11, 20, 9, 30), 12),
    ("20261120_093000_0003.MOV", "time_seq", None, None, datetime(2026, 11, 20, 9, 30), 3),
    ("20261120093000.MP4", "time_seq", None, None, datetime(2026, 11, 20, 9, 30), None),
])
def test_presets_parse_common_body_camera_names(name: str, pattern: str, device: str | None,
                                                officer: str | None, start: datetime,
                                                seq: int | None) -> None:
    fields = parse_name(name, PRESETS)
    assert (fields.pattern, fields.device, fields.officer, fields.start, fields.seq) == (
        pattern, device, officer, start, seq)


def test_an_impossible_time_keeps_the_other_fields() -> None:
    fields = parse_name("A1_D1_20261320093000_0001.MP4", PRESETS)
    assert fields.pattern == "officer_device_time_seq"
    assert fields.start is None
    assert fields.seq == 1


def test_unmatched_names_yield_empty_fields() -> None:
    assert parse_name("holiday.MP4", PRESETS).pattern is None


def test_custom_pattern() -> None:
    pattern = compile_pattern("vendor", r"^(?P<device>\d{7})(?P<start>\d{14})(?P<seq>\d{3})\.MP4$")
    fields = parse_name("123456720261120093000007.MP4", (pattern,))
    assert (fields.device, fields.seq, fields.start) == ("1234567", 7, datetime(2026, 11, 20, 9, 30))
