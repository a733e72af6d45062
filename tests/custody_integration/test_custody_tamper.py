"""The seven tamper tests of issue 4: each one is caught by `bodycam audit`, which names the object
and what is wrong and exits 9; a clean station audits clean (exit 0)."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from custody_support import audit, ingest, label_all, problems, sql
from helpers import StationEnv


@pytest.fixture
def labelled(station: StationEnv, fresh_camera: Path, second_camera: Path) -> StationEnv:
    """Two docks, every recording labelled: a station that audits clean."""
    ingest(station, fresh_camera)
    ingest(station, second_camera)
    label_all(station)
    code, report = audit(station)
    assert code == 0, problems(report)
    return station


def _found(station: StationEnv, *words: str) -> list[str]:
    code, report = audit(station)
    assert code == 9
    found = problems(report)
    hits = [p for p in found if all(w in p for w in words)]
    assert hits, f"no problem mentions {words}: {found}"
    return found


def _stored(station: StationEnv, recording_id: int) -> Path:
    [(relpath,)] = sql(station, "SELECT store_path FROM recordings WHERE id = ?", recording_id)
    return station.store / relpath


def test_a_clean_station_audits_clean(labelled: StationEnv) -> None:
    result = labelled.run("audit")
    assert result.returncode == 0, result.stdout
    assert "clean" in result.stdout
    assert labelled.run("verify", "--all").returncode == 0


def test_one_flipped_byte_in_a_stored_file_is_found(labelled: StationEnv) -> None:
    path = _stored(labelled, 2)
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    _found(labelled, "fixity", "recording 2", "hashes to")
    verify = labelled.run("verify", "2", "--json")
    assert verify.returncode == 9 and "recording 2" in verify.stdout


def test_a_sha256_changed_in_the_database_is_found(labelled: StationEnv) -> None:
    sql(labelled, "UPDATE recordings SET sha256 = ? WHERE id = 1", "ab" * 32)
    found = _found(labelled, "recording 1", "catalog says " + "ab" * 32)
    assert any("in no signed dock manifest" in p for p in found)


def test_a_deleted_custody_log_row_is_found(labelled: StationEnv) -> None:
    sql(labelled, "DELETE FROM events WHERE seq = 3")
    _found(labelled, "custody_log", "custody entry 3", "missing")


def test_an_edited_custody_log_row_is_found(labelled: StationEnv) -> None:
    sql(labelled, "UPDATE events SET actor = 'mallory' WHERE seq = 2")
    _found(labelled, "custody_log", "custody entry 2", "edited")


def test_a_custody_log_rewritten_with_recomputed_digests_is_caught_by_checkpoints(
        labelled: StationEnv) -> None:
    from bodycam_ingest.custody.chain import entry_digest
    from bodycam_ingest.custody.logfields import event_fields

    sql(labelled, "UPDATE events SET actor = 'mallory' WHERE seq = 2")
    rows = sql(labelled, "SELECT seq, at, actor, action, dock_id, recording_id, subject, reason, "
                         "approved_by, details FROM events ORDER BY seq")
    prev = "0" * 64
    for row in rows:  # an attacker with database access recomputes the whole chain
        at = datetime.fromisoformat(row[1]).replace(tzinfo=UTC)
        fields = event_fields(at=at, actor=row[2], action=row[3], dock_id=row[4],
                              recording_id=row[5], subject=row[6], reason=row[7],
                              approved_by=row[8], details=row[9])
        digest = entry_digest(prev, row[0], fields)
        sql(labelled, "UPDATE events SET prev_digest = ?, digest = ? WHERE seq = ?", prev, digest,
            row[0])
        prev = digest
    _found(labelled, "custody_log", "rewritten")


def test_a_manifest_swapped_for_an_older_one_is_found(labelled: StationEnv) -> None:
    folder = labelled.root / "state" / "manifests"
    first, second = sorted(folder.glob("*.json"))
    for suffix in (".json", ".sig", ".sha256"):
        target = second.with_suffix(suffix)
        target.unlink()
        shutil.copy(first.with_suffix(suffix), target)
    found = _found(labelled, "manifests", f"manifest {second.stem}", "replaced")
    assert any("swapped" in p for p in found)


def test_a_label_changed_directly_in_the_database_is_found(labelled: StationEnv) -> None:
    sql(labelled, "UPDATE custody_labels SET case_number = '伪造[2026]1号' WHERE id = 2")
    _found(labelled, "labels", "label 2 of recording 2", "changed outside bodycam")


def test_a_deleted_stored_file_is_found(labelled: StationEnv) -> None:
    path = _stored(labelled, 3)
    path.unlink()
    _found(labelled, "fixity", "recording 3", "missing")
