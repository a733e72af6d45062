"""`bodycam daemon` refuses to start without a usable station key (one sentence, exit 5)."""

from __future__ import annotations

from pathlib import Path

from helpers import StationEnv, write_config


def test_the_daemon_refuses_a_key_file_readable_by_others(station: StationEnv) -> None:
    key = station.root / "state" / "keys" / "station.key"
    key.chmod(0o644)
    result = station.run("daemon", timeout=60)
    assert result.returncode == 5
    assert f"chmod 600 {key}" in result.stderr.replace("\n", "")


def test_the_daemon_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    root = tmp_path / "station"
    root.mkdir()
    env = StationEnv(root, write_config(root, station_key=False))
    result = env.run("daemon", timeout=60)
    assert result.returncode == 5
    assert "no station key" in result.stderr and "bodycam keys init" in result.stderr
