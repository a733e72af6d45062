"""Dock manifests: canonical bytes, a strict parser, safe paths, a `sha256sum -c` listing."""

from __future__ import annotations

import hashlib
import json
import posixpath
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path, PureWindowsPath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bodycam_ingest.custody.manifest import (
    JsonValue,
    Manifest,
    ManifestEntry,
    ManifestInvalid,
    canonical_bytes,
    canonical_json,
    check_camera_path,
    format_timestamp,
    manifest_digest,
    parse_manifest,
    parse_timestamp,
    sha256sum_listing,
    to_json,
)
from bodycam_ingest.errors import ExitCode

CST = timezone(timedelta(hours=8))


def entry(path: str, data: bytes = b"x", **changes: Any) -> ManifestEntry:
    base = ManifestEntry(
        camera_path=path,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        device="CAM-7",
        officer="张三",
        recording_start=datetime(2025, 3, 7, 9, 0, tzinfo=CST),
        ingested_at=datetime(2025, 3, 7, 10, 0, 3, tzinfo=CST),
    )
    return replace(base, **changes)


def manifest(*entries: ManifestEntry, previous: str | None = None) -> Manifest:
    return Manifest(
        station_id="ST-01",
        dock_id="D-0001",
        device="CAM-7",
        started=datetime(2025, 3, 7, 10, 0, tzinfo=CST),
        finished=datetime(2025, 3, 7, 10, 0, 5, 250000, tzinfo=CST),
        entries=entries,
        previous_digest=previous,
    )


# --------------------------------------------------------------------------- canonical form


def test_canonical_bytes_follow_the_documented_scheme_exactly() -> None:
    m = manifest(entry("DCIM/100MEDIA/B.MP4", b"b"), entry("DCIM/100MEDIA/A.MP4", b"a"))
    sha_a, sha_b = hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()
    expected = (
        '{"device":"CAM-7","dock_id":"D-0001","entries":['
        '{"camera_path":"DCIM/100MEDIA/A.MP4","device":"CAM-7",'
        '"ingested_at":"2025-03-07T02:00:03Z","officer":"张三",'
        f'"recording_start":"2025-03-07T01:00:00Z","sha256":"{sha_a}","size":1}},'
        '{"camera_path":"DCIM/100MEDIA/B.MP4","device":"CAM-7",'
        '"ingested_at":"2025-03-07T02:00:03Z","officer":"张三",'
        f'"recording_start":"2025-03-07T01:00:00Z","sha256":"{sha_b}","size":1}}],'
        '"finished":"2025-03-07T02:00:05.250000Z","format":"bodycam-manifest/1",'
        '"previous_manifest_sha256":null,"started":"2025-03-07T02:00:00Z","station_id":"ST-01"}'
    ).encode()
    assert canonical_bytes(m) == expected
    assert manifest_digest(m) == hashlib.sha256(expected).hexdigest()


def test_canonical_json_sorts_keys_by_utf16_code_units_as_rfc8785_section_3_2_3() -> None:
    # The RFC's own example: a non-BMP key (an emoji, UTF-16 D83D...) sorts before U+FB33,
    # although its code point is larger.
    value: dict[str, JsonValue] = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = [k for k, _ in json.loads(canonical_json(value), object_pairs_hook=list)]
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    assert canonical_json(value).startswith(b'{"\\r":"Carriage Return","1":"One"')


def test_canonical_json_escapes_only_what_ecmascript_escapes() -> None:
    text = 'q"b\\s/\b\f\n\r\t\x01\x1f\x7f é€😀'
    assert canonical_json(text) == ('"q\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f é€😀"'.encode())


_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=5),
    max_leaves=25,
)


@settings(deadline=None)  # no test may depend on wall-clock speed
@given(_json_values)
def test_canonical_json_is_the_same_value_with_keys_in_utf16_order(value: JsonValue) -> None:
    def sorted_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        assert keys == sorted(keys, key=lambda k: k.encode("utf-16-be"))
        return dict(pairs)

    out = canonical_json(value)
    assert json.loads(out, object_pairs_hook=sorted_pairs) == value
    assert canonical_json(json.loads(out)) == out


@pytest.mark.parametrize("value", [1.5, 2**53, -(2**53), "\ud800", {1: "x"}, b"bytes"])
def test_canonical_json_refuses_values_without_an_interoperable_form(value: Any) -> None:
    with pytest.raises(ValueError):
        canonical_json(value)


def test_entry_order_and_input_time_zone_do_not_change_the_bytes() -> None:
    a, b = entry("A.MP4", b"a"), entry("B.MP4", b"b")
    utc_b = replace(b, ingested_at=b.ingested_at.astimezone(UTC))
    assert canonical_bytes(manifest(a, b)) == canonical_bytes(manifest(utc_b, a))


def test_timestamps_are_rfc3339_utc_with_z() -> None:
    assert format_timestamp(datetime(2024, 12, 31, 23, 59, 59, tzinfo=CST)) == ("2024-12-31T15:59:59Z")
    assert format_timestamp(datetime(5, 1, 1, 0, 0, 0, 7, tzinfo=UTC)) == ("0005-01-01T00:00:00.000007Z")
    with pytest.raises(ValueError, match="no time zone"):
        format_timestamp(datetime(2024, 1, 1))


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T08:30:00+00:00",
        "2024-05-01T08:30:00z",
        "2024-05-01 08:30:00Z",
        "2024-05-01T08:30:00.25Z",
        "2024-02-30T08:30:00Z",
        "2024-05-01T08:30Z",
        "\u0662\u0660\u0662\u0664-05-01T08:30:00Z",  # Arabic-Indic digits match a Unicode \d
    ],
)
def test_parse_timestamp_accepts_only_the_one_spelling(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


# --------------------------------------------------------------------------- round trip

_component = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="/\\:", max_codepoint=0x2FFFF),
    min_size=1,
    max_size=12,
).filter(lambda c: c not in {".", ".."})
_paths = st.lists(_component, min_size=1, max_size=4).map("/".join)
_moments = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.timezones()
)
_names = st.text(min_size=1, max_size=10).filter(lambda s: s.encode("utf-8", "replace") != b"?")
_hex = st.binary(min_size=1, max_size=8).map(lambda b: hashlib.sha256(b).hexdigest())


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    paths = draw(st.lists(_paths, max_size=5, unique=True))
    entries = tuple(
        ManifestEntry(
            camera_path=p,
            size=draw(st.integers(0, 2**53 - 1)),
            sha256=draw(_hex),
            device=draw(st.sampled_from(["CAM-7", "执法仪 0042"])),
            officer=draw(st.none() | st.sampled_from(["张三", 'O\'Brien "Bob"'])),
            recording_start=draw(st.none() | _moments),
            ingested_at=draw(_moments),
        )
        for p in paths
    )
    return Manifest(
        station_id=draw(st.sampled_from(["ST-01", "站点 1"])),
        dock_id=draw(st.uuids()).hex,
        device="CAM-7",
        started=draw(_moments),
        finished=draw(_moments),
        entries=entries,
        previous_digest=draw(st.none() | _hex),
    )


@settings(deadline=None)  # no test may depend on wall-clock speed
@given(manifests())
def test_parsing_canonical_bytes_gives_back_the_same_manifest(m: Manifest) -> None:
    data = canonical_bytes(m)
    assert parse_manifest(data) == m
    assert canonical_bytes(parse_manifest(data)) == data


@settings(deadline=None)  # no test may depend on wall-clock speed
@given(manifests(), st.randoms())
def test_canonical_bytes_do_not_depend_on_the_order_entries_arrive_in(m: Manifest, rnd: Any) -> None:
    shuffled = list(m.entries)
    rnd.shuffle(shuffled)
    assert canonical_bytes(replace(m, entries=tuple(shuffled))) == canonical_bytes(m)


# --------------------------------------------------------------------------- strict parsing


def _variant(m: Manifest, change: Any) -> bytes:
    doc = to_json(m)
    change(doc)
    return canonical_json(doc)


def _set_entry(key: str, value: JsonValue) -> Any:
    return lambda doc: doc["entries"][0].__setitem__(key, value)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_set_entry("camera_path", "/DCIM/A.MP4"), "entries[0]: camera path '/DCIM/A.MP4' is"),
        (_set_entry("camera_path", "DCIM/../../etc/passwd"), "'..' component"),
        (_set_entry("camera_path", "DCIM/./A.MP4"), "'.' or '..' component"),
        (_set_entry("camera_path", "DCIM//A.MP4"), "empty"),
        (_set_entry("camera_path", "DCIM/A\n.MP4"), "control characters"),
        (_set_entry("camera_path", "..\\..\\evil.MP4"), "backslashes"),
        (_set_entry("camera_path", "C:evil.MP4"), "colons"),
        (_set_entry("sha256", "AB" * 32), "entries[0]: sha256 of 'A.MP4'"),
        (_set_entry("sha256", "ab" * 31), "64 lowercase hex"),
        (_set_entry("size", -1), "size -1"),
        (_set_entry("size", "12"), "entries[0].size is not an integer"),
        (_set_entry("size", True), "entries[0].size is not an integer"),
        (_set_entry("officer", 7), "entries[0].officer is not a string or null"),
        (_set_entry("ingested_at", None), "entries[0].ingested_at is not a string"),
        (_set_entry("ingested_at", "2025-03-07T10:00:03+08:00"), "entries[0].ingested_at"),
        (_set_entry("extra", 1), "entries[0] has unknown key(s) extra"),
        (lambda d: d["entries"][0].pop("device"), "entries[0] lacks device"),
        (lambda d: d.pop("station_id"), "the top level lacks station_id"),
        (lambda d: d.__setitem__("format", "bodycam-manifest/3"), "this version reads"),
        (lambda d: d.__setitem__("format", "bodycam-manifest/2"), "lacks custody_log_head"),
        (lambda d: d.__setitem__("previous_manifest_sha256", "00"), "previous manifest digest"),
        (lambda d: d.__setitem__("entries", {}), "entries is not a JSON array"),
        (lambda d: d.__setitem__("station_id", ""), "station_id is empty"),
        (lambda d: d["entries"].append(dict(d["entries"][0])), "'A.MP4' is listed twice"),
    ],
)
def test_parse_refuses_a_manifest_and_names_the_field_at_fault(change: Any, words: str) -> None:
    data = _variant(manifest(entry("A.MP4")), change)
    with pytest.raises(ManifestInvalid) as caught:
        parse_manifest(data, source="/store/manifests/D-0001.json")
    assert words in str(caught.value)
    assert str(caught.value).startswith("Manifest /store/manifests/D-0001.json is invalid: ")
    assert caught.value.exit_code == ExitCode.FINDINGS


@pytest.mark.parametrize(
    ("mangle", "words"),
    [
        (lambda b: b + b"\n", "canonical form"),
        (lambda b: json.dumps(json.loads(b), indent=1).encode(), "canonical form"),
        (lambda b: b"\xef\xbb\xbf" + b, "JSON"),
        (lambda b: b.replace(b'"size":1', b'"size":1.0'), "not an integer"),
        (lambda b: b.replace(b'"size":1', b'"size":NaN'), "not an integer"),
        (lambda b: b.replace(b'{"device"', b'{"device":"X","device"', 1), "appears twice"),
        (lambda b: b.replace("张".encode(), b"\xff"), "not UTF-8"),
        (lambda b: b[:-1], "not valid JSON"),
        (lambda b: b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_parse_refuses_bytes_that_are_not_exactly_canonical(mangle: Any, words: str) -> None:
    data = canonical_bytes(manifest(entry("A.MP4")))
    with pytest.raises(ManifestInvalid, match=words):
        parse_manifest(mangle(data))


def test_building_a_manifest_from_bad_values_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        entry("A.MP4", ingested_at=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="lone surrogate"):
        entry("DCIM/\udcff.MP4")  # what os.fsdecode makes of an undecodable FAT name
    with pytest.raises(ValueError, match="listed twice"):
        manifest(entry("A.MP4", b"1"), entry("A.MP4", b"2"))


@settings(deadline=None)  # no test may depend on wall-clock speed
@given(st.text(max_size=30))
def test_no_accepted_camera_path_can_escape_its_directory(path: str) -> None:
    try:
        check_camera_path(path)
    except ValueError:
        return
    assert posixpath.normpath(posixpath.join("/export/data", path)).startswith("/export/data/")
    windows = PureWindowsPath(path)
    assert not windows.is_absolute()
    assert not windows.drive
    assert ".." not in windows.parts


# --------------------------------------------------------------------------- sha256sum listing


def test_sha256sum_accepts_the_listing_and_names_a_file_with_one_flipped_byte(
    tmp_path: Path, clip: bytes
) -> None:
    files = {
        "DCIM/100MEDIA/20250307_090000_0001.MP4": clip,
        "DCIM/100MEDIA/执法 记录 0002.MP4": clip[::-1],
        "DCIM/100MEDIA/ leading and trailing space .MP4": clip[:1000],
        "RECORD/empty.WAV": b"",
    }
    entries = []
    for rel, data in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entries.append(entry(rel, data))
    listing = tmp_path / "manifest-sha256.txt"
    listing.write_text(sha256sum_listing(manifest(*entries)), encoding="utf-8")

    ok = subprocess.run(
        ["sha256sum", "--strict", "-c", listing.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count(": OK") == len(files)

    victim = tmp_path / "DCIM/100MEDIA/执法 记录 0002.MP4"
    flipped = bytearray(victim.read_bytes())
    flipped[len(flipped) // 2] ^= 0x01
    victim.write_bytes(bytes(flipped))
    bad = subprocess.run(
        ["sha256sum", "-c", listing.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode != 0
    assert "DCIM/100MEDIA/执法 记录 0002.MP4: FAILED" in bad.stdout
    assert bad.stdout.count(": OK") == len(files) - 1


def test_listing_has_one_line_per_entry_in_canonical_order() -> None:
    m = manifest(entry("B.MP4", b"b"), entry("A.MP4", b"a"))
    lines = sha256sum_listing(m).splitlines()
    assert lines == [
        f"{hashlib.sha256(b'a').hexdigest()}  A.MP4",
        f"{hashlib.sha256(b'b').hexdigest()}  B.MP4",
    ]
