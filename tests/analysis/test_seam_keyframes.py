"""A seam is let through on its keyframes only when its pictures continue: the frame-by-frame
check would pass it too (on these recordings), a swapped-in scene is still judged frame by
frame and found, both engines alike; the keyframes are the file's last two, decoded alone, and
one kept from the overlay's read gives the pixels a fresh decode gives."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import av
import pytest

from bodycam_ingest.analysis import frames
from bodycam_ingest.analysis.model import FindingKind, Thresholds
from bodycam_ingest.analysis.seams import (
    KEYFRAMES_CONTINUE,
    THUMB,
    _filters,
    keyframe_offsets,
    keyframes_continue,
    scene_check,
    seam_thumbs,
)

from . import adversarial as a
from .test_frames import OVERLAY

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None or not frames.available(),
                                reason="ffmpeg, PyAV or tesserocr not installed")
TH = Thresholds()
ENGINES = ("in-process", "programs")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[a.AClip], list[a.AClip]]:
    """A moving scene in two 3 s segments, and a static one (the scene swapped in)."""
    d = tmp_path_factory.mktemp("seams")
    return (a.session(d, datetime(2026, 11, 20, 8), 1, 6.0),
            a.session(d, datetime(2026, 11, 20, 6), 11, 6.0, scene="color"))


def _thumb_of(frame: av.VideoFrame) -> bytes:
    return frames._thumb(frame, *THUMB)


def test_keyframes_continue_compares_one_gop_across_the_seam_with_the_gop_before() -> None:
    flat = bytes([100]) * 8
    assert keyframes_continue(flat, flat, flat)
    assert keyframes_continue(bytes([90]) * 8, flat, bytes([110]) * 8)  # 10 across, 10 before
    assert keyframes_continue(bytes([90]) * 8, flat, bytes([115]) * 8)  # 15 <= 1.5 x 10
    assert not keyframes_continue(bytes([90]) * 8, flat, bytes([116]) * 8)
    assert not keyframes_continue(flat, flat, bytes([102]) * 8)  # a still picture: floor 1


def test_the_keyframe_ratio_is_a_threshold_of_the_config_and_0_turns_the_shortcut_off() -> None:
    from bodycam_ingest.analysis.settings import ThresholdsConfig

    assert ThresholdsConfig().to_thresholds().seam_keyframe_ratio == KEYFRAMES_CONTINUE == 1.5
    assert ThresholdsConfig(seam_keyframe_ratio=0).to_thresholds().seam_keyframe_ratio == 0
    assert "seam_keyframe_ratio" in ThresholdsConfig().as_json()  # recorded with each run
    with pytest.raises(ValueError, match="seam_keyframe_ratio"):
        ThresholdsConfig(seam_keyframe_ratio=-1)
    flat = bytes([100]) * 8
    assert keyframes_continue(flat, flat, flat)
    assert not keyframes_continue(flat, flat, flat, 0.0)  # off: every seam judged by frames


@pytest.mark.parametrize("engine", ENGINES)
def test_a_continuing_seam_is_let_through_and_the_frames_would_pass_it_too(
        engine: str, clips: tuple[list[a.AClip], list[a.AClip]]) -> None:
    first, then = clips[0]
    assert seam_thumbs(first.path, then.path, engine=engine) is None  # let through
    thumbs = seam_thumbs(first.path, then.path, engine=engine, keyframe_ratio=0.0)  # by frames
    assert thumbs is not None
    assert scene_check(first.facts(), then.facts(), thumbs, TH) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_swapped_in_scene_is_judged_frame_by_frame_and_found(
        engine: str, clips: tuple[list[a.AClip], list[a.AClip]]) -> None:
    first, swapped = clips[0][0], clips[1][1]
    thumbs = seam_thumbs(first.path, swapped.path, engine=engine)
    assert thumbs is not None
    [found] = scene_check(first.facts(), swapped.facts(), thumbs, TH)
    assert found.kind == FindingKind.PICTURE_DISCONTINUITY


def test_the_last_keyframes_are_the_files_last_two_and_a_kept_one_reads_as_fresh(
        clips: tuple[list[a.AClip], list[a.AClip]]) -> None:
    path: Path = clips[0][0].path
    t = clips[0][0].facts().timeline
    assert t is not None
    keys = keyframe_offsets(t, TH)
    with av.open(str(path)) as container:  # every frame decoded in order
        decoded = [f for f in container.decode(video=0) if f.key_frame]
    expected = [_thumb_of(f) for f in decoded[-2:]]
    frames.release()
    assert frames.last_keyframes(path, width=THUMB[0], height=THUMB[1]) == expected
    frames.release()
    frames.grey_crops(path, [keys[-1]], 1, _filters(OVERLAY))  # the overlay's read keeps it
    assert frames.last_keyframes(path, width=THUMB[0], height=THUMB[1]) == expected
    frames.release()
