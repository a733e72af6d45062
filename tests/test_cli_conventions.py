"""CLI conventions: fast --version and help that match typer's, global options on either side."""

from __future__ import annotations

import json
import subprocess
from importlib.metadata import version

from helpers import BODYCAM, StationEnv

from bodycam_ingest.cli.entry import HELP_FILE


def test_the_cached_top_level_help_is_exactly_what_typer_renders_for_every_command() -> None:
    # runs in a fresh interpreter: registering every command module must not leak into others
    fresh = subprocess.run([*BODYCAM[:1], "-c", "from bodycam_ingest.cli.app import full_help;"
                            "import sys; sys.stdout.write(full_help())"],
                           capture_output=True, text=True, check=True)
    assert HELP_FILE.read_text(encoding="utf-8") == fresh.stdout, (
        "cli/help.txt is stale: run python -m bodycam_ingest.cli.entry --write-help")
    assert "╭─ Commands" in fresh.stdout and " list " in fresh.stdout


def test_version_and_help_answer_without_a_station_and_no_command_is_a_usage_error() -> None:
    shown = subprocess.run([*BODYCAM, "--version"], capture_output=True, text=True, check=True)
    assert shown.stdout == f"bodycam {version('bodycam-ingest')}\n"
    helped = subprocess.run([*BODYCAM, "--help"], capture_output=True, text=True, check=True)
    assert helped.stdout == HELP_FILE.read_text(encoding="utf-8")
    bare = subprocess.run(BODYCAM, capture_output=True, text=True, check=False)
    assert bare.returncode == 2 and "Usage: bodycam" in bare.stdout


def test_config_may_be_given_before_or_after_the_command(station: StationEnv) -> None:
    path = str(station.config_path)
    env = {"BODYCAM_CONFIG": "/nonexistent/config.toml"}  # so only the option can point at it
    before = station.run("--config", path, "status", "--json", env=env)
    after = station.run("status", "--json", "--config", path, env=env)
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout) == json.loads(after.stdout)
    missing = station.run("status", env=env)
    assert missing.returncode == 3 and "/nonexistent/config.toml" in missing.stderr


def test_a_subcommand_help_loads_only_that_command_and_a_typo_lists_every_command(
        station: StationEnv) -> None:
    helped = station.run("retention", "--help")
    assert helped.returncode == 0 and "plan" in helped.stdout
    typo = station.run("lsit")
    assert typo.returncode == 2 and "No such command 'lsit'" in typo.stderr
