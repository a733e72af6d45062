"""Shortening a tier in the configuration deletes nothing until an approved plan is in force,
and the `bodycam retention` commands: plan, run, approve, tombstones, their --json and exit codes.

Recordings are docked in-process on an injected clock set in the past; the CLI then runs with
the real clock, so a subprocess sees recordings of the right age without a clock of its own.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from access_support import SUPERVISOR, approve_request
from sqlalchemy import select
from sweep_support import (
    DAY,
    Clock,
    corrupt,
    dock,
    make_env,
    open_station,
    run_json,
    set_retention,
    stored_path,
)

from bodycam_ingest.catalog.models import Event, Recording
from bodycam_ingest.catalog.retention_models import PolicyApproval
from bodycam_ingest.retention.service import run_sweep


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_shortening_a_tier_deletes_nothing_until_an_approved_plan(tmp_path: Path) -> None:
    env = make_env(tmp_path / "station", "standard_days = 1000")
    real = _now()
    clock = Clock(real - 900 * DAY)
    station = open_station(env, clock)
    try:
        ids = dock(station, tmp_path / "cams", segments=2)
        run_sweep(station, trigger="test")  # records the configured 1000 days as the baseline
    finally:
        station.close()

    set_retention(env, "standard_days = 730")
    station = open_station(env, clock)
    try:  # sweeps from before the 730-day date to now: the shortening is not in force
        for _ in range(0, 900, 30):
            clock.advance(30 * DAY)
            if clock.now > real:
                break
            report = run_sweep(station, trigger="test")
            assert report.newly_due == 0 and not report.deleted
            assert report.pending_policy == ("standard: 1000 days -> 730 days",)
    finally:
        station.close()

    plan = run_json(env, "retention", "plan")
    pending = plan["pending_policy_change"]
    assert pending["shortened"] == ["standard: 1000 days -> 730 days"]
    assert [i["recording_id"] for i in pending["impacted"]] == ids
    assert all(i["now"]["kind"] == "keep" and i["after"]["kind"] == "due"
               for i in pending["impacted"])
    assert plan["delete_now"] == [] and plan["upcoming"] == []
    assert pending["plan_digest"] in pending["approve_command"]
    text = env.run("retention", "plan")
    assert text.returncode == 0
    assert "Pending policy change" in text.stdout and pending["plan_digest"] in text.stdout

    ran = run_json(env, "retention", "run")
    assert ran["newly_due"] == 0 and ran["deleted"] == []

    refused = env.run("retention", "approve", "--plan", pending["plan_digest"])
    assert refused.returncode == 5 and "--reason" in refused.stderr
    wrong = env.run("retention", "approve", "--plan", "0" * 64, "--reason", "new agency rule")
    assert wrong.returncode == 5
    assert "the plan changed since it was shown" in wrong.stderr
    assert "bodycam retention plan" in wrong.stderr
    asked = run_json(env, "retention", "approve", "--plan", pending["plan_digest"], "--reason",
                     "new agency rule")["request"]
    assert (asked["kind"], asked["preview"]["plan_digest"]) == ("retention_policy",
                                                                pending["plan_digest"])
    assert [i["recording_id"] for i in asked["preview"]["impacted"]] == ids
    assert run_json(env, "retention", "run")["pending_policy"] != []  # not in force yet
    root = env.run("requests", "approve", str(asked["id"]), "--digest", asked["digest"])
    assert root.returncode == 5 and "not a person" in " ".join(root.stderr.split())
    ok = approve_request(env, asked["id"])
    assert ok["request"]["state"] == "done"  # type: ignore[index]

    ran = run_json(env, "retention", "run")  # due now; the grace period starts
    assert ran["newly_due"] == len(ids) and ran["deleted"] == []
    assert ran["pending_policy"] == []
    station = open_station(env, Clock(real + 6 * DAY))
    try:
        assert not run_sweep(station, trigger="test").deleted  # still in grace
        station.clock = Clock(_now() + 7 * DAY + DAY)
        assert run_sweep(station, trigger="test").deleted == ids
        with station.catalog.reading() as session:
            approvals = list(session.scalars(select(PolicyApproval).order_by(PolicyApproval.id)))
            logged = session.scalar(select(Event).where(
                Event.action == "retention_policy_approved"))
    finally:
        station.close()
    assert [a.approved_by for a in approvals] == [None, SUPERVISOR]
    assert approvals[-1].plan_digest == pending["plan_digest"]
    assert approvals[-1].actor == "os:root"
    assert logged is not None and logged.approved_by == SUPERVISOR
    assert logged.reason == "new agency rule"


def test_retention_commands_report_and_exit_as_documented(tmp_path: Path) -> None:
    env = make_env(tmp_path / "station")
    real = _now()
    clock = Clock(real - 800 * DAY)
    station = open_station(env, clock)
    try:
        first, second, broken = dock(station, tmp_path / "cams", segments=3)
        [young] = dock(station, tmp_path / "cams", device="DSJ9X002")  # clock still 800 days ago
        clock.now = real - 8 * DAY  # first sweep 8 days ago: all three past their period
        report = run_sweep(station, trigger="test")
        assert report.newly_due == 4 and not report.deleted
        with station.catalog.session() as session:  # the young one was docked 10 days ago
            row = session.get_one(Recording, young)
            row.ingested_at = real - 10 * DAY
            row.due_since = None
        corrupt(stored_path(station, broken))
    finally:
        station.close()

    plan = run_json(env, "retention", "plan", "--horizon", "730")
    assert [d["recording_id"] for d in plan["delete_now"]] == [first, second, broken]
    # not verified since ingest: the run re-hashes each copy before it deletes it
    assert {(d["kind"], d["why"]) for d in plan["delete_now"]} == {("keep", "fixity_unknown")}
    assert all("standard: 730 days" in d["rule"] for d in plan["delete_now"])
    assert [d["recording_id"] for d in plan["upcoming"]] == [young]
    assert plan["pending_policy_change"] is None
    text = env.run("retention", "plan")
    assert text.returncode == 0 and "Deleted by a run now (3)" in text.stdout

    key = env.root / "state" / "keys" / "station.key"
    key.rename(key.with_suffix(".away"))
    refused = run_json(env, "retention", "run", code=5)
    assert refused["deleted"] == [] and "signed deletion manifest" in refused["refused"]
    key.with_suffix(".away").rename(key)

    ran = run_json(env, "retention", "run", code=1)  # deletes two; the broken copy alerts
    assert ran["deleted"] == [first, second] and ran["rehashed"] == 3
    assert any(f"recording {broken}:" in a and "fixity" in a for a in ran["alerts"])
    assert len(ran["manifests"]) == 1
    again = env.run("retention", "run")
    assert again.returncode == 1 and f"alert: recording {broken}:" in again.stdout

    stones = run_json(env, "retention", "tombstones")
    assert sorted(t["recording_id"] for t in stones) == [first, second]
    assert all(t["manifest"] for t in stones)
    assert "not yet signed" not in env.run("retention", "tombstones").stdout

    verify = env.run("verify", str(first))
    assert verify.returncode == 0, verify.stdout
    assert f"recording {first}" in verify.stdout and "deleted by retention" in verify.stdout
    export = env.run("export", str(first), "--to", str(tmp_path / "out"), "--recipient", "court",
                     "--reason", "trial")
    assert export.returncode == 5 and "deleted by retention" in export.stderr
    listing = json.loads(env.run("log", str(first), "--json", check=True).stdout)
    assert [e["action"] for e in listing if e["action"].startswith(("retention", "recording_d"))
            ] == ["retention_due", "recording_deleted"]
