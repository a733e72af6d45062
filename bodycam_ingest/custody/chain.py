"""Tamper evidence for the custody log and the manifest chain, as pure functions over plain data.

Custody log
-----------
Every entry carries its sequence number (its id, 1, 2, 3, ... with no holes), the digest of the
entry before it, its fields, and its own digest::

    digest = sha256(JCS({"format": "bodycam-custody-entry/1",
                         "seq": seq, "prev": prev_digest, "fields": fields}))

JCS is RFC 8785 (see ``manifest.canonical_json``); the first entry's ``prev`` is 64 zeros. So
an edited row no longer matches its digest, a deleted row leaves a hole in the sequence, and a row
whose digest was recomputed after an edit no longer matches the next row's ``prev``.

Anyone with write access to the database can recompute the whole chain after an edit, or cut off
its end; hashes alone cannot stop that. Signed checkpoints can: the station periodically signs
``(seq, head digest, time, key id)`` with its Ed25519 key, and a rewritten or truncated log no
longer contains the entry a checkpoint vouches for. Checkpoint signatures are over::

    JCS({"format": "bodycam-checkpoint/2", "seq": seq, "head_digest": head,
         "at": RFC 3339 UTC, "key_id": key_id,
         "previous_checkpoint_sha256": SHA-256 of the previous checkpoint's signed bytes or null})

(``bodycam-checkpoint/1``, signed before checkpoints were chained, lacks the last key.) Each
checkpoint is also a signed file outside the catalog (``custody.anchors``): the catalog's rows
must agree with the files, the files must chain, and every custody-log head a signed dock or
deletion manifest recorded must still be in the log (``verify_anchors``, ``verify_heads``).

Verification gathers every problem with the entry it concerns, as bagit does, rather than
stopping at the first: an auditor needs the whole picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bodycam_ingest.custody import keys
from bodycam_ingest.custody.manifest import (
    JsonValue,
    Manifest,
    canonical_json,
    format_timestamp,
    manifest_digest,
    sha256_hex,
)

ENTRY_FORMAT = "bodycam-custody-entry/1"
CHECKPOINT_FORMAT = "bodycam-checkpoint/2"  # chained: carries the previous checkpoint's digest
CHECKPOINT_FORMAT_V1 = "bodycam-checkpoint/1"  # before anchors: unchained
CHECKPOINT_FORMATS = (CHECKPOINT_FORMAT_V1, CHECKPOINT_FORMAT)
GENESIS = "0" * 64


class ProblemKind(StrEnum):
    EDITED = "edited"  # an entry's content no longer matches its own digest
    MISSING = "missing"  # a hole in the sequence: entries were deleted
    REORDERED = "reordered"  # stored out of sequence order
    DUPLICATE = "duplicate"  # one sequence number used twice
    BROKEN_LINK = "broken_link"  # an entry's prev is not the digest of the entry before it
    INVALID = "invalid"  # a sequence number below 1
    UNKNOWN_KEY = "unknown_key"  # a checkpoint signed by a key not in the keyring
    BAD_SIGNATURE = "bad_signature"  # a checkpoint whose signature does not verify
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # the log no longer has the signed head
    TRUNCATED = "truncated"  # the log ends before a signed checkpoint
    MANIFEST_LINK = "manifest_link"  # a dock manifest does not chain to the one before it
    ANCHOR_MISSING = "anchor_missing"  # a checkpoint row without its signed file
    ANCHOR_UNRECORDED = "anchor_unrecorded"  # a signed checkpoint file without its row
    ANCHOR_LINK = "anchor_link"  # a checkpoint file does not chain to the one before it
    HEAD_MISMATCH = "head_mismatch"  # a signed manifest's custody-log head is not in the log


@dataclass(frozen=True)
class ChainProblem:
    """One thing wrong, with the entry it concerns (``seq``) and a sentence naming it."""

    kind: ProblemKind
    seq: int | None
    message: str


@dataclass(frozen=True)
class LogEntry:
    """A custody-log entry as stored; ``fields`` holds actor, action, object, reason, time..."""

    seq: int
    prev_digest: str
    fields: Mapping[str, JsonValue]
    digest: str


@dataclass(frozen=True)
class Checkpoint:
    """The station's signed statement that entry ``seq`` had digest ``head_digest`` at ``at``."""

    seq: int
    head_digest: str
    at: datetime
    key_id: str
    signature: bytes
    previous_digest: str | None = None  # the previous checkpoint's ``checkpoint_digest``
    format: str = CHECKPOINT_FORMAT


@dataclass(frozen=True)
class RecordedHead:
    """A custody-log head (``seq``, ``digest``) that a signed document (``source``) recorded."""

    source: str
    seq: int
    digest: str


# --------------------------------------------------------------------------- building


def entry_digest(prev_digest: str, seq: int, fields: Mapping[str, JsonValue]) -> str:
    """The digest of one entry; ``seq`` is covered so that renumbering rows is an edit."""
    document: dict[str, JsonValue] = {
        "format": ENTRY_FORMAT,
        "seq": seq,
        "prev": prev_digest,
        "fields": fields,
    }
    return sha256_hex(canonical_json(document))


def next_entry(previous: LogEntry | None, fields: Mapping[str, JsonValue]) -> LogEntry:
    """The entry that follows ``previous`` (or starts the log when it is ``None``)."""
    seq = 1 if previous is None else previous.seq + 1
    prev = GENESIS if previous is None else previous.digest
    return LogEntry(seq=seq, prev_digest=prev, fields=fields, digest=entry_digest(prev, seq, fields))


def checkpoint_document(seq: int, head_digest: str, at: datetime, key_id: str, *,
                        previous: str | None = None,
                        format: str = CHECKPOINT_FORMAT) -> dict[str, JsonValue]:
    """The document a checkpoint signature covers (``format`` /1 has no previous link)."""
    if format not in CHECKPOINT_FORMATS:
        raise ValueError(f"checkpoint format {format!r} is not one of {CHECKPOINT_FORMATS}")
    document: dict[str, JsonValue] = {
        "format": format,
        "seq": seq,
        "head_digest": head_digest,
        "at": format_timestamp(at),
        "key_id": key_id,
    }
    if format != CHECKPOINT_FORMAT_V1:
        document["previous_checkpoint_sha256"] = previous
    return document


def checkpoint_bytes(seq: int, head_digest: str, at: datetime, key_id: str, *,
                     previous: str | None = None, format: str = CHECKPOINT_FORMAT) -> bytes:
    """The exact bytes a checkpoint signature covers (and a checkpoint file holds)."""
    return canonical_json(checkpoint_document(seq, head_digest, at, key_id, previous=previous,
                                              format=format))


def signed_bytes(cp: Checkpoint) -> bytes:
    return checkpoint_bytes(cp.seq, cp.head_digest, cp.at, cp.key_id, previous=cp.previous_digest,
                            format=cp.format)


def checkpoint_digest(cp: Checkpoint) -> str:
    """SHA-256 of the checkpoint's signed bytes: what the next checkpoint chains to."""
    return sha256_hex(signed_bytes(cp))


def make_checkpoint(head: LogEntry, at: datetime, private_key: Ed25519PrivateKey,
                    previous: str | None = None) -> Checkpoint:
    """Sign the log as it stands at ``head``, chained to the checkpoint whose digest is
    ``previous`` (None: the first); ``at`` is passed in (no clock in the core)."""
    ident = keys.key_id(private_key.public_key())
    data = checkpoint_bytes(head.seq, head.digest, at, ident, previous=previous)
    return Checkpoint(head.seq, head.digest, at, ident, keys.sign(private_key, data), previous)


# --------------------------------------------------------------------------- verifying


def _own_digest_problem(entry: LogEntry) -> ChainProblem | None:
    try:
        actual = entry_digest(entry.prev_digest, entry.seq, entry.fields)
    except ValueError as exc:
        return ChainProblem(
            ProblemKind.EDITED, entry.seq, f"custody entry {entry.seq} cannot be encoded: {exc}"
        )
    if actual == entry.digest:
        return None
    return ChainProblem(
        ProblemKind.EDITED,
        entry.seq,
        f"custody entry {entry.seq} does not match its digest: it was edited after it was written",
    )


def _order_problems(entries: Sequence[LogEntry]) -> list[ChainProblem]:
    problems: list[ChainProblem] = []
    seen: set[int] = set()
    highest = 0
    for entry in entries:
        if entry.seq < 1:
            problems.append(
                ChainProblem(
                    ProblemKind.INVALID,
                    entry.seq,
                    f"custody entry {entry.seq} has an impossible sequence number (below 1)",
                )
            )
            continue
        if entry.seq in seen:
            problems.append(
                ChainProblem(
                    ProblemKind.DUPLICATE,
                    entry.seq,
                    f"custody entry {entry.seq} appears more than once",
                )
            )
        elif entry.seq < highest:
            problems.append(
                ChainProblem(
                    ProblemKind.REORDERED,
                    entry.seq,
                    f"custody entry {entry.seq} is stored after entry {highest}: the log was reordered",
                )
            )
        seen.add(entry.seq)
        highest = max(highest, entry.seq)
    return problems


def _link_problems(entries: Sequence[LogEntry]) -> list[ChainProblem]:
    first: dict[int, LogEntry] = {}
    for entry in entries:
        if entry.seq >= 1:
            first.setdefault(entry.seq, entry)
    problems: list[ChainProblem] = []
    previous: LogEntry | None = None
    expected = 1
    for seq in sorted(first):
        entry = first[seq]
        if seq > expected:
            if seq == expected + 1:
                gap = f"custody entry {expected} is missing (before entry {seq}): it was deleted"
            else:
                gap = (
                    f"custody entries {expected} to {seq - 1} are missing (before entry {seq}): "
                    "they were deleted"
                )
            problems.append(ChainProblem(ProblemKind.MISSING, expected, gap))
        elif previous is None and entry.prev_digest != GENESIS:
            problems.append(
                ChainProblem(
                    ProblemKind.BROKEN_LINK,
                    seq,
                    f"custody entry {seq} does not start the chain: "
                    "entries before it were removed or it was replaced",
                )
            )
        elif previous is not None and entry.prev_digest != previous.digest:
            problems.append(
                ChainProblem(
                    ProblemKind.BROKEN_LINK,
                    seq,
                    f"custody entry {seq} does not link to entry {previous.seq}: "
                    f"entry {previous.seq} was rewritten or replaced after entry {seq} was written",
                )
            )
        previous = entry
        expected = seq + 1
    return problems


def verify_chain(entries: Sequence[LogEntry]) -> list[ChainProblem]:
    """Every problem in a custody log given in stored order; empty when the chain is intact.

    Cannot see entries cut from the end, nor a chain recomputed after an edit: that is what
    ``verify_checkpoints`` is for.
    """
    problems = [p for p in map(_own_digest_problem, entries) if p is not None]
    problems += _order_problems(entries)
    problems += _link_problems(entries)
    return problems


def verify_checkpoints(
    entries: Sequence[LogEntry],
    checkpoints: Sequence[Checkpoint],
    keyring: Mapping[str, Ed25519PublicKey],
) -> list[ChainProblem]:
    """Every checkpoint that is forged, signed by an unknown key, or no longer matches the log."""
    by_seq: dict[int, LogEntry] = {}
    for entry in entries:
        by_seq.setdefault(entry.seq, entry)
    last = max(by_seq, default=0)
    problems: list[ChainProblem] = []
    for cp in checkpoints:
        name = f"checkpoint of entry {cp.seq} signed at {format_timestamp(cp.at)}"
        public = keyring.get(cp.key_id)
        if public is None:
            problems.append(
                ChainProblem(
                    ProblemKind.UNKNOWN_KEY,
                    cp.seq,
                    f"{name} names key {cp.key_id}, which is not in the station keyring",
                )
            )
            continue
        try:
            signed = signed_bytes(cp)
        except ValueError:
            signed = b""
        if not signed or not keys.verify(public, signed, cp.signature):
            problems.append(
                ChainProblem(
                    ProblemKind.BAD_SIGNATURE,
                    cp.seq,
                    f"{name} has a signature that does not verify: it was altered or forged",
                )
            )
            continue
        held = by_seq.get(cp.seq)
        if held is None and cp.seq > last:
            problems.append(
                ChainProblem(
                    ProblemKind.TRUNCATED,
                    cp.seq,
                    f"the custody log ends at entry {last} but the {name} vouches for entry "
                    f"{cp.seq}: entries were removed from the end",
                )
            )
        elif held is None:
            problems.append(
                ChainProblem(
                    ProblemKind.MISSING,
                    cp.seq,
                    f"custody entry {cp.seq}, vouched for by the {name}, is missing",
                )
            )
        elif held.digest != cp.head_digest:
            problems.append(
                ChainProblem(
                    ProblemKind.CHECKPOINT_MISMATCH,
                    cp.seq,
                    f"custody entry {cp.seq} differs from the {name}: "
                    f"the log up to entry {cp.seq} was rewritten",
                )
            )
    return problems


def verify_log(
    entries: Sequence[LogEntry],
    checkpoints: Sequence[Checkpoint],
    keyring: Mapping[str, Ed25519PublicKey],
) -> list[ChainProblem]:
    """Both checks together: what ``bodycam audit`` reports for the custody log."""
    return verify_chain(entries) + verify_checkpoints(entries, checkpoints, keyring)


# --------------------------------------------------------------------------- anchors


def _identity(cp: Checkpoint) -> tuple[int, str, datetime, str, bytes]:
    return (cp.seq, cp.head_digest, cp.at, cp.key_id, cp.signature)


def verify_anchors(rows: Sequence[Checkpoint],
                   files: Sequence[tuple[str, Checkpoint]]) -> list[ChainProblem]:
    """Every checkpoint row without its signed file and every signed file without its row.

    ``rows`` are the catalog's checkpoints (format and previous link are not stored there: only
    seq, head, time, key and signature are compared); ``files`` are (file name, checkpoint).
    """
    by_identity = {_identity(cp): name for name, cp in files}
    file_seqs = {cp.seq: name for name, cp in files}
    held = {_identity(cp) for cp in rows}
    problems: list[ChainProblem] = []
    seen: set[object] = set()
    for cp in rows:
        if _identity(cp) in seen:  # one signed statement, two rows: one was put in by hand
            problems.append(ChainProblem(
                ProblemKind.ANCHOR_MISSING, cp.seq, f"the catalog holds the checkpoint of entry "
                f"{cp.seq} signed at {format_timestamp(cp.at)} twice: a row was copied by hand"))
        seen.add(_identity(cp))
        if _identity(cp) in by_identity:
            continue
        name = f"the catalog's checkpoint of entry {cp.seq} signed at {format_timestamp(cp.at)}"
        if cp.seq in file_seqs:
            what = (f"differs from the signed checkpoint file {file_seqs[cp.seq]}: the row was "
                    "altered")
        else:
            what = ("has no signed checkpoint file: the file was deleted, or the row was put "
                    "into the catalog by hand")
        problems.append(ChainProblem(ProblemKind.ANCHOR_MISSING, cp.seq, f"{name} {what}"))
    for name, cp in files:
        if _identity(cp) not in held:
            problems.append(ChainProblem(
                ProblemKind.ANCHOR_UNRECORDED, cp.seq,
                f"the signed checkpoint file {name} (entry {cp.seq}) has no row in the catalog: "
                "the catalog's checkpoints were deleted or altered"))
    return problems


def verify_anchor_chain(files: Sequence[tuple[str, Checkpoint]]) -> list[ChainProblem]:
    """Every break in the chain of checkpoint files, given in signing order.

    A chained (``/2``) checkpoint must name the digest of the file before it (None for the first
    file); unchained (``/1``) files, signed before anchors existed, may only come first.
    """
    problems: list[ChainProblem] = []
    previous: tuple[str, Checkpoint] | None = None
    for name, cp in files:
        if cp.format == CHECKPOINT_FORMAT_V1:
            if previous is not None and previous[1].format != CHECKPOINT_FORMAT_V1:
                problems.append(ChainProblem(
                    ProblemKind.ANCHOR_LINK, cp.seq,
                    f"the checkpoint file {name} is unchained (format /1) but follows the "
                    f"chained file {previous[0]}: it was put back from an older copy"))
        else:
            expected = None if previous is None else checkpoint_digest(previous[1])
            if cp.previous_digest != expected:
                after = "the first" if previous is None else f"after {previous[0]}"
                problems.append(ChainProblem(
                    ProblemKind.ANCHOR_LINK, cp.seq,
                    f"the checkpoint file {name} does not chain to the checkpoint file before it "
                    f"(it is {after}): a checkpoint file was removed, reordered or replaced"))
        previous = (name, cp)
    return problems


def verify_heads(entries: Sequence[LogEntry], heads: Sequence[RecordedHead]) -> list[ChainProblem]:
    """Every custody-log head recorded in a signed manifest that the log no longer holds."""
    by_seq: dict[int, LogEntry] = {}
    for entry in entries:
        by_seq.setdefault(entry.seq, entry)
    last = max(by_seq, default=0)
    problems: list[ChainProblem] = []
    for head in heads:
        held = by_seq.get(head.seq)
        if held is None and head.seq > last:
            problems.append(ChainProblem(
                ProblemKind.TRUNCATED, head.seq,
                f"the custody log ends at entry {last} but {head.source} recorded entry "
                f"{head.seq} as its head when it was signed: entries were removed from the end"))
        elif held is None:
            problems.append(ChainProblem(
                ProblemKind.MISSING, head.seq,
                f"custody entry {head.seq}, recorded by {head.source} as the log's head when it "
                "was signed, is missing"))
        elif held.digest != head.digest:
            problems.append(ChainProblem(
                ProblemKind.HEAD_MISMATCH, head.seq,
                f"custody entry {head.seq} differs from the head {head.source} recorded when it "
                f"was signed: the log up to entry {head.seq} was rewritten"))
    return problems


# --------------------------------------------------------------------------- manifests


def verify_manifest_chain(manifests: Sequence[Manifest]) -> list[ChainProblem]:
    """Every broken link in one station's manifests, given in the order they were made.

    The first manifest must start the chain (no previous digest); each later one must name the
    digest of the one before it. A removed, reordered or swapped-in older manifest breaks at least
    one link. ``seq`` in each problem is the manifest's position, counted from 1. A dock may
    appear again only in a supplementary manifest (files recovery committed after its manifest).
    """
    problems: list[ChainProblem] = []
    previous: Manifest | None = None
    seen: dict[str, set[str]] = {}  # dock id -> digests of its manifests so far
    for position, manifest in enumerate(manifests, start=1):
        name = f"manifest {position} (dock {manifest.dock_id})"
        earlier = seen.setdefault(manifest.dock_id, set())
        if manifest.supplements is None and earlier:
            problems.append(
                ChainProblem(ProblemKind.DUPLICATE, position, f"{name} repeats a dock already listed")
            )
        if manifest.supplements is not None and manifest.supplements not in earlier:
            problems.append(
                ChainProblem(
                    ProblemKind.MANIFEST_LINK,
                    position,
                    f"{name} supplements a manifest that is not an earlier one of its dock",
                )
            )
        earlier.add(manifest_digest(manifest))
        expected = None if previous is None else manifest_digest(previous)
        if manifest.previous_digest != expected:
            if previous is None:
                what = "is first in the station's history but names a previous manifest"
            else:
                what = f"does not chain to the manifest of dock {previous.dock_id} before it"
            problems.append(
                ChainProblem(
                    ProblemKind.MANIFEST_LINK,
                    position,
                    f"{name} {what}: a manifest was removed, reordered or replaced",
                )
            )
        previous = manifest
    return problems
