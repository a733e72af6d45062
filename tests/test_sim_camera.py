"""The simulated camera produces what a real 执法记录仪 leaves on its card."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest_media import FatImage, FolderCamera, ffprobe, sha256_of

from bodycam_ingest.detection.mount import fat_mtimes
from bodycam_ingest.sim.camera import CameraSpec, build_fat32_image, generate_recordings, main

NAME = re.compile(r"^(?P<officer>\w+?)_(?P<device>\w+?)_(?P<stamp>\d{14})_(?P<seq>\d{4})\.MP4$")
MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


def test_segments_are_named_officer_device_local_start_and_sequence(camera_media: FolderCamera):
    spec = camera_media.spec
    assert [p.parent.relative_to(camera_media.root).as_posix() for p in camera_media.paths] == [
        "DCIM/100MEDIA"] * 3
    names = [NAME.match(p.name) for p in camera_media.paths]
    assert all(names)
    assert [m["seq"] for m in names if m] == ["0001", "0002", "0003"]
    assert {(m["officer"], m["device"]) for m in names if m} == {("A1024", "DSJ9X001")}
    starts = [datetime.strptime(m["stamp"], "%Y%m%d%H%M%S") for m in names if m]
    assert starts == [spec.start + timedelta(seconds=2 * i) for i in range(3)]


def test_each_segment_is_real_h264_and_aac_of_the_requested_size_and_length(
        camera_media: FolderCamera):
    for path in camera_media.paths:
        info = ffprobe(path)
        streams = {s["codec_type"]: s for s in info["streams"]}  # type: ignore[attr-defined]
        assert streams["video"]["codec_name"] == "h264"
        assert (streams["video"]["width"], streams["video"]["height"]) == (160, 120)
        assert streams["video"]["r_frame_rate"] == "10/1"
        assert streams["audio"]["codec_name"] == "aac"
        assert float(info["format"]["duration"]) == pytest.approx(2.0, abs=0.07)  # type: ignore[index]


def test_creation_time_is_the_utc_instant_of_the_local_start(camera_media: FolderCamera):
    spec = camera_media.spec
    tags = [ffprobe(p)["format"]["tags"]["creation_time"] for p in camera_media.paths]  # type: ignore[index]
    assert tags == [
        (spec.segment_start(i) - timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        for i in range(3)]


def test_file_mtime_is_the_moment_the_segment_ended(camera_media: FolderCamera):
    for i, path in enumerate(camera_media.paths):
        end = datetime(2026, 11, 20, 9, 30, 2 * (i + 1)) - timedelta(hours=8)
        assert path.stat().st_mtime == end.replace(tzinfo=UTC).timestamp()


def test_every_segment_has_distinct_content(camera_media: FolderCamera):
    assert len({sha256_of(p) for p in camera_media.paths}) == 3


def test_same_spec_gives_identical_bytes(tmp_path: Path, camera_media: FolderCamera):
    again = generate_recordings(tmp_path, replace(camera_media.spec, segments=1))
    assert sha256_of(again[0]) == sha256_of(camera_media.paths[0])


def test_folder_camera_fixture_is_a_private_copy(folder_camera: FolderCamera,
                                                 camera_media: FolderCamera):
    assert folder_camera.root != camera_media.root
    for mine, master in zip(folder_camera.paths, camera_media.paths, strict=True):
        assert mine.stat().st_mtime == master.stat().st_mtime
        assert sha256_of(mine) == sha256_of(master)


def test_fat_image_is_fat32_with_label_and_stable_serial(fat_image: FatImage):
    out = subprocess.run(["blkid", "-p", "-o", "export", str(fat_image.image)],
                         capture_output=True, text=True, check=True).stdout
    props = dict(line.split("=", 1) for line in out.splitlines())
    assert (props["TYPE"], props["VERSION"], props["LABEL"]) == ("vfat", "FAT32", "BODYCAM")
    assert re.fullmatch(r"[0-9A-F]{4}-[0-9A-F]{4}", props["UUID"])


def test_fat_image_holds_byte_identical_recordings(fat_image: FatImage, camera_media: FolderCamera):
    assert fat_image.paths == [p.relative_to(camera_media.root).as_posix()
                               for p in camera_media.paths]
    for rel, master in zip(fat_image.paths, camera_media.paths, strict=True):
        data = subprocess.run(["mcopy", "-n", "-i", str(fat_image.image), f"::{rel}", "-"],
                              capture_output=True, check=True, env=MTOOLS_ENV).stdout
        assert data == master.read_bytes()


def test_fat_directory_entries_hold_camera_wall_clock_segment_ends(fat_image: FatImage):
    listing = subprocess.run(["mdir", "-i", str(fat_image.image), "::DCIM/100MEDIA"],
                             capture_output=True, text=True, check=True, env=MTOOLS_ENV).stdout
    assert listing.count("2026-11-20   9:30") == 3  # mtools' own reading, to the minute
    assert fat_mtimes(str(fat_image.image)) == {
        rel: datetime(2026, 11, 20, 9, 30, 2 * (i + 1)) for i, rel in enumerate(fat_image.paths)}


def test_odd_seconds_are_truncated_to_fat_two_second_resolution(tmp_path: Path):
    spec = CameraSpec(segments=1, seconds=1.0, start=datetime(2026, 1, 31, 23, 59, 58))
    [rel] = build_fat32_image(tmp_path / "odd.img", spec, label="CAM2")
    assert rel == "DCIM/100MEDIA/A1024_DSJ9X001_20260131235958_0001.MP4"
    # ends 23:59:59, stored as :58; also a date fusefat would show as 3 March
    assert fat_mtimes(str(tmp_path / "odd.img")) == {rel: datetime(2026, 1, 31, 23, 59, 58)}


def test_bulk_mode_makes_large_unique_playable_files_of_the_same_length(tmp_path: Path):
    spec = CameraSpec(segments=2, bulk_bytes=3_000_000)
    paths = generate_recordings(tmp_path, spec)
    sizes = [p.stat().st_size for p in paths]
    assert all(abs(s - 3_000_000) < 300_000 for s in sizes), sizes
    assert len({sha256_of(p) for p in paths}) == 2
    for path in paths:
        info = ffprobe(path)
        assert {s["codec_name"] for s in info["streams"]} == {"h264", "aac"}  # type: ignore[attr-defined]
        assert float(info["format"]["duration"]) == pytest.approx(2.0, abs=0.07)  # type: ignore[index]
        decode = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
                                capture_output=True, text=True, check=False)
        assert decode.returncode == 0 and not decode.stderr


@pytest.mark.parametrize("bad", [
    {"segments": 0}, {"seconds": 0}, {"width": 161}, {"bulk_bytes": 5 * 1024**3},
    {"start": datetime(2026, 11, 20, tzinfo=UTC)},
])
def test_impossible_specs_are_rejected(bad: dict[str, object]):
    with pytest.raises(ValueError, match="CameraSpec"):
        CameraSpec(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("label", ["bodycam", "TWELVE_CHARS", ""])
def test_bad_fat_labels_are_rejected_before_any_work(tmp_path: Path, label: str):
    with pytest.raises(ValueError, match="upper-case"):
        build_fat32_image(tmp_path / "x.img", CameraSpec(), label=label)
    assert not (tmp_path / "x.img").exists()


def test_command_line_builds_a_folder_camera(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main([str(tmp_path / "cam"), "--segments", "1", "--seconds", "1",
                 "--officer", "B2048", "--start", "2026-11-21T08:00:00"]) == 0
    made = tmp_path / "cam/DCIM/100MEDIA/B2048_DSJ9X001_20261121080000_0001.MP4"
    assert capsys.readouterr().out.split() == [str(made)]
    assert made.stat().st_size > 1000


def test_command_line_builds_an_image_and_reports_bad_input(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]):
    assert main([str(tmp_path / "c.img"), "--image", "--segments", "1", "--label", "CAM7"]) == 0
    assert "DCIM/100MEDIA/A1024_DSJ9X001_20261120093000_0001.MP4" in capsys.readouterr().out
    assert main([str(tmp_path / "d.img"), "--image", "--label", "lower"]) == 2
    assert "upper-case" in capsys.readouterr().err
