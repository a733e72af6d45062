"""``bodycam retain`` through the real CLI on a real station (ffmpeg-made recordings, SQLite):
raising a tier needs a reason, lowering one is a request another person approves and is logged, a
long-term tier needs a dispute reason of R2, and a case's tier reaches recordings labelled into the
case after it was set."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from access_support import SUPERVISOR, approve_request
from helpers import StationEnv, write_config

from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera


def _sql(env: StationEnv, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(env.db) as db:
        return db.execute(statement, params).fetchall()


def _json(env: StationEnv, /, *args: str, code: int = 0) -> Any:
    result = env.run(*args, "--json")
    assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
    return json.loads(result.stdout)


def _refused(env: StationEnv, /, *args: str, code: int = 5) -> str:
    result = env.run(*args)
    assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())  # rich wraps long messages


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> StationEnv:
    """A station holding 4 one-second recordings that ended minutes ago (no R1 deadline missed)."""
    root = tmp_path_factory.mktemp("retain") / "station"
    root.mkdir()
    station = StationEnv(root=root, config_path=write_config(root))
    local = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    camera = root.parent / "camera"
    build_folder_camera(camera, replace(CameraSpec(), segments=4, seconds=1.0,
                                        start=local - timedelta(minutes=10)))
    station.run("ingest", str(camera), check=True)
    assert [i for (i,) in _sql(station, "SELECT id FROM recordings ORDER BY id")] == [1, 2, 3, 4]
    return station


def _tier(env: StationEnv, recording_id: int) -> tuple[str, str | None, int]:
    [(tier, reason)] = _sql(env, "SELECT tier, tier_reason FROM recordings WHERE id = ?",
                            recording_id)
    [(changes,)] = _sql(env, "SELECT count(*) FROM retention_tier_changes WHERE recording_id = ?",
                        recording_id)
    return tier, reason, changes


def test_raising_needs_a_reason_lowering_needs_another_persons_approval(env: StationEnv) -> None:
    raised = _json(env, "retain", "1", "2", "--tier", "evidence", "--reason",
                   "evidence for case 2026-7")
    assert [(c["recording_id"], c["old_tier"], c["new_tier"], c["changed"])
            for c in raised["changes"]] == [(1, "standard", "evidence", True),
                                            (2, "standard", "evidence", True)]
    assert _tier(env, 1) == ("evidence", "evidence for case 2026-7", 1)

    asked = _json(env, "retain", "1", "--tier", "standard", "--reason", "case 2026-7 dropped")
    assert asked["changes"] == [] and asked["request"]["kind"] == "tier_lower"
    assert asked["request"]["preview"]["targets"] == [
        {"target": "recording 1", "recording_id": 1, "tier": "evidence",
         "tier_reason": "evidence for case 2026-7", "case_number": None}]
    assert _tier(env, 1) == ("evidence", "evidence for case 2026-7", 1)  # nothing changed yet

    root = _refused(env, "requests", "approve", str(asked["request"]["id"]), "--digest",
                    asked["request"]["digest"])
    assert "not a person" in root
    assert _tier(env, 1)[2] == 1

    approved = approve_request(env, asked["request"]["id"])
    assert approved["result"]["changes"][0]["old_tier"] == "evidence"  # type: ignore[index]
    assert _tier(env, 1) == ("standard", "case 2026-7 dropped", 2)
    [(approver, actor)] = _sql(env, "SELECT approved_by, actor FROM retention_tier_changes "
                               "WHERE recording_id = 1 ORDER BY id DESC LIMIT 1")
    assert (approver, actor) == (SUPERVISOR, "os:root")

    log = _json(env, "log", "1")
    tier_events = [e for e in log if e["action"] == "retention_tier_set"]
    assert [(e["details"]["old"], e["details"]["new"], e["approved_by"],
             e["reason"]) for e in tier_events] == [
        ("standard", "evidence", None, "evidence for case 2026-7"),
        ("evidence", "standard", SUPERVISOR, "case 2026-7 dropped")]


def test_long_term_needs_a_dispute_reason_of_r2(env: StationEnv) -> None:
    message = _refused(env, "retain", "3", "--tier", "long_term", "--reason", "important")
    assert "dispute:complaint" in message and "dispute:assault" in message
    message = _refused(env, "retain", "3", "--tier", "long_term", "--reason", "dispute:other")
    assert "note" in message
    assert _tier(env, 3) == ("standard", None, 0)
    _json(env, "retain", "3", "--tier", "long_term", "--reason", "dispute:other", "--note",
          "the party announced a lawsuit")
    assert _tier(env, 3) == ("long_term", "dispute:other", 1)


def test_case_tier_reaches_a_recording_labelled_into_the_case_later(env: StationEnv) -> None:
    result = _json(env, "retain", "--case", "C-9", "--tier", "long_term", "--reason",
                   "dispute:assault")
    assert result["changes"][0]["target"] == "case C-9"
    assert "no recording is labelled with case C-9 yet" in result["warnings"][0]
    env.run("tag", "4", "--case", "C-9", check=True)

    [listed] = [r for r in _json(env, "list") if r["id"] == 4]
    assert listed["tier"] == "standard"  # its own tier is unchanged ...
    assert listed["retention"]["effective_tier"] == "long_term"  # ... the case's applies
    assert listed["retention"]["keep"] == "LT"
    shown = env.run("show", "4", check=True).stdout
    assert "long_term (from case C-9)" in shown and "dispute:assault" in shown

    asked = _json(env, "retain", "--case", "C-9", "--tier", "evidence", "--reason", "x")
    assert asked["request"]["summary"] == "case C-9 -> evidence"
    assert asked["request"]["preview"]["targets"][0]["tier"] == "long_term"
    assert _sql(env, "SELECT tier FROM retention_case_tiers WHERE case_number = 'C-9'") == [
        ("long_term",)]
    [(subject, action)] = _sql(env, "SELECT subject, action FROM events WHERE action = "
                               "'retention_case_tier_set'")
    assert (subject, action) == ("C-9", "retention_case_tier_set")


def test_unknown_and_deleted_recordings_are_refused_by_name(env: StationEnv) -> None:
    message = _refused(env, "retain", "2", "98", "99", "--tier", "evidence", "--reason", "r",
                       code=4)
    assert "98 99" in message
    _sql(env, "UPDATE recordings SET deleted_at = '2026-01-01 00:00:00.000000' WHERE id = 2")
    try:
        message = _refused(env, "retain", "2", "--tier", "long_term", "--reason",
                           "dispute:complaint")
        assert "Recording 2 was deleted" in message
    finally:
        _sql(env, "UPDATE recordings SET deleted_at = NULL WHERE id = 2")
