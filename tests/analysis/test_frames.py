"""The in-process pictures (``analysis.frames``) take what the programs take: the same frame at
each offset, a keyframe decoded alone or not, and a file kept open between calls reads as a
freshly opened one (and a file replaced under the same name is opened again)."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from bodycam_ingest.analysis import frames
from bodycam_ingest.analysis.model import Overlay, Thresholds
from bodycam_ingest.analysis.scan import scan_all
from bodycam_ingest.analysis.seams import THUMB, _filters, keyframe_offsets, release

from . import adversarial as a

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None or not frames.available(),
                                reason="ffmpeg, PyAV or tesserocr not installed")

OVERLAY = Overlay(str(a.OVERLAY["overlay_crop"]), str(a.OVERLAY["overlay_format"]),
                  int(str(a.OVERLAY["overlay_scale"])))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[a.AClip]:
    """One 6 s session of the corpus camera (10 fps, a keyframe every 0.5 s, 3 s segments)."""
    return a.session(tmp_path_factory.mktemp("frames"), datetime(2026, 11, 20, 8), 1, 6.0)


def _ffmpeg_crop(path: Path, at: float, vf: str) -> bytes:
    """What the programs engine gives ``tesseract``: ffmpeg's frame at ``at``, through ``vf``."""
    return subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-ss",
                           f"{at + 0.01:.3f}", "-i", str(path), "-frames:v", "1", "-vf", vf,
                           "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                          check=True, capture_output=True).stdout


def _rows(data: bytes, width: int, height: int, line: int) -> bytes:
    return b"".join(data[r * line:r * line + width] for r in range(height))


def test_each_offset_gives_the_frame_and_pixels_ffmpeg_gives(clips: list[a.AClip]) -> None:
    """Keyframes (0, 1.0, 2.5: decoded alone) and frames between them (0.3, 1.7: decoded from
    the keyframe before), in one call on one open file, in an order that seeks back."""
    path = clips[0].path
    offsets = [0.0, 2.5, 0.3, 1.0, 1.7]
    whole = [("format", "gray")]  # the whole picture: testsrc2 moves in every frame
    for chain in (whole, _filters(OVERLAY)):
        vf = ",".join(f"{n}={args}" if args else n for n, args in chain)
        got = frames.grey_crops(path, offsets, 1, chain)
        assert [len(g) for g in got] == [1] * len(offsets)
        mine = [_rows(*crop) for [crop] in got]
        assert mine == [_ffmpeg_crop(path, at, vf) for at in offsets], vf
        if chain is whole:
            assert len(set(mine)) == len(offsets)  # a different frame at each offset


def test_two_frames_per_offset_are_consecutive_and_ffmpegs(clips: list[a.AClip]) -> None:
    path = clips[0].path
    chain = _filters(OVERLAY)
    vf = ",".join(f"{n}={args}" if args else n for n, args in chain)
    [pair] = frames.grey_crops(path, [1.0], 2, chain)
    assert [_rows(*c) for c in pair] == [_ffmpeg_crop(path, 1.0, vf),
                                         _ffmpeg_crop(path, 1.1, vf)]


def test_a_file_kept_open_reads_as_a_fresh_one_and_a_replaced_file_is_reopened(
        clips: list[a.AClip], tmp_path: Path) -> None:
    w, h = THUMB
    path = tmp_path / "seg.mp4"
    shutil.copyfile(clips[0].path, path)
    frames.release()
    fresh_first = frames.thumbs(path, last=False, width=w, height=h)
    frames.release()
    fresh_last = frames.thumbs(path, last=True, width=w, height=h)
    # kept open: the last frames, then the first ones again, then the last ones again
    assert frames.thumbs(path, last=False, width=w, height=h) == fresh_first
    assert frames.thumbs(path, last=True, width=w, height=h) == fresh_last
    assert len(fresh_first) == len(fresh_last) == 2 and fresh_first != fresh_last

    expected = frames.thumbs(clips[1].path, last=False, width=w, height=h)
    assert frames.thumbs(path, last=False, width=w, height=h) == fresh_first  # kept open
    other = tmp_path / "other.mp4"
    shutil.copyfile(clips[1].path, other)
    os.replace(other, path)  # another file under the same name (the old one is still open)
    assert frames.thumbs(path, last=False, width=w, height=h) == expected != fresh_first
    assert _open_here(path)
    release()  # what the station does after a dock's pictures
    assert not _open_here(path)


def _open_here(path: Path) -> bool:
    fds = Path("/proc/self/fd")
    return any(os.path.realpath(fd) == str(path.resolve()) for fd in fds.iterdir())


def test_keyframe_offsets_are_the_full_scans_positions(clips: list[a.AClip]) -> None:
    th = Thresholds()
    for clip in clips:
        t = clip.facts().timeline
        assert t is not None
        video = t.stream("video")
        assert video is not None
        [scan] = [s for s in scan_all(t, th) if s.info.index == video.index]
        keys = [i for i, k in enumerate(t.packets[video.index].keyframe) if k]
        assert keyframe_offsets(t, th) == [scan.positions[k] for k in keys]
        assert keyframe_offsets(t, th)[:3] == pytest.approx([0.0, 0.5, 1.0])
