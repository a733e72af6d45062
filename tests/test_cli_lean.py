"""The lean front door (cli.lean) and typer's CLI (cli.app) are one CLI: same options, same bytes
on stdout and stderr, same exit codes; rich-free tables are rich's tables, byte for byte."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import StationEnv, start_daemon
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bodycam_ingest.cli import lean, plain

# run in a fresh interpreter, as the executable does; MARK receives the heavy modules it loaded
_RUN = ("import atexit, os, sys\n"
        "heavy = ('typer', 'click', 'rich', 'pydantic', 'sqlalchemy', 'alembic')\n"
        "atexit.register(lambda: open(os.environ['MARK'], 'w').write("
        "' '.join(m for m in heavy if m in sys.modules)))\n"
        "sys.argv = ['bodycam', *sys.argv[1:]]\n"
        "from bodycam_ingest.cli.{module} import main\n"
        "main()\n")


def _run(module: str, args: list[str], env: dict[str, str], mark: Path
         ) -> tuple[subprocess.CompletedProcess[bytes], set[str]]:
    done = subprocess.run([sys.executable, "-c", _RUN.format(module=module), *args],
                          capture_output=True, timeout=120, check=False,
                          env={**os.environ, **env, "MARK": str(mark)})
    return done, set(mark.read_text().split()) if mark.exists() else set()


def _untimed(stderr: bytes) -> bytes:
    """stderr without the log lines' clock (the in-process path logs the viewing)."""
    return re.sub(rb"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", b"", stderr)


def _undated_plan(stdout: bytes) -> bytes:
    plan = json.loads(stdout)
    assert plan["horizon_days"] == 40
    plan.pop("now")
    plan.pop("horizon_end")
    return json.dumps(plan).encode()


def _untimed_audit(stdout: bytes) -> bytes:
    if stdout.startswith(b"{"):
        report = json.loads(stdout)
        assert report.pop("seconds") >= 0 and report.pop("mb_per_s") >= 0
        return json.dumps(report).encode()
    timed = re.compile(rb"(?m)^(.* hashed in )\d+\.\d s \(\d+ MB/s\)")
    assert timed.search(stdout), stdout
    return timed.sub(rb"\1", stdout)


def _click_view(command: Any) -> dict[str, tuple[Any, ...]]:
    """Each parameter of a typer command (click's view of it) as the lean spec describes it:
    spellings, kind, minimum; anything the lean parser does not do (several values, an
    environment variable, a callback, a maximum) is refused here."""
    view: dict[str, tuple[Any, ...]] = {}
    for param in command.params:
        if param.is_eager or param.callback is not None:
            continue  # --help, --version, --install-completion: left to typer (unknown here)
        annotation = str(param.type_descriptor.annotation)
        kind = ("flag" if getattr(param, "is_flag", False) else "int" if "int" in annotation
                else "path" if "Path" in annotation else "str")
        assert (param.nargs, param.multiple, param.envvar) == (1, False, None), param.name
        assert getattr(param, "count", False) is False and getattr(param, "prompt", None) is None
        names = tuple(param.opts) if param.param_type_name == "option" else \
            (param.name.upper(),)
        view[str(param.name)] = (names, tuple(param.secondary_opts), kind, param.min, param.max)
    return view


def _lean_view(spec: lean.Command) -> dict[str, tuple[Any, ...]]:
    negative = {opt.dest: opt.names for opt in spec.options if opt.kind == "flag_off"}
    view = {opt.dest: (opt.names, negative.get(opt.dest, ()), opt.kind, opt.minimum, opt.maximum)
            for opt in spec.options if opt.kind != "flag_off"}
    view.update({arg.dest: (arg.names, (), arg.kind, arg.minimum, arg.maximum)
                 for arg in spec.arguments})
    return view


def test_the_lean_options_are_the_typer_commands_options() -> None:
    import typer.main

    from bodycam_ingest.cli.app import app, register

    group: Any = typer.main.get_command(app)
    assert _lean_view(lean.ROOT) == _click_view(group)
    register("retention_cmds", "custody_cmds")
    group = typer.main.get_command(app)
    for name, spec in lean.COMMANDS.items():
        command = group
        for word in name.split():  # "retention plan": a command of a group
            command = command.commands[word]
        assert _lean_view(spec) == _click_view(command), name
        assert [p.default for p in command.params if p.name == "limit"] in ([], [100])


@pytest.mark.parametrize("argv", [
    ["list"], ["-v", "list", "--officer", "A1024"], ["list", "--config"], ["list", "--limit=5"],
    ["show", "7", "--json"], ["--config=x.toml", "show", "--json", "7"],
    ["retention", "plan", "--json"], ["retention", "plan", "--horizon", "3650", "--json"],
    ["audit"], ["audit", "--no-deadlines", "--json"]])
def test_the_usual_spellings_are_parsed_here(argv: list[str]) -> None:
    assert (lean.parse(argv) is None) == (argv == ["list", "--config"])


@pytest.mark.parametrize("argv", [
    ["list", "--help"], ["list", "--limit", "0"], ["list", "--limit", "05"],
    ["list", "--limit", "1e3"], ["list", "--json", "--json"], ["list", "--lim", "3"],
    ["list", "--device", "-x"], ["list", "--device", ""], ["list", "--json=1"], ["list", "x"],
    ["show"], ["show", "1", "2"], ["show", "-1"], ["show", "--", "1"], ["-vc", "x", "list"],
    ["--version", "list"], ["status"], ["lsit"], [], ["show", "1", "--no-json"],
    ["retention", "plan"], ["retention", "plan", "--json", "--horizon", "3651"], ["retention"],
    ["retention", "run", "--json"], ["plan", "--json"], ["audit", "--deadlines", "--no-deadlines"],
    ["audit", "1"]])
def test_anything_unusual_is_left_to_typer(argv: list[str]) -> None:
    assert lean.parse(argv) is None


@pytest.fixture
def ingested(station: StationEnv, folder_camera: Any) -> StationEnv:
    station.run("ingest", str(folder_camera.root), check=True)
    return station


def test_lean_and_typer_print_the_same_bytes_and_exit_the_same(ingested: StationEnv,
                                                               tmp_path: Path) -> None:
    station = ingested
    saved = tmp_path / "saved-state"
    shutil.copytree(station.root / "state", saved)
    env = {"BODYCAM_CONFIG": str(station.config_path)}
    cases: list[tuple[list[str], dict[str, str]]] = [
        (["list"], {}), (["list", "--json"], {}), (["list", "--limit", "2"], {}),
        (["--config", str(station.config_path), "list", "--officer", "A1024", "--limit=1"],
         {"BODYCAM_CONFIG": "/nonexistent.toml"}),
        (["list", "--since", "not a date"], {}), (["list", "--state", "bogus"], {}),
        (["show", "2"], {}), (["show", "--json", "2"], {}), (["show", "999"], {}),
        (["list"], {"BODYCAM_CONFIG": str(tmp_path / "missing.toml")}),
        (["list", "--limit", "0"], {}),  # a usage error: typer's, on both sides
        (["retention", "plan", "--json", "--horizon", "40"], {}),
        (["audit"], {}), (["audit", "--no-deadlines", "--json"], {}),
    ]
    lean_ran = 0
    for args, extra in cases:
        results = []
        for module in ("entry", "app"):
            shutil.rmtree(station.root / "state")
            shutil.copytree(saved, station.root / "state")  # `show` records each viewing
            results.append(_run(module, args, {**env, **extra}, tmp_path / f"mark-{module}"))
        (mine, loaded), (typers, _) = results
        if args[0] == "retention":  # the plan says when it was made: all else is the same
            mine.stdout, typers.stdout = (_undated_plan(r.stdout) for r in (mine, typers))
        if args[0] == "audit":  # and the audit how long it took
            mine.stdout, typers.stdout = (_untimed_audit(r.stdout) for r in (mine, typers))
        assert (mine.returncode, mine.stdout, _untimed(mine.stderr)) == \
            (typers.returncode, typers.stdout, _untimed(typers.stderr)), args
        assert b"Traceback" not in mine.stderr
        if lean.parse(args) is not None:
            lean_ran += 1
            assert not loaded & {"typer", "click", "rich"}, (args, loaded)
    assert lean_ran == len(cases) - 1


def test_through_the_daemon_list_and_show_load_no_typer_rich_pydantic_or_sqlalchemy(
        ingested: StationEnv, tmp_path: Path) -> None:
    station = ingested  # its config names the daemon's socket (helpers.write_config)
    daemon, _log = start_daemon(station)
    try:
        env = {"BODYCAM_CONFIG": str(station.config_path)}
        for args in (["list"], ["show", "1"], ["list", "--json", "--limit", "1"]):
            done, loaded = _run("entry", args, env, tmp_path / "mark")
            assert done.returncode == 0, done.stderr
            assert loaded == set(), (args, loaded)
        table = _run("entry", ["list"], env, tmp_path / "mark")[0].stdout.decode()
        assert "A1024" in table and table.startswith(" ") and "┏" in table
        listed = json.loads(_run("entry", ["list", "--json"], env, tmp_path / "mark")[0].stdout)
        assert [r["id"] for r in listed] == [3, 2, 1]
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)


_WORD = st.text(alphabet="abcXYZ019/._-…", min_size=1, max_size=30)
_CELL = st.text(alphabet="abcXYZ019 /._-…", max_size=12) | \
    st.text(alphabet="abcdef0123/", min_size=100, max_size=400) | \
    st.lists(_WORD, min_size=2, max_size=30).map(" ".join) | \
    st.lists(_WORD | st.text(alphabet="abc", min_size=60, max_size=200), min_size=1,
             max_size=6).map("  ".join).map(lambda text: text + " ")


@settings(max_examples=300, deadline=None)
@given(header=st.booleans(), data=st.data(),
       columns=st.lists(st.text(alphabet="abc xyz", min_size=1, max_size=8), min_size=1,
                        max_size=4),
       title=st.none() | st.text(alphabet="Recordings (0123 of)", max_size=40))
def test_a_plain_table_is_what_rich_prints_to_a_pipe(header: bool, data: st.DataObject,
                                                     columns: list[str], title: str | None
                                                     ) -> None:
    kinds = data.draw(st.lists(st.sampled_from(["no_wrap", "fold", "wrap"]),
                               min_size=len(columns), max_size=len(columns)))
    rows = data.draw(st.lists(st.lists(_CELL, min_size=len(columns), max_size=len(columns)),
                              max_size=5))
    table = Table(title=Text(title) if title is not None else None, show_header=header)
    for column, kind in zip(columns, kinds, strict=True):
        if kind == "wrap":
            table.add_column(column)
        else:
            table.add_column(column, overflow="fold", no_wrap=kind == "no_wrap")
    for row in rows:
        table.add_row(*map(Text, row))
    written = io.StringIO()
    Console(file=written, width=plain.WIDTH).print(table)
    mine = plain.table(title, columns, rows, header=header, kinds=kinds)
    assert mine is None or mine == written.getvalue()


def test_a_typical_listing_is_written_without_rich() -> None:
    rows: list[dict[str, Any]] = [{"id": n, "name_officer": "A1024", "name_device": "DSJ9X001",
             "name_start_local": "2026-11-20T09:30:00", "name_seq": n, "duration_s": 1.0,
             "size": 1234567, "status": "ok", "sha256": "ab" * 32,
             "retention": {"keep": "std"}} for n in range(100)]
    keep = {int(r["id"]): "std" for r in rows}
    cells = [[plain.safe(v) for v in lean.recording_cells(r, keep)] for r in rows]
    mine = plain.table("Recordings (100 of 5000)", (*lean.RECORDING_COLUMNS, "keep"), cells)
    from bodycam_ingest.cli import render

    written = io.StringIO()
    Console(file=written, width=plain.WIDTH).print(render.recordings_table(rows, "Recordings "
                                                                           "(100 of 5000)", keep))
    assert mine is not None and mine == written.getvalue()
