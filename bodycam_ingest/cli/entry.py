"""The ``bodycam`` executable's first step: answer ``--version`` and the top-level help without
importing typer, rich or any command module (a person runs dozens of commands a day), let
``cli.lean`` run ``list`` and ``show`` without typer when their options are certain, then hand
over to the real CLI (``cli.app``).

``help.txt`` is ``bodycam --help`` as typer renders it (``cli.app.full_help``); a test regenerates
it and fails when it is stale (`python -m bodycam_ingest.cli.entry --write-help` rewrites it).
"""

from __future__ import annotations

import sys
from pathlib import Path

HELP_FILE = Path(__file__).with_name("help.txt")
USAGE = 2


def version() -> str:
    from importlib.metadata import version as installed

    return installed("bodycam-ingest")


def main() -> None:
    argv = sys.argv[1:]
    if argv == ["--version"]:
        sys.stdout.write(f"bodycam {version()}\n")
        return
    if argv in ([], ["--help"]) and HELP_FILE.exists():
        sys.stdout.write(HELP_FILE.read_text(encoding="utf-8"))
        if not argv:
            sys.exit(USAGE)  # a missing command is a usage error, as click says
        return
    from bodycam_ingest.cli import lean

    lean.run(argv)  # list and show, in the usual spellings, end here: no typer, no rich
    from bodycam_ingest.cli.app import main as run

    run()


if __name__ == "__main__":  # maintainers: regenerate help.txt after changing commands
    if sys.argv[1:] == ["--write-help"]:
        from bodycam_ingest.cli.app import full_help

        HELP_FILE.write_text(full_help(), encoding="utf-8")
    else:
        main()
