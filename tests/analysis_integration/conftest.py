"""Fixtures for the end-to-end continuity tests: forged and damaged recordings from the corpus
generator (tests/analysis/corpus.py), made once per session with ffmpeg."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

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


@pytest.fixture(scope="session")
def forensic_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """A few of issue 13's careful forgeries (tests/analysis/adversarial.py), made once."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed (scripts/setup.sh installs it)")
    from analysis import adversarial as a

    d = tmp_path_factory.mktemp("forensics")
    s = a.session(d / "s1", datetime(2026, 11, 20, 10), 100, 8.0, hue=30)
    cut = a.remux(s[1], d / "cut" / s[1].path.name,
                  [(s[1].path, None, 1.0), (s[1].path, 2.0, None)], seconds=2.0)
    old = a.session(d / "old", datetime(2026, 11, 20, 7), 90, 2.6, hue=190)
    reused = a.renamed(old[0], d / "reused", datetime(2026, 11, 20, 11, 30), 190)
    shifted = a.renamed(a.session(d / "s12", datetime(2026, 11, 20, 12, 30), 230, 2.6)[0],
                        d / "shifted", datetime(2026, 11, 20, 12, 10), 230)
    return {"gop_cut": [s[0].path, cut.path, s[2].path], "old": [old[0].path],
            "reused": [reused.path], "shifted": [shifted.path]}
