"""``custody.early``: the store hashed before the catalog is read; every file once, the files the
listing missed on request, and nothing left running or lowered."""

from __future__ import annotations

import hashlib
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from bodycam_ingest.custody import early
from bodycam_ingest.ingest.copier import HASH_CHUNK_SIZE


def _store(root: Path, sizes: Iterable[int]) -> dict[str, bytes]:
    """A content-addressed store (``sha256/ab/cd/<digest>``) holding one file per size."""
    files: dict[str, bytes] = {}
    for index, size in enumerate(sizes):
        data = bytes([index % 251]) * size + index.to_bytes(4, "big")
        digest = hashlib.sha256(data).hexdigest()
        path = root / "sha256" / digest[:2] / digest[2:4] / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files[str(path)] = data
    return files


def test_the_buffer_is_the_copiers() -> None:
    assert early.BUFFER == HASH_CHUNK_SIZE


def test_every_stored_file_is_hashed_once_and_a_file_not_listed_on_request(tmp_path: Path) -> None:
    files = _store(tmp_path / "store", (0, 1, early.BUFFER - 1, early.BUFFER, 3 * early.BUFFER + 7))
    outside = tmp_path / "elsewhere"
    outside.write_bytes(b"not in the listing")
    counted: list[int] = []
    with early.EarlyHashes(tmp_path / "store", workers=2) as hashes:
        hashes.attach(counted.append)
        for path, data in files.items():
            result = hashes.wait(path)
            assert result is not None
            assert (result.sha256, result.size, result.error) == (
                hashlib.sha256(data).hexdigest(), len(data), None)
            assert hashes.wait(path) == result  # asked twice: the same result, not a new hash
        assert hashes.wait(str(outside)) is None  # listed nowhere, asked for by no one
        hashes.require([*files, str(outside), str(tmp_path / "absent")])
        found = hashes.wait(str(outside))
        assert found is not None and found.sha256 == hashlib.sha256(b"not in the listing").hexdigest()
        absent = hashes.wait(str(tmp_path / "absent"))
        assert absent is not None and (absent.error, absent.stamp) == (
            "the stored file is missing", None)
    # each byte once: the listed files, then the one asked for (none of them hashed again)
    assert sum(counted) == sum(len(d) for d in files.values()) + len(b"not in the listing")


def test_the_stamp_is_the_file_as_it_was_opened(tmp_path: Path) -> None:
    files = _store(tmp_path, (10,))
    [path] = files
    with early.EarlyHashes(tmp_path, workers=1) as hashes:
        result = hashes.wait(path)
    assert result is not None and result.stamp == early.stamp_of(Path(path).stat())
    Path(path).write_bytes(b"changed")
    assert early.stamp_of(Path(path).stat()) != result.stamp


def test_a_file_listed_while_the_workers_wait_is_hashed(tmp_path: Path) -> None:
    """The listing held in progress (fault injection): the workers hash what it gave so far, and
    ``require`` waits for the listing to finish before deciding what it missed."""
    files = _store(tmp_path, (5, 6))
    first, second = files
    release = threading.Event()

    def held(_root: str) -> Iterable[early.Listed]:
        yield [(first, 5)]
        release.wait()
        yield [(second, 6)]

    with early.EarlyHashes(tmp_path, workers=2, lister=held) as hashes:
        assert hashes.wait(first) is not None  # hashed while the listing is held
        release.set()
        hashes.require([first, second])
        result = hashes.wait(second)
        assert result is not None and result.sha256 == hashlib.sha256(files[second]).hexdigest()


def test_take_hands_over_the_started_store_and_stops_any_other(tmp_path: Path) -> None:
    before = sys.getswitchinterval()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    other = early.start(tmp_path / "b")
    started = early.start(tmp_path / "a")
    early.ensure(tmp_path / "a")  # already started: not a second time
    assert sys.getswitchinterval() < before
    taken = early.take(str(tmp_path / "a" / "."))
    assert taken is started and other._closed and not taken._closed
    again = early.take(tmp_path / "a")  # nothing left to take: a new one
    assert again is not started
    for hashes in (taken, again):
        hashes.close()
    early.stop_all()
    assert sys.getswitchinterval() == before


def test_stop_all_stops_what_no_audit_took(tmp_path: Path) -> None:
    before = sys.getswitchinterval()
    left = early.start(tmp_path)
    early.stop_all()
    assert left._closed and sys.getswitchinterval() == before
    assert left.wait(str(tmp_path / "x")) is None


def test_small_files_are_taken_in_batches_and_a_large_one_alone(tmp_path: Path) -> None:
    """What the workers take at a time: up to BATCH_FILES small files, a file over BATCH_BYTES
    alone (so both cores hash the large ones)."""
    taken: list[list[str]] = []
    release = threading.Event()

    class Recording(early.EarlyHashes):
        def _take(self) -> list[str] | None:
            release.wait()  # hold the workers until everything is listed (fault injection)
            batch = super()._take()
            if batch is not None:
                taken.append(batch)
            return batch

    small = [(str(tmp_path / f"s{i}"), 10) for i in range(early.BATCH_FILES + 1)]
    large = [(str(tmp_path / f"l{i}"), early.BATCH_BYTES) for i in range(2)]

    def listing(_root: str) -> Iterable[early.Listed]:
        yield small
        yield large

    with Recording(tmp_path, workers=1, lister=listing) as hashes:
        assert hashes.wait(str(tmp_path / "unlisted")) is None  # once the listing is done
        release.set()
        assert hashes.wait(large[-1][0]) is not None  # missing files: hashed (to an error)
    # the 257th small one goes without the large one after it (over BATCH_BYTES together)
    assert [len(b) for b in taken] == [early.BATCH_FILES, 1, 1, 1]
