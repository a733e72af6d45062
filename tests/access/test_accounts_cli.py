"""``bodycam users`` end to end: root bootstraps the first admin in-process, then people work
through the daemon's socket as real OS users (issue 8)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess

from access_support import RUNUSER, ensure_user, run_as, running_daemon
from helpers import BODYCAM, StationEnv

# the tree under test (a git worktree runs with PYTHONPATH set), for the OS users' commands too
CODE = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}


def _as(user: str, station: StationEnv, *args: str,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_as(user, station, *args, env={**CODE, **(env or {})})


def _run_as_with_stdin(user: str, station: StationEnv, text: str,
                       *args: str) -> subprocess.CompletedProcess[str]:
    env = ["PATH=/usr/bin:/bin", f"BODYCAM_CONFIG={station.config_path}",
           "PYTHONDONTWRITEBYTECODE=1", "LOGNAME=boss", "USER=boss",
           *(f"{k}={v}" for k, v in CODE.items())]
    return subprocess.run([RUNUSER, "-u", user, "--", "env", *env, *BODYCAM, *args], input=text,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={"PATH": "/usr/bin:/bin"}, cwd="/")


def _account_entries(station: StationEnv) -> list[tuple[str, str, str]]:
    with sqlite3.connect(station.db, timeout=30) as db:
        return db.execute("SELECT actor, action, subject FROM events WHERE action LIKE "
                          "'account_%' ORDER BY seq").fetchall()


def test_root_bootstraps_an_admin_who_then_manages_accounts_through_the_socket(
        shared_station: StationEnv) -> None:
    admin_os, clerk_os = ensure_user("cli-admin").pw_name, ensure_user("cli-clerk").pw_name
    boot = shared_station.run("users", "add", "boss", "--name", "Chief Boss", "--roles", "admin",
                              "--os-user", admin_os, "--json", check=True)
    assert json.loads(boot.stdout)["created_by"] == "os:root"
    with running_daemon(shared_station):
        me = _as(admin_os, shared_station, "whoami")
        added = _as(admin_os, shared_station, "users", "add", "li.clerk", "--name", "Li Clerk",
                       "--roles", "custodian", "--officer-number", "C0042", "--unit", "Evidence",
                       "--os-user", clerk_os, "--json")
        refused = _as(clerk_os, shared_station, "users", "list",
                         env={"LOGNAME": "boss", "USER": "boss"})
        own = _run_as_with_stdin(clerk_os, shared_station, "clerk's own password\n",
                                 "users", "passwd", "--stdin", "--json")
        others = _run_as_with_stdin(clerk_os, shared_station, "a password for boss\n",
                                    "users", "passwd", "boss", "--stdin")
        last = _as(admin_os, shared_station, "users", "disable", "boss", "--reason", "oops")
        disabled = _as(admin_os, shared_station, "users", "disable", "li.clerk", "--reason",
                          "left the unit")
        gone = _as(clerk_os, shared_station, "whoami")
        listed = _as(admin_os, shared_station, "users", "list")

    assert me.returncode == 0, me.stderr
    assert "boss" in me.stdout and "Chief Boss" in me.stdout and "admin" in me.stdout
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["os_users"] == [clerk_os]
    assert refused.returncode == 5
    assert ("li.clerk (roles: custodian) may not do users.list; it needs the role admin or "
            "auditor") in " ".join(refused.stderr.split())
    assert own.returncode == 0, own.stderr
    assert json.loads(own.stdout)["login"] == "li.clerk" and json.loads(own.stdout)["password_set"]
    assert others.returncode == 5 and "users.manage" in others.stderr
    assert last.returncode == 5 and "boss is the last enabled admin" in " ".join(
        last.stderr.split())
    assert disabled.returncode == 0, disabled.stderr
    assert gone.returncode == 5 and "not mapped to an enabled station account" in " ".join(
        gone.stderr.split())
    assert "li.clerk" in listed.stdout and "C0042" in listed.stdout
    assert _account_entries(shared_station) == [
        ("os:root", "account_created", "boss"),
        ("boss", "account_created", "li.clerk"),
        ("li.clerk", "account_password_set", "li.clerk"),
        ("boss", "account_disabled", "li.clerk")]
