"""The plan's fast path against the reference: ``Matters.decider`` (a catalog row straight to its
decision, ``rules.decide_fields``, no ``RecordingState``) must decide exactly what ``decide`` decides
for the state ``Matters.state`` makes of the same row, whatever the row holds (hypothesis, over the
edges of the rules that ``test_retention_properties`` generates); and a plan over a catalog that
two stations share sees only its own station's rows.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from test_retention_plan_stream import NOW, station  # noqa: F401  (the seeded catalog fixture)
from test_retention_properties import SETTINGS, scenarios

from bodycam_ingest.retention import service
from bodycam_ingest.retention.plan_json import decision_line
from bodycam_ingest.retention.policy import RetentionPolicy
from bodycam_ingest.retention.rules import CaseTier, RecordingState, decide
from bodycam_ingest.retention.state import Matters
from bodycam_ingest.station import Station


def _spelled(moment: datetime | None, how: str) -> Any:
    """A UTC instant as a driver returns it: SQLite's text (as the ORM writes it, without the
    fraction, with an offset: written by hand) or PostgreSQL's naive datetime."""
    if moment is None:
        return None
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return {"text": utc.strftime("%Y-%m-%d %H:%M:%S.%f"),
            "whole": utc.replace(microsecond=0).strftime("%Y-%m-%d %H:%M:%S"),
            "offset": moment.isoformat(sep=" "),
            "driver": utc}[how]


@SETTINGS
@given(scenarios(), st.sampled_from(["text", "text", "whole", "offset", "driver"]),
       st.sampled_from([None, "as is", "", "bogus"]), st.booleans(), st.booleans(), st.booleans())
def test_the_fast_path_decides_what_decide_decides_for_the_same_row(
    scenario: tuple[RecordingState, RetentionPolicy, datetime], how: str, tier_name: str | None,
    on_case: bool, holds_on_case: bool, deleted: bool,
) -> None:
    recording, policy, now = scenario
    case = "2026-A" if on_case else None
    holds = recording.holds
    matters = Matters(
        holds_by_recording={} if holds_on_case and case else {recording.id: holds},
        holds_by_case={case: holds} if holds_on_case and case else {},
        case_tiers={case: CaseTier(case, recording.case_tiers[0].tier, recording.case_tiers[0].reason)}
        if case and recording.case_tiers else {})
    tier = recording.tier.value if tier_name == "as is" else tier_name
    raw = (recording.id, tier, recording.tier_reason, _spelled(recording.recording_end, how),
           _spelled(recording.ingested_at, how), _spelled(recording.due_since, how),
           recording.fixity_ok, _spelled(now, "text") if deleted else None, case)
    fast = matters.decider(policy, now)(raw)
    reference = decide(matters.state(raw), policy, now)
    assert fast == reference
    assert fast.rule == reference.rule
    assert decision_line(fast) == decision_line(reference)


def test_a_plan_sees_only_its_own_stations_rows(station: Station) -> None:  # noqa: F811
    """The seeded catalog's rows copied under another station id (the same catalog shared by a
    bureau, issue 12): the plan of this station does not change, and lists none of them."""
    alone = service.make_plan(station)
    assert alone.plan.delete_now and alone.plan.upcoming
    catalog = station.config.storage.state_dir / "catalog.sqlite3"
    db = sqlite3.connect(catalog, isolation_level=None)
    columns = [row[1] for row in db.execute("PRAGMA table_info(recordings)")]
    picked = ", ".join({"id": "id + 100000", "station_id": "'other-station'",
                        "sha256": "'f' || substr(sha256, 2)"}.get(c, c) for c in columns)
    db.execute(f"INSERT INTO recordings ({', '.join(columns)}) SELECT {picked} FROM recordings")
    db.close()
    shared = service.make_plan(station)
    assert shared.plan == alone.plan
    assert shared.examined == alone.examined
    assert shared.live == alone.live
