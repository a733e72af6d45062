"""Anchors: what the custody log is checked against that someone who can write the catalog (but
cannot read the station key) cannot change.

Checkpoint files, in ``<manifest dir>/checkpoints/`` for a checkpoint of entry N whose digest is H::

    N-H.json   the checkpoint's signed bytes (``chain.checkpoint_bytes``, RFC 8785), which carry
               the SHA-256 of the previous checkpoint file's .json (the chain of anchors)
    N-H.sig    detached raw Ed25519 signature (64 bytes):
               openssl pkeyutl -verify -pubin -inkey station.pub -rawin -in N-H.json -sigfile N-H.sig

Each is written atomically (temp + fsync + rename + dir fsync), mode 0440, before the transaction
that records the checkpoint's catalog row commits. Signed dock and deletion manifests carry the
custody log's head (``custody_log_head``: seq and digest) at their signing. The audit requires
the catalog to agree with every anchor (``chain.verify_anchors``, ``verify_anchor_chain``,
``verify_heads``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bodycam_ingest.custody import keys
from bodycam_ingest.custody.chain import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_FORMAT_V1,
    CHECKPOINT_FORMATS,
    Checkpoint,
    RecordedHead,
    checkpoint_bytes,
    signed_bytes,
)
from bodycam_ingest.custody.files import fsync_dir, write_atomic
from bodycam_ingest.custody.manifest import load_strict_json, parse_timestamp

DIRECTORY = "checkpoints"
FILE_MODE = 0o440
HEAD_KEY = "custody_log_head"  # in signed dock and deletion manifests: {"seq": n, "sha256": hex}
_NAME = re.compile(r"(\d{1,18})-([0-9a-f]{64})\.json", re.ASCII)
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
_KEYS = {CHECKPOINT_FORMAT_V1: {"format", "seq", "head_digest", "at", "key_id"},
         CHECKPOINT_FORMAT: {"format", "seq", "head_digest", "at", "key_id",
                             "previous_checkpoint_sha256"}}


def directory_of(manifest_dir: Path) -> Path:
    return manifest_dir / DIRECTORY


def file_stem(cp: Checkpoint) -> str:
    return f"{cp.seq}-{cp.head_digest}"


def head_json(seq: int, digest: str) -> dict[str, Any]:
    """What a signed manifest records as the custody log's head at its signing."""
    return {"seq": seq, "sha256": digest}


# --------------------------------------------------------------------------- writing


def write_checkpoint(directory: Path, cp: Checkpoint) -> Path:
    """Write ``cp`` as ``N-H.json`` + ``N-H.sig`` (atomic, durable); returns the .json path."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    stem = file_stem(cp)
    # the .sig first: a checkpoint exists once its .json does (a lone .sig is never listed)
    write_atomic(directory / f"{stem}.sig", cp.signature, FILE_MODE, sync_dir=False)
    write_atomic(directory / f"{stem}.json", signed_bytes(cp), FILE_MODE)
    return directory / f"{stem}.json"


def backfill(directory: Path, rows: Sequence[Checkpoint]) -> int:
    """An upgraded station's first anchors: a ``/1`` file for every checkpoint row signed before
    anchors existed, so the anchors start where the history starts. Built in a temporary folder
    renamed into place, so a crash never leaves half of them (the next checkpoint starts over).
    A row whose signature does not verify as ``/1`` still gets its file: the audit reports it."""
    staging = directory.with_name(f".{directory.name}.upgrade")
    if staging.exists():
        shutil.rmtree(staging)  # our own, from an upgrade interrupted before its rename
    staging.mkdir(mode=0o700, parents=True)
    for row in rows:
        legacy = Checkpoint(row.seq, row.head_digest, row.at, row.key_id, row.signature, None,
                            CHECKPOINT_FORMAT_V1)
        write_checkpoint(staging, legacy)
    fsync_dir(staging)
    os.rename(staging, directory)
    fsync_dir(directory.parent)
    return len(rows)


# --------------------------------------------------------------------------- reading


def parse_checkpoint(data: bytes, signature: bytes) -> Checkpoint:
    """A checkpoint file's bytes (and its .sig) to a ``Checkpoint``; ``ValueError`` unless they
    are one canonical checkpoint document."""
    value = load_strict_json(data.decode("utf-8"))
    if not isinstance(value, dict) or value.get("format") not in CHECKPOINT_FORMATS:
        raise ValueError(f"not a checkpoint document (format is not one of {CHECKPOINT_FORMATS})")
    expected = _KEYS[value["format"]]
    if set(value) != expected:
        raise ValueError(f"its keys are {sorted(value)}, expected {sorted(expected)}")
    seq, head, at, key_id = value["seq"], value["head_digest"], value["at"], value["key_id"]
    previous = value.get("previous_checkpoint_sha256")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ValueError("its seq is not a positive integer")
    if not isinstance(head, str) or not _HEX64.fullmatch(head):
        raise ValueError("its head_digest is not 64 lowercase hex digits")
    if previous is not None and (not isinstance(previous, str) or not _HEX64.fullmatch(previous)):
        raise ValueError("its previous_checkpoint_sha256 is not 64 lowercase hex digits or null")
    if not isinstance(at, str) or not isinstance(key_id, str):
        raise ValueError("its at or key_id is not a string")
    cp = Checkpoint(seq, head, parse_timestamp(at), key_id, signature, previous, value["format"])
    if checkpoint_bytes(cp.seq, cp.head_digest, cp.at, cp.key_id, previous=previous,
                        format=cp.format) != data:
        raise ValueError("its bytes are not in canonical form (it was edited)")
    return cp


def read_checkpoint(path: Path) -> Checkpoint:
    """``ValueError`` or ``OSError`` when the file or its .sig is unreadable or not canonical."""
    cp = parse_checkpoint(path.read_bytes(), path.with_suffix(".sig").read_bytes())
    if path.name != f"{file_stem(cp)}.json":
        raise ValueError(f"it holds the checkpoint of entry {cp.seq}, not the one its name says")
    return cp


def checkpoint_paths(directory: Path) -> list[Path]:
    """The checkpoint files (.json) in signing order (by the entry they vouch for)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = [(int(m.group(1)), name) for name in names if (m := _NAME.fullmatch(name))]
    return [directory / name for _, name in sorted(found)]


def read_all(directory: Path) -> tuple[list[tuple[str, Checkpoint]], list[tuple[str, str]]]:
    """Every readable checkpoint file as (name, checkpoint), in signing order, and every
    unreadable one as (name, problem)."""
    good: list[tuple[str, Checkpoint]] = []
    bad: list[tuple[str, str]] = []
    for path in checkpoint_paths(directory):
        try:
            good.append((path.name, read_checkpoint(path)))
        except OSError as exc:
            bad.append((path.name, f"cannot be read ({exc.strerror}: {exc.filename})"))
        except (ValueError, RecursionError) as exc:
            bad.append((path.name, f"is not a valid checkpoint file: {exc}"))
    return good, bad


def latest(directory: Path) -> tuple[str, Checkpoint] | None:
    """The last readable checkpoint file (what the next checkpoint chains to), or None."""
    for path in reversed(checkpoint_paths(directory)):
        with contextlib.suppress(OSError, ValueError, RecursionError):
            return path.name, read_checkpoint(path)
    return None


def _signed_documents(manifest_dir: Path) -> Iterable[tuple[str, Path]]:
    for path in sorted(manifest_dir.glob("*.json")):
        yield f"dock manifest {path.name}", path
    for path in sorted((manifest_dir / "deletions").glob("*.json")):
        yield f"deletion manifest {path.name}", path


def recorded_heads(manifest_dir: Path,
                   keyring: Mapping[str, Ed25519PublicKey]) -> list[RecordedHead]:
    """The custody-log head each signed dock and deletion manifest recorded at its signing.

    Only manifests whose signature verifies count (a forged one is no anchor; the manifests and
    retention sections report it); manifests older than anchors have no head.
    """
    heads: list[RecordedHead] = []
    for source, path in _signed_documents(manifest_dir):
        try:
            data = path.read_bytes()
            signature = path.with_suffix(".sig").read_bytes()
        except OSError:
            continue  # reported by the manifests or retention section
        if not any(keys.verify(key, data, signature) for key in keyring.values()):
            continue
        try:
            value = load_strict_json(data.decode("utf-8"))
        except (ValueError, RecursionError):
            continue
        head = value.get(HEAD_KEY) if isinstance(value, dict) else None
        if isinstance(head, dict) and isinstance(head.get("seq"), int) and \
                isinstance(head.get("sha256"), str):
            heads.append(RecordedHead(source, head["seq"], head["sha256"]))
    return heads


def anchor_files(manifest_dir: Path) -> list[Path]:
    """Every file that anchors the custody history outside the catalog: checkpoint files and
    signed dock and deletion manifests with their signatures (what an object store should hold a
    copy of; issue 12)."""
    found: list[Path] = []
    for path in checkpoint_paths(directory_of(manifest_dir)):
        found += [path, path.with_suffix(".sig")]
    for _, path in _signed_documents(manifest_dir):
        found += [p for p in (path, path.with_suffix(".sig"), path.with_suffix(".sha256"))
                  if p.exists()]
    return found
