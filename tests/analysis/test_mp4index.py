"""The MP4 index reader: same timeline as ffprobe, and hostile or broken files never crash it."""

from __future__ import annotations

import random
import struct
import subprocess
from pathlib import Path

import pytest

from bodycam_ingest.analysis.continuity import analyze_file
from bodycam_ingest.analysis.extract import extract
from bodycam_ingest.analysis.ffprobe import probe
from bodycam_ingest.analysis.model import FindingKind
from bodycam_ingest.analysis.mp4index import read_index, read_index_explained

from . import corpus as c
from . import mp4edit as ed


@pytest.fixture(scope="module")
def clean(continuity_corpus: dict[str, c.Case]) -> c.Clip:
    return continuity_corpus["clean_single"].clips[0]


def test_index_reader_gives_ffprobes_timeline_without_reading_media(clean: c.Clip) -> None:
    mine = read_index(clean.path)
    theirs, why = probe(clean.path)
    assert mine is not None and theirs is not None, why
    assert (mine.source, theirs.source) == ("index", "ffprobe")
    assert mine.container == theirs.container
    assert mine.streams == theirs.streams
    for s in mine.streams:
        a, b = mine.packets[s.index], theirs.packets[s.index]
        assert (a.pts, a.dts, a.keyframe, a.size) == (b.pts, b.dts, b.keyframe, b.size)
        assert a.duration[:-1] == b.duration[:-1]


def test_cutting_the_file_at_any_byte_gives_a_reason_never_an_exception(
        clean: c.Clip, tmp_path: Path) -> None:
    faststart = tmp_path / "front.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clean.path), "-c", "copy",
                    "-movflags", "+faststart", str(faststart)], check=True)
    for src in (clean.path, faststart):
        data = src.read_bytes()
        cut = tmp_path / "cut.mp4"
        for keep in range(0, len(data), max(1, len(data) // 250)):
            cut.write_bytes(data[:keep])
            timeline, why = read_index_explained(cut)
            if timeline is None:
                assert why, keep
            else:
                assert not timeline.complete and timeline.problem, keep


def test_random_damage_to_the_index_gives_a_reason_never_an_exception(
        clean: c.Clip, tmp_path: Path) -> None:
    data = bytearray(clean.path.read_bytes())
    moov = data.rfind(b"moov") - 4
    rng = random.Random(20261120)
    damaged = tmp_path / "damaged.mp4"
    outcomes = set()
    for _ in range(400):
        copy = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(moov, len(copy))
            copy[pos] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        damaged.write_bytes(copy)
        timeline = read_index(damaged)
        outcomes.add("none" if timeline is None else str(timeline.complete))
    assert "False" in outcomes  # damage is noticed, not silently accepted


def test_a_box_claiming_more_bytes_than_its_parent_is_reported(
        clean: c.Clip, tmp_path: Path) -> None:
    out = tmp_path / "bomb.mp4"

    def bomb(tree: ed.Tree) -> None:
        stsz = ed.find(tree, b"trak", b"mdia", b"minf", b"stbl", b"stsz")
        assert isinstance(stsz, bytes)
        ed.replace_body(tree, (b"trak", b"mdia", b"minf", b"stbl", b"stsz"),
                        stsz[:4] + struct.pack(">II", 1, 2**31))  # uniform size, 2^31 samples

    ed.edit_moov(clean.path, out, bomb)
    timeline = read_index(out)
    assert timeline is not None and not timeline.complete
    assert "over the limit" in (timeline.problem or "")
    data = bytearray(clean.path.read_bytes())
    moov = data.rfind(b"moov") - 4
    struct.pack_into(">I", data, moov + 8, 0xFFFFFFF0)  # mvhd claims 4 GiB
    out.write_bytes(data)
    timeline = read_index(out)
    assert timeline is not None and not timeline.complete
    assert "claims" in (timeline.problem or "")


def test_a_second_sample_description_mid_track_is_a_parameter_change(
        clean: c.Clip, tmp_path: Path) -> None:
    out = tmp_path / "two_sources.mp4"
    stbl = (b"trak", b"mdia", b"minf", b"stbl")
    first_sample_of_switch = {}

    def second_source(tree: ed.Tree) -> None:
        stsd = ed.find(tree, *stbl, b"stsd")
        assert isinstance(stsd, bytes)
        entry = bytearray(stsd[8:])
        struct.pack_into(">HH", entry, 8 + 24, 320, 240)  # another camera's resolution
        ed.replace_body(tree, (*stbl, b"stsd"),
                        stsd[:4] + struct.pack(">I", 2) + stsd[8:] + bytes(entry))
        stsc = ed.find(tree, *stbl, b"stsc")
        stco = ed.find(tree, *stbl, b"stco")
        assert isinstance(stsc, bytes) and isinstance(stco, bytes)
        chunks = struct.unpack_from(">I", stco, 4)[0]
        rows = ed.table(stsc, 3)
        per_chunk = []
        for i, (first, n, _) in enumerate(rows):
            last = rows[i + 1][0] - 1 if i + 1 < len(rows) else chunks
            per_chunk += [n] * (last - first + 1)
        switch = len(per_chunk) // 2
        first_sample_of_switch["n"] = sum(per_chunk[:switch])
        ed.replace_body(tree, (*stbl, b"stsc"), ed.pack_table(stsc[:4], [
            (k + 1, n, 1 if k < switch else 2) for k, n in enumerate(per_chunk)]))

    ed.edit_moov(clean.path, out, second_source)
    timeline = read_index(out)
    assert timeline is not None and timeline.complete, timeline and timeline.problem
    assert [s.packet_index for s in timeline.switches] == [first_sample_of_switch["n"]]
    assert "resolution 160x120 -> 320x240" in timeline.switches[0].description
    facts = c.Clip(out, clean.seq, clean.start, clean.seconds).facts()
    hits = [f for f in analyze_file(facts) if f.kind == FindingKind.PARAMETER_CHANGE]
    assert [f.offset_s for f in hits] == [first_sample_of_switch["n"] / c.FPS]


def test_a_negative_time_step_in_the_index_is_a_timestamp_reset(
        clean: c.Clip, tmp_path: Path) -> None:
    out = tmp_path / "reset.mp4"
    stbl = (b"trak", b"mdia", b"minf", b"stbl")

    def reset(tree: ed.Tree) -> None:
        stts = ed.find(tree, *stbl, b"stts")
        assert isinstance(stts, bytes)
        deltas = [d for n, d in ed.table(stts, 2) for _ in range(n)]
        deltas[19] = (-10 * 9000) % 2**32  # after frame 19, back by one second
        ed.replace_body(tree, (*stbl, b"stts"), ed.pack_table(stts[:4], [(1, d) for d in deltas]))

    ed.edit_moov(clean.path, out, reset)
    facts = c.Clip(out, clean.seq, clean.start, clean.seconds).facts()
    found = [f for f in analyze_file(facts) if f.kind == FindingKind.TIMESTAMP_BACKWARDS]
    assert [(f.offset_s, f.measured) for f in found] == [(2.0, 1.0)]


def test_fragmented_mp4_and_other_containers_fall_back_to_ffprobe(
        clean: c.Clip, tmp_path: Path) -> None:
    frag = tmp_path / "frag.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clean.path), "-c", "copy",
                    "-movflags", "frag_keyframe+empty_moov", str(frag)], check=True)
    assert read_index_explained(frag) == (None, "fragmented MP4 (no sample tables in moov)")
    got = extract(frag)
    assert got.timeline is not None and got.timeline.source == "ffprobe"
    assert got.timeline.complete and len(got.timeline.packets[0]) == 40
    avi = tmp_path / "cam.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clean.path), "-c", "copy",
                    str(avi)], check=True)
    got = extract(avi)
    assert got.timeline is not None and got.timeline.source == "ffprobe" and not got.notes


def test_a_file_that_is_no_recording_at_all_is_unreadable_with_a_reason(tmp_path: Path) -> None:
    junk = tmp_path / "junk.MP4"
    junk.write_bytes(b"this is not a video file" * 100)
    got = extract(junk)
    assert got.timeline is None
    assert "ffprobe cannot read it" in (got.problem or "")
