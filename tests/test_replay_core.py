"""The replay's pure core (custody.replay): plain custody entries and plain rows in, differences
out, no catalog. Each rule of the replay on the smallest data that shows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace as Row
from typing import Any

from bodycam_ingest.custody.replay import (
    Entry,
    Tables,
    analysis_digest,
    differences,
    replay_log,
)

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def entry(seq: int, action: str, *, recording: int | None = None, subject: str | None = None,
          reason: str | None = None, **details: Any) -> Entry:
    return Entry(seq, action, recording, subject, reason, details, at=AT, actor="a")


def tables(**given: Any) -> Tables:
    empty: dict[str, Any] = {"recording_tiers": {}, "deleted": {}, "changes": {},
                             "case_tiers": {}, "holds": {}, "current_label": {}, "runs": {},
                             "findings": {}, "explanations": {}}
    return Tables(**{**empty, **given})


def hold_row(ident: int, recording: int | None = None, case: str | None = None) -> Row:
    return Row(id=ident, recording_id=recording, case_number=case, released_at=None,
               released_by=None, release_reason=None, release_approved_by=None)


@dataclass
class Problems:
    texts: list[str]
    recordings: set[int]
    cases: set[str]


def found(log: list[Entry], t: Tables) -> Problems:
    diffs, _legacy = differences(replay_log(log), t)
    return Problems([f"{d.object}: {d.problem}" for d in diffs],
                    {r for d in diffs for r in d.recordings}, {c for d in diffs for c in d.cases})


def test_a_logged_hold_missing_from_the_table_is_named_with_its_recording() -> None:
    log = [entry(1, "hold_added", recording=3, hold_id=1, hold_sha256="x")]
    result = found(log, tables())
    assert any(t.startswith("hold 1 on recording 3") and "missing" in t for t in result.texts)
    assert result.recordings == {3}
    assert found(log, tables(holds={1: hold_row(1, 3)})).texts == []


def test_a_case_hold_missing_concerns_the_case() -> None:
    log = [entry(1, "hold_added", subject="C-9", hold_id=2, hold_sha256="x")]
    assert found(log, tables()).cases == {"C-9"}


def test_a_hold_the_log_never_added_is_named() -> None:
    result = found([], tables(holds={5: hold_row(5, 2)}))
    assert any("hold 5" in t and "no custody entry" in t for t in result.texts)


def test_a_tier_set_back_to_standard_is_found_from_the_log_alone() -> None:
    log = [entry(1, "retention_tier_set", recording=2, reason="evidence for C-7", change_id=1,
                 new="evidence", change_sha256="x")]
    result = found(log, tables(changes={1: Row(id=1, recording_id=2, case_number=None)}))
    assert any(t.startswith("recording 2: has tier standard") for t in result.texts)
    assert result.recordings == {2}
    same = tables(recording_tiers={2: ("evidence", "evidence for C-7")},
                  changes={1: Row(id=1, recording_id=2, case_number=None)})
    assert found(log, same).texts == []


def test_a_tier_the_log_never_set_is_found() -> None:
    result = found([], tables(recording_tiers={4: ("long_term", "dispute:complaint")}))
    assert any("recording 4" in t and "no custody entry ever changed it" in t
               for t in result.texts)


def test_a_deleted_finding_changes_the_analysis_digest() -> None:
    run = Row(id=7, recording_id=2, version=1, analyzed_at=AT, actor="a", trigger="dock",
              dock_id=1, device="D", reader="index", problem=None, media_duration_s=2.5,
              profile_id=None, thresholds="{}", engine="2", critical=1, warning=0, current=True)
    finding = Row(id=1, analysis_id=7, recording_id=2, kind="missing_segment",
                  severity="critical", offset_s=0.0, measured="1", threshold="0", message="m",
                  stream=None, fingerprint="f", analysis_version=1, analyzed_at=AT, current=True)
    log = [entry(1, "analysis_completed", recording=2, analysis_id=7,
                 analysis_sha256=analysis_digest(run, [finding], []))]
    assert found(log, tables(runs={7: run}, findings={7: [finding]})).texts == []
    result = found(log, tables(runs={7: run}, findings={}))
    assert any(t.startswith("analysis 7 of recording 2") and "0 finding(s) now" in t
               for t in result.texts)


def test_a_legacy_analysis_is_not_compared_but_an_unlogged_one_is_found() -> None:
    run = Row(id=3, recording_id=1, version=1, current=True)
    legacy = [entry(1, "analysis_completed", recording=1, version=1)]
    diffs, names = differences(replay_log(legacy), tables(runs={3: run}))
    assert diffs == [] and names == ["analysis 3 of recording 1"]
    assert any("no custody entry" in t for t in found([], tables(runs={3: run})).texts)


def test_a_recording_marked_deleted_without_an_entry_is_found() -> None:
    result = found([], tables(deleted={6: AT}))
    assert any("recording 6" in t and "no custody entry deleted it" in t for t in result.texts)
