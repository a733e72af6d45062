"""Shared fixtures for the custody tests: a real, small camera clip made by ffmpeg."""

from __future__ import annotations

import shutil
import subprocess

import pytest


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Bytes of a 1 s, 160x120, 5 fps MP4 with a tone, like a tiny body-camera recording."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    out = tmp_path_factory.mktemp("media") / "clip.mp4"
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-nostdin",
            "-f", "lavfi", "-i", "testsrc=size=160x120:rate=5:duration=1",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
            "-c:v", "mpeg4", "-c:a", "aac", "-shortest", str(out),
        ],
        check=True,
    )  # fmt: skip
    data = out.read_bytes()
    out.unlink()
    return data
