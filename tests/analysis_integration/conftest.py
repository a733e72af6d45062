"""Fixtures for the end-to-end continuity tests: forged and damaged recordings from the corpus
generator (tests/analysis/corpus.py), made once per session with ffmpeg."""

from __future__ import annotations

import shutil
from datetime import datetime

import pytest
from analysis import corpus
from analysis_support import CorpusFiles


@pytest.fixture(scope="session")
def corpus_files(tmp_path_factory: pytest.TempPathFactory) -> CorpusFiles:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.skip("ffmpeg/ffprobe not installed (scripts/setup.sh installs them)")
    d = tmp_path_factory.mktemp("analysis-corpus")
    (d / "cut").mkdir()
    src = corpus.camera_clip(d, datetime(2026, 11, 20, 10, 10), 20, 4.0, tone=500)
    cut = corpus._forge(src, d / "cut" / src.path.name,
                        f"file '{src.path}'\noutpoint 1.2\nduration 2.5\n"
                        f"file '{src.path}'\ninpoint 2.5\n")
    (d / "damaged").mkdir()
    whole = corpus.camera_clip(d, datetime(2026, 11, 20, 10, 40), 50, 3.0, tone=800)
    size = whole.path.stat().st_size
    damaged = corpus._cut_end(whole, d / "damaged" / whole.path.name, size - 300)
    return CorpusFiles(cut=cut.path, cut_at=1.2, truncated=damaged.path)
