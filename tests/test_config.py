"""Bad configuration fails at start with the key path, the bad value and what is allowed."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bodycam_ingest.config import matches_glob, parse_config, resolve_config_path
from bodycam_ingest.errors import ConfigError, ExitCode

ROOT = Path(__file__).resolve().parent.parent


def test_the_example_config_is_valid_and_documents_every_key() -> None:
    data = tomllib.loads((ROOT / "config.example.toml").read_text())
    config = parse_config(data, "config.example.toml")
    assert config.station.zone == "Asia/Shanghai"
    assert config.ingest.wipe_after_ingest is False
    assert config.storage.db_url.startswith("sqlite:///")
    text = (ROOT / "config.example.toml").read_text()
    for key in ("max_concurrent_docks", "free_space_reserve", "wipe_after_ingest", "database_url",
                "staging_dir", "store_dir", "watch_folders", "usb_ids", "fs_labels", "recordings",
                "naming", "verify_from_disk", "max_entries", "max_depth"):
        assert key in text, key
    for section in (config.retention, config.jobs, config.jobs.retention_sweep):
        for key in type(section).model_fields:
            assert f"# {key} = " in text or f"[jobs.{key}]" in text, key


def _with(**sections: object) -> dict[str, object]:
    base: dict[str, object] = {"station": {"id": "s1"},
                               "cameras": [{"name": "c", "fs_labels": ["BODYCAM*"]}]}
    base.update(sections)
    return base


@pytest.mark.parametrize(("data", "expected"), [
    (_with(ingest={"max_concurrent_docks": "two"}),
     "ingest.max_concurrent_docks = 'two': Input should be a valid integer"),
    (_with(ingest={"max_concurent_docks": 2}), "ingest.max_concurent_docks is not a known key"),
    (_with(storage={"state_dir": "relative/dir"}), "must be an absolute path"),
    (_with(storage={"free_space_reserve": "lots"}), "is not a size"),
    (_with(station={"id": "s1", "zone": "Mars/Base"}), "is not an IANA time zone"),
    (_with(cameras=[{"name": "any"}]), "needs usb_ids or fs_labels"),
    (_with(cameras=[{"name": "c", "usb_ids": ["12345678"]}]), "is not a USB id"),
    (_with(cameras=[{"name": "c", "fs_labels": ["X"], "recordings": ["../etc/*"]}]),
     "without '..'"),
    (_with(cameras=[{"name": "c", "fs_labels": ["X"], "naming": ["nope"]}]),
     "unknown naming preset 'nope'"),
    ({"cameras": []}, "station is required"),
    (_with(naming={"patterns": [{"name": "p", "regex": "(?P<camera>x)"}]}),
     "unknown named groups ['camera']"),
])
def test_invalid_config_names_key_value_and_fix(data: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "/etc/bodycam/config.toml")
    assert expected in str(info.value)
    assert str(info.value).startswith("Configuration /etc/bodycam/config.toml:")
    assert info.value.exit_code == ExitCode.CONFIG


def test_sizes_accept_units() -> None:
    config = parse_config(_with(storage={"free_space_reserve": "1.5 GiB"}))
    assert config.storage.free_space_reserve == int(1.5 * 2**30)


def test_config_path_precedence() -> None:
    assert resolve_config_path(Path("/a.toml"), {"BODYCAM_CONFIG": "/b.toml"}) == Path("/a.toml")
    assert resolve_config_path(None, {"BODYCAM_CONFIG": "/b.toml"}) == Path("/b.toml")
    assert resolve_config_path(None, {}) == Path("/etc/bodycam/config.toml")


@pytest.mark.parametrize(("path", "ok"), [
    ("DCIM/100MEDIA/A_B_20261120093000_0001.MP4", True),
    ("dcim/100media/x.mp4", True),
    ("DCIM/x.MP4", True),
    ("DCIM/100MEDIA/x.JPG", False),
    ("OTHER/x.MP4", False),
])
def test_recordings_globs_are_caseless_and_span_folders(path: str, ok: bool) -> None:
    assert matches_glob(path, ("DCIM/**/*.MP4",)) is ok
