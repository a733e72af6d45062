"""Run ``bodycam`` with a fault at the N-th catalog write: a test-only wrapper, nothing in the product.

A *write* is the commit of a transaction that changed the catalog (an INSERT, UPDATE or DELETE ran
in it): the unit that either reaches the database or does not. Failing the commit (rather than one
statement inside it) is the harder case: everything the code did before committing (a manifest file
written beside the catalog, a camera file deleted) has happened, the catalog's record of it has not.

    BODYCAM_FAULT=count:FILE   count the writes (FILE holds the number so far)
    BODYCAM_FAULT=raise:N      the N-th write fails as SQLite fails on a full disk (once)
    BODYCAM_FAULT=full:N       the N-th write and every later one fail so (the disk stays full)
    BODYCAM_FAULT=crash:N      the process dies (os._exit(137), a kill -9) just before the N-th write

Used as ``python tests/commit_fault_hook.py ingest CAM`` (the CLI's own main, after ``install``),
or ``install`` then the CLI's main in a forked child (the tests, to pay the imports once).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
CRASH_STATUS = 137


def install(spec: str) -> None:
    """Register the counting (and failing) hooks on every engine made from now on."""
    mode, _, arg = spec.partition(":")
    if mode not in ("count", "raise", "full", "crash"):
        raise ValueError(f"BODYCAM_FAULT={spec!r}: mode is count, raise, full or crash")
    lock = threading.Lock()
    state = {"writes": 0}
    at = int(arg) if mode != "count" else 0

    def wrote(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip()[:7].upper().startswith(_WRITES):
            conn.info["bodycam_fault_wrote"] = True

    def commit(conn: Any) -> None:
        if not conn.info.pop("bodycam_fault_wrote", False):
            return
        with lock:
            state["writes"] += 1
            number = state["writes"]
            if mode == "count":  # kept current: the process may leave through os._exit
                Path(arg).write_text(str(number))
        if number != at and not (mode == "full" and number > at):
            return
        if mode == "crash":
            os._exit(CRASH_STATUS)
        # what SQLAlchemy raises when SQLite's COMMIT cannot write the WAL (SQLITE_FULL)
        raise OperationalError("COMMIT", None, sqlite3.OperationalError("database or disk is full"))

    def rolled_back(conn: Any) -> None:
        conn.info.pop("bodycam_fault_wrote", None)

    event.listen(Engine, "before_cursor_execute", wrote)
    event.listen(Engine, "commit", commit)
    event.listen(Engine, "rollback", rolled_back)


def run_cli(argv: list[str]) -> int:
    """The CLI's main as ``bodycam ARGV`` runs it; its exit status."""
    from bodycam_ingest.cli.entry import main

    sys.argv = ["bodycam", *argv]
    try:
        main()
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":
    install(os.environ["BODYCAM_FAULT"])
    sys.exit(run_cli(sys.argv[1:]))
