"""Four-eyes requests as real OS users through the daemon's socket (issue 8): a custodian asks, a
supervisor approves in their own session; nobody approves their own request, an officer approves
nothing, root in-process is not a person; what was shown is what is done, and a request whose
object changed after it was shown is refused."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from access_support import PREFIX, REPO, add_account, ensure_user, running_daemon
from access_support import run_as as _run_as
from conftest_media import FolderCamera
from helpers import StationEnv

BAGIT = Path(sys.executable).with_name("bagit.py")


def run_as(user: str, station: StationEnv, *args: str) -> subprocess.CompletedProcess[str]:
    """``bodycam ARGS`` as OS user ``user``, running this checkout's code. The user is made
    again if missing: another test session on the machine removes ``bct-*`` users at its end."""
    ensure_user(user.removeprefix(f"{PREFIX}-"))
    return _run_as(user, station, *args, env={"PYTHONPATH": str(REPO)})


def _sql(station: StationEnv, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(station.db, timeout=30) as db:
        return db.execute(statement, params).fetchall()


def _ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return json.loads(result.stdout) if result.stdout.lstrip().startswith(("{", "[")) else None


def _refused(result: subprocess.CompletedProcess[str], code: int = 5) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


def _people(station: StationEnv) -> tuple[str, str, str]:
    clerk, chief, officer = (ensure_user(n).pw_name for n in ("clerk", "chief", "officer-a"))
    add_account(station, "li.clerk", ["custodian"], os_user=clerk)
    add_account(station, "wang.chief", ["supervisor"], os_user=chief)
    add_account(station, "zhang.a1024", ["officer"], os_user=officer, officer_number="A1024")
    return clerk, chief, officer


def test_an_export_needs_a_second_person_and_delivers_exactly_what_was_shown(
        shared_station: StationEnv, folder_camera: FolderCamera) -> None:
    clerk, chief, officer = _people(shared_station)
    shared_station.run("ingest", str(folder_camera.root), check=True)
    shared_station.run("tag", "1", "2", "--case", "C-7", check=True)
    dest = shared_station.root / "fetched"
    with running_daemon(shared_station):
        made = _ok(run_as(clerk, shared_station, "export", "--case", "C-7", "--recipient",
                          "court", "--recipient-name", "天河区人民法院", "--reason",
                          "court order 7", "--json"))["request"]
        ident, digest = str(made["id"]), made["digest"]
        assert made["state"] == "pending" and made["requested_by"] == "li.clerk"
        assert [r["id"] for r in made["preview"]["recordings"]] == [1, 2]

        own = _refused(run_as(clerk, shared_station, "requests", "approve", ident, "--digest",
                              digest))
        assert "li.clerk made request" in own and "cannot approve it" in own
        by_officer = _refused(run_as(officer, shared_station, "requests", "approve", ident,
                                     "--digest", digest))
        assert "zhang.a1024" in by_officer and "supervisor" in by_officer
        by_root = _refused(shared_station.run("requests", "approve", ident, "--digest", digest))
        assert "os:root is the station's own OS account, not a person" in by_root
        fetch_early = _refused(run_as(clerk, shared_station, "requests", "fetch", ident, "--to",
                                      str(dest)))
        assert "pending" in fetch_early

        shown = _ok(run_as(chief, shared_station, "requests", "show", ident, "--json"))
        assert shown["digest"] == digest and shown["preview"] == made["preview"]
        text = run_as(chief, shared_station, "requests", "show", ident).stdout
        assert f"digest: {digest}" in text and '"kind":"export"' in text
        wrong = _refused(run_as(chief, shared_station, "requests", "approve", ident, "--digest",
                                "0" * 64))
        assert f"has digest {digest}" in wrong
        done = _ok(run_as(chief, shared_station, "requests", "approve", ident, "--digest",
                          digest, "--json"))
        assert done["request"]["state"] == "done"
        assert done["request"]["decided_by"] == "wang.chief"

        dest.mkdir()
        os.chown(dest, ensure_user("clerk").pw_uid, -1)
        fetched = run_as(clerk, shared_station, "requests", "fetch", ident, "--to", str(dest))
        assert fetched.returncode == 0, fetched.stderr
        again = _refused(run_as(clerk, shared_station, "requests", "approve", ident, "--digest",
                                digest))
        assert "is done" in again

    assert subprocess.run(["sha256sum", "-c", "--strict", "manifest-sha256.txt"], cwd=dest,
                          capture_output=True, check=False).returncode == 0
    bagit = subprocess.run([sys.executable, str(BAGIT), "--validate", str(dest)],
                           capture_output=True, text=True, check=False)
    assert bagit.returncode == 0, bagit.stderr
    facts = json.loads((dest / "data" / "recordings.json").read_text())
    assert [(f["id"], f["sha256"]) for f in facts] == [
        (r["id"], r["sha256"]) for r in made["preview"]["recordings"]]
    assert all(p.stat().st_uid == ensure_user("clerk").pw_uid for p in dest.rglob("*"))
    exported = _sql(shared_station, "SELECT recording_id, actor, approved_by FROM events "
                    "WHERE action = 'recording_exported' ORDER BY recording_id")
    assert exported == [(1, "li.clerk", "wang.chief"), (2, "li.clerk", "wang.chief")]
    trail = _sql(shared_station, "SELECT action, actor FROM events WHERE subject = ? "
                 "ORDER BY seq", f"request {ident}")
    assert [a for a, _ in trail] == ["request_created", "request_approval_refused",
                                     "request_approval_refused", "request_approval_refused",
                                     "request_approval_refused", "request_approved",
                                     "request_done", "export_fetched",
                                     "request_approval_refused"]
    assert trail[0][1] == "li.clerk" and trail[5][1] == "wang.chief"


def test_a_request_whose_object_changed_after_it_was_shown_is_refused(
        shared_station: StationEnv, folder_camera: FolderCamera) -> None:
    clerk, chief, _ = _people(shared_station)
    shared_station.run("ingest", str(folder_camera.root), check=True)
    shared_station.run("retain", "1", "--tier", "evidence", "--reason", "case C-7", check=True)
    with running_daemon(shared_station):
        made = _ok(run_as(clerk, shared_station, "retain", "1", "--tier", "standard",
                          "--reason", "case C-7 dropped", "--json"))["request"]
        assert made["kind"] == "tier_lower"
        shown = _ok(run_as(chief, shared_station, "requests", "show", str(made["id"]),
                           "--json"))
        # after it was shown, the recording's label changes: approving the old preview is refused
        shared_station.run("tag", "1", "--case", "C-8", check=True)
        changed = _refused(run_as(chief, shared_station, "requests", "approve",
                                  str(made["id"]), "--digest", shown["digest"]))
        assert "changed since it was shown" in changed
        assert "targets[0].case_number: null -> \"C-8\"" in changed
        assert _sql(shared_station, "SELECT tier FROM recordings WHERE id = 1") == [
            ("evidence",)]

        no_reason = _refused(run_as(chief, shared_station, "requests", "reject",
                                    str(made["id"])))
        assert "needs --reason" in no_reason
        _ok(run_as(chief, shared_station, "requests", "reject", str(made["id"]), "--reason",
                   "the case changed; ask again"))
        assert _sql(shared_station, "SELECT state, decided_by, decision_reason FROM requests "
                    "WHERE id = ?", made["id"]) == [
            ("rejected", "wang.chief", "the case changed; ask again")]

        # asked again and approved: the tier is lowered, requester and approver recorded
        again = _ok(run_as(clerk, shared_station, "retain", "1", "--tier", "standard",
                           "--reason", "case C-7 dropped", "--json"))["request"]
        _ok(run_as(chief, shared_station, "requests", "approve", str(again["id"]), "--digest",
                   again["digest"], "--json"))
        assert _sql(shared_station, "SELECT tier FROM recordings WHERE id = 1") == [
            ("standard",)]
        assert _sql(shared_station, "SELECT actor, approved_by FROM retention_tier_changes "
                    "ORDER BY id DESC LIMIT 1") == [("li.clerk", "wang.chief")]

        # a hold released by someone other than its owner is a request too
        hold = _ok(run_as(clerk, shared_station, "hold", "add", "2", "--reason", "court order",
                          "--owner", "legal-section", "--json"))["holds"][0]
        asked = _ok(run_as(clerk, shared_station, "hold", "release", str(hold["id"]),
                           "--reason", "order lifted", "--json"))["request"]
        assert asked["kind"] == "hold_release" and asked["preview"]["hold"]["active"] is True
        assert _sql(shared_station, "SELECT released_at FROM retention_holds") == [(None,)]
        _ok(run_as(chief, shared_station, "requests", "approve", str(asked["id"]), "--digest",
                   asked["digest"], "--json"))
    assert _sql(shared_station, "SELECT released_by, release_approved_by, release_reason "
                "FROM retention_holds") == [("li.clerk", "wang.chief", "order lifted")]
    states = _sql(shared_station, "SELECT kind, state FROM requests ORDER BY id")
    assert states == [("tier_lower", "rejected"), ("tier_lower", "done"),
                      ("hold_release", "done")]
