"""The journal (the ``bodycam.events`` logger) carries a custody entry only once its transaction
committed: an entry rolled back (a failed dock commit, a refused sweep) never appears there."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bodycam_ingest.catalog.db import open_catalog
from bodycam_ingest.catalog.events import record_event

AT = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)


def test_an_entry_is_journalled_after_commit_and_never_when_rolled_back(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}", station_id="s1")
    caplog.set_level(logging.INFO, logger="bodycam.events")
    with catalog.session() as session:
        record_event(session, at=AT, actor="alice", action="rolled_back_action")
        assert not [r for r in caplog.records if r.name == "bodycam.events"]
        session.rollback()
    with catalog.session() as session:
        record_event(session, at=AT, actor="alice", action="committed_action")
        assert not [r for r in caplog.records if r.name == "bodycam.events"]
        session.commit()
    lines = [r.getMessage() for r in caplog.records if r.name == "bodycam.events"]
    assert len(lines) == 1
    assert "action=committed_action" in lines[0] and "seq=1" in lines[0]
