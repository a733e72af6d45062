"""Corpus fixtures for the continuity tests: generated once per test session."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest

from bodycam_ingest.analysis.model import (
    DeviceHistory,
    DeviceProfile,
    SeenRecording,
    learn_profile,
)

from . import corpus as c


@pytest.fixture(scope="session")
def continuity_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, c.Case]:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.skip("ffmpeg/ffprobe not installed (scripts/setup.sh installs them)")
    return c.build(tmp_path_factory.mktemp("continuity-corpus"))


@pytest.fixture(scope="session")
def camera_profile(continuity_corpus: dict[str, c.Case]) -> DeviceProfile:
    """What the camera normally writes, learned from its first clean session."""
    timelines = [clip.facts().timeline for clip in continuity_corpus["clean_session"].clips]
    return learn_profile(t for t in timelines if t is not None)


def history_for(case: c.Case) -> DeviceHistory:
    """The device as the catalog knows it before this dock: one earlier dock, maybe files."""
    seen = tuple(SeenRecording(f"earlier-{seq}", seq,
                               c.PREVIOUS_DOCK.replace(tzinfo=None) - timedelta(hours=3 - i),
                               2.0)
                 for i, seq in enumerate(case.history_seqs))
    return DeviceHistory(c.DEVICE, seen, (c.PREVIOUS_DOCK,))
