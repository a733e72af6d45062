"""The custody log chain, its signed checkpoints, and the manifest chain catch every tamper."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from bodycam_ingest.custody import keys
from bodycam_ingest.custody.chain import (
    CHECKPOINT_FORMAT_V1,
    GENESIS,
    ChainProblem,
    Checkpoint,
    LogEntry,
    ProblemKind,
    checkpoint_bytes,
    checkpoint_digest,
    entry_digest,
    make_checkpoint,
    next_entry,
    signed_bytes,
    verify_chain,
    verify_checkpoints,
    verify_log,
    verify_manifest_chain,
)
from bodycam_ingest.custody.manifest import JsonValue, Manifest, ManifestEntry, manifest_digest

T0 = datetime(2025, 3, 7, 2, 0, tzinfo=UTC)
ACTIONS = ["ingest", "label", "view", "export", "hold", "key_rotation", "daemon_start"]


def fields(i: int) -> dict[str, JsonValue]:
    return {
        "action": ACTIONS[i % len(ACTIONS)],
        "actor": "zhangsan",
        "approver": None if i % 2 else "lisi",
        "object": f"recording:{i}",
        "reason": "案号 (2025) 人社监察 第12号",
        "at": (T0 + timedelta(minutes=i)).isoformat(),
    }


def build(n: int) -> list[LogEntry]:
    log: list[LogEntry] = []
    for i in range(n):
        log.append(next_entry(log[-1] if log else None, fields(i)))
    return log


def kinds(problems: Sequence[ChainProblem]) -> list[tuple[ProblemKind, int | None]]:
    return [(p.kind, p.seq) for p in problems]


# --------------------------------------------------------------------------- encoding


def test_entry_digest_is_sha256_of_the_documented_canonical_document() -> None:
    f: Mapping[str, JsonValue] = {"actor": "zhangsan", "action": "view", "object": "recording:1"}
    document = {"format": "bodycam-custody-entry/1", "seq": 1, "prev": GENESIS, "fields": f}
    independent = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    assert entry_digest(GENESIS, 1, f) == hashlib.sha256(independent).hexdigest()


def test_log_built_with_next_entry_starts_at_one_from_genesis_and_links() -> None:
    log = build(3)
    assert [e.seq for e in log] == [1, 2, 3]
    assert log[0].prev_digest == GENESIS
    assert log[2].prev_digest == log[1].digest


# --------------------------------------------------------------------------- verify_chain


def test_an_intact_log_has_no_problems() -> None:
    assert verify_chain(build(20)) == []
    assert verify_chain([]) == []


def test_an_edited_row_is_reported_with_its_id() -> None:
    log = build(10)
    log[4] = replace(log[4], fields={**log[4].fields, "actor": "intruder"})
    problems = verify_chain(log)
    assert kinds(problems) == [(ProblemKind.EDITED, 5)]
    assert "custody entry 5 does not match its digest" in problems[0].message


def test_a_deleted_row_leaves_a_hole_named_by_its_id() -> None:
    log = build(10)
    del log[6]
    problems = verify_chain(log)
    assert kinds(problems) == [(ProblemKind.MISSING, 7)]
    assert problems[0].message == ("custody entry 7 is missing (before entry 8): it was deleted")


def test_deleting_the_first_rows_is_a_hole_at_the_start() -> None:
    problems = verify_chain(build(10)[3:])
    assert kinds(problems) == [(ProblemKind.MISSING, 1)]
    assert problems[0].message == ("custody entries 1 to 3 are missing (before entry 4): they were deleted")


def test_rows_stored_out_of_order_are_reported_as_reordered() -> None:
    log = build(6)
    log[2], log[4] = log[4], log[2]
    assert kinds(verify_chain(log)) == [(ProblemKind.REORDERED, 4), (ProblemKind.REORDERED, 3)]


def test_renumbering_rows_to_hide_a_deletion_is_an_edit() -> None:
    log = build(6)
    del log[2]
    log[2:] = [replace(e, seq=e.seq - 1) for e in log[2:]]
    problems = verify_chain(log)
    assert (ProblemKind.EDITED, 3) in kinds(problems)
    assert (ProblemKind.EDITED, 4) in kinds(problems)


def test_an_edit_with_a_recomputed_digest_breaks_the_next_link() -> None:
    log = build(6)
    edited_fields = {**log[2].fields, "reason": "changed"}
    log[2] = replace(
        log[2],
        fields=edited_fields,
        digest=entry_digest(log[2].prev_digest, 3, edited_fields),
    )
    problems = verify_chain(log)
    assert kinds(problems) == [(ProblemKind.BROKEN_LINK, 4)]
    assert "entry 4 does not link to entry 3" in problems[0].message


def test_every_problem_is_gathered_not_just_the_first() -> None:
    log = build(12)
    log[1] = replace(log[1], fields={**log[1].fields, "object": "recording:999"})
    log[9] = replace(log[9], fields={**log[9].fields, "approver": "nobody"})
    del log[5]
    log.append(log[3])  # a duplicated row
    assert kinds(verify_chain(log)) == [
        (ProblemKind.EDITED, 2),
        (ProblemKind.EDITED, 10),
        (ProblemKind.DUPLICATE, 4),
        (ProblemKind.MISSING, 6),
    ]


def test_fields_that_cannot_be_encoded_are_reported_not_raised() -> None:
    log = build(3)
    log[1] = replace(log[1], fields={"amount": 1.5})  # type: ignore[dict-item]
    assert kinds(verify_chain(log)) == [(ProblemKind.EDITED, 2)]


_tampers = st.sampled_from(["delete", "edit", "swap", "duplicate", "renumber", "rehash"])


@settings(deadline=None)  # no test may depend on wall-clock speed
@given(st.integers(2, 30), st.data())
def test_any_single_tamper_is_detected_and_names_an_entry_it_touched(n: int, data: st.DataObject) -> None:
    log = build(n)
    tamper = data.draw(_tampers)
    i = data.draw(st.integers(0, n - 2))  # never the last row: the chain alone cannot see that
    seq = log[i].seq
    touched = {seq}
    if tamper == "delete":
        del log[i]
        touched = {seq}
    elif tamper == "edit":
        log[i] = replace(log[i], fields={**log[i].fields, "actor": data.draw(st.text())})
        if log[i].fields == fields(i):
            return
    elif tamper == "swap":
        j = data.draw(st.integers(i + 1, n - 1))
        log[i], log[j] = log[j], log[i]
        touched = {log[i].seq, log[j].seq}
    elif tamper == "duplicate":
        log.insert(data.draw(st.integers(0, n)), log[i])
    elif tamper == "renumber":
        log[i] = replace(log[i], seq=data.draw(st.integers(1, 10 * n).filter(lambda s: s != seq)))
        touched = {seq, log[i].seq}
    else:  # rehash: edit and recompute this row's own digest, so the next link breaks
        new = {**log[i].fields, "reason": "x"}
        log[i] = replace(log[i], fields=new, digest=entry_digest(log[i].prev_digest, seq, new))
        touched = {seq + 1}
    problems = verify_chain(log)
    assert problems, tamper
    assert touched & {p.seq for p in problems}, (tamper, problems)


@settings(deadline=None)
@given(
    st.lists(st.dictionaries(st.text(max_size=5), st.none() | st.integers(-9, 9) | st.text()), max_size=15)
)
def test_any_log_written_with_next_entry_verifies(all_fields: list[dict[str, JsonValue]]) -> None:
    log: list[LogEntry] = []
    for f in all_fields:
        log.append(next_entry(log[-1] if log else None, f))
    assert verify_chain(log) == []


# --------------------------------------------------------------------------- checkpoints


@pytest.fixture
def station_keys(tmp_path: Path) -> Path:
    keys.generate(tmp_path)
    return tmp_path


def sign_at(log: list[LogEntry], seq: int, key: Ed25519PrivateKey) -> Checkpoint:
    return make_checkpoint(log[seq - 1], T0 + timedelta(hours=seq), key)


def test_checkpoints_of_an_intact_log_verify(station_keys: Path) -> None:
    key = keys.load_private(station_keys / "station.key")
    log = build(10)
    cps = [sign_at(log, 5, key), sign_at(log, 10, key)]
    assert verify_log(log, cps, keys.load_keyring(station_keys)) == []


def test_cutting_entries_off_the_end_is_caught_by_a_checkpoint(station_keys: Path) -> None:
    key = keys.load_private(station_keys / "station.key")
    log = build(10)
    cps = [sign_at(log, 10, key)]
    problems = verify_log(log[:7], cps, keys.load_keyring(station_keys))
    assert kinds(problems) == [(ProblemKind.TRUNCATED, 10)]
    assert "ends at entry 7" in problems[0].message


def test_a_log_rewritten_and_rehashed_from_an_edit_onwards_fails_its_checkpoint(
    station_keys: Path,
) -> None:
    key = keys.load_private(station_keys / "station.key")
    log = build(10)
    cps = [sign_at(log, 3, key), sign_at(log, 8, key)]
    forged = log[:4]
    for i in range(4, 10):
        changed = {**fields(i), "actor": "intruder"} if i == 4 else fields(i)
        forged.append(next_entry(forged[-1], changed))
    assert verify_chain(forged) == []  # hashes alone cannot see it
    problems = verify_checkpoints(forged, cps, keys.load_keyring(station_keys))
    assert kinds(problems) == [(ProblemKind.CHECKPOINT_MISMATCH, 8)]
    assert "custody entry 8 differs from the checkpoint of entry 8" in problems[0].message


def test_an_altered_or_forged_checkpoint_is_reported(station_keys: Path) -> None:
    key = keys.load_private(station_keys / "station.key")
    log = build(10)
    good = sign_at(log, 6, key)
    moved = replace(good, seq=9, head_digest=log[8].digest)
    stranger = make_checkpoint(log[3], T0, Ed25519PrivateKey.generate())
    impostor = replace(stranger, key_id=good.key_id)
    problems = verify_checkpoints(log, [moved, stranger, impostor], keys.load_keyring(station_keys))
    assert kinds(problems) == [
        (ProblemKind.BAD_SIGNATURE, 9),
        (ProblemKind.UNKNOWN_KEY, 4),
        (ProblemKind.BAD_SIGNATURE, 4),
    ]
    assert stranger.key_id in problems[1].message


def test_checkpoints_signed_before_a_key_rotation_still_verify(station_keys: Path) -> None:
    log = build(10)
    before = sign_at(log, 4, keys.load_private(station_keys / "station.key"))
    keys.rotate(station_keys)
    after = sign_at(log, 9, keys.load_private(station_keys / "station.key"))
    assert before.key_id != after.key_id
    assert verify_checkpoints(log, [before, after], keys.load_keyring(station_keys)) == []


def test_checkpoint_signature_covers_the_documented_bytes(station_keys: Path) -> None:
    key = keys.load_private(station_keys / "station.key")
    first = make_checkpoint(build(2)[1], T0, key)
    cp = make_checkpoint(build(3)[2], T0, key, checkpoint_digest(first))
    signed = checkpoint_bytes(cp.seq, cp.head_digest, cp.at, cp.key_id,
                              previous=cp.previous_digest)
    assert json.loads(signed) == {
        "format": "bodycam-checkpoint/2",
        "seq": 3,
        "head_digest": cp.head_digest,
        "at": "2025-03-07T02:00:00Z",
        "key_id": cp.key_id,
        "previous_checkpoint_sha256": hashlib.sha256(signed_bytes(first)).hexdigest(),
    }
    assert keys.verify(key.public_key(), signed, cp.signature)


def test_a_checkpoint_signed_before_chaining_still_verifies(station_keys: Path) -> None:
    key = keys.load_private(station_keys / "station.key")
    log = build(2)
    signed = checkpoint_bytes(2, log[1].digest, T0, keys.key_id(key.public_key()),
                              format=CHECKPOINT_FORMAT_V1)
    assert "previous_checkpoint_sha256" not in json.loads(signed)
    legacy = Checkpoint(2, log[1].digest, T0, keys.key_id(key.public_key()),
                        keys.sign(key, signed), None, CHECKPOINT_FORMAT_V1)
    assert verify_log(log, [legacy], keys.load_keyring(station_keys)) == []


# --------------------------------------------------------------------------- manifests


def dock(n: int, previous: Manifest | None) -> Manifest:
    item = ManifestEntry(
        f"DCIM/{n:04d}.MP4", n, hashlib.sha256(bytes([n])).hexdigest(), "CAM-7", None, None, T0
    )
    prev = None if previous is None else manifest_digest(previous)
    return Manifest("ST-01", f"D-{n:04d}", "CAM-7", T0, T0, (item,), prev)


def docks(n: int) -> list[Manifest]:
    out: list[Manifest] = []
    for i in range(1, n + 1):
        out.append(dock(i, out[-1] if out else None))
    return out


def test_an_unbroken_manifest_chain_verifies() -> None:
    assert verify_manifest_chain(docks(5)) == []


def test_a_removed_manifest_breaks_the_chain_at_the_next_dock() -> None:
    chain = docks(5)
    del chain[2]
    problems = verify_manifest_chain(chain)
    assert kinds(problems) == [(ProblemKind.MANIFEST_LINK, 3)]
    assert "dock D-0004" in problems[0].message and "D-0002" in problems[0].message


def test_a_manifest_swapped_for_an_older_one_is_detected() -> None:
    chain = docks(5)
    chain[3] = chain[1]
    assert kinds(verify_manifest_chain(chain)) == [
        (ProblemKind.DUPLICATE, 4),
        (ProblemKind.MANIFEST_LINK, 4),
        (ProblemKind.MANIFEST_LINK, 5),
    ]


def test_reordered_manifests_and_a_cut_start_are_detected() -> None:
    chain = docks(4)
    assert kinds(verify_manifest_chain([chain[0], chain[2], chain[1], chain[3]])) == [
        (ProblemKind.MANIFEST_LINK, 2),
        (ProblemKind.MANIFEST_LINK, 3),
        (ProblemKind.MANIFEST_LINK, 4),
    ]
    problems = verify_manifest_chain(chain[1:])
    assert kinds(problems) == [(ProblemKind.MANIFEST_LINK, 1)]
    assert "first in the station's history" in problems[0].message
