"""``custody.fixity``: the hash pool's results, its errors, and the interpreter state it leaves."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from bodycam_ingest.custody.fixity import BUFFER, HashPool, hash_files


def test_results_come_in_the_order_given_and_a_missing_file_is_named(tmp_path: Path) -> None:
    paths = []
    for index, size in enumerate((0, 1, BUFFER - 1, BUFFER, BUFFER + 1, 3 * BUFFER + 7)):
        path = tmp_path / f"f{index}"
        path.write_bytes(bytes([index]) * size)
        paths.append(path)
    paths.insert(2, tmp_path / "absent")
    counted: list[int] = []
    results = list(hash_files(paths, workers=3, on_bytes=counted.append))
    assert [r.path for r in results] == paths
    for path, result in zip(paths, results, strict=True):
        if path.name == "absent":
            assert (result.sha256, result.error) == (None, "the stored file is missing")
        else:
            data = path.read_bytes()
            assert (result.sha256, result.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert sum(counted) == sum(r.size or 0 for r in results)


def test_a_batch_is_hashed_in_order(tmp_path: Path) -> None:
    paths = [tmp_path / f"f{i}" for i in range(5)]
    for i, path in enumerate(paths):
        path.write_bytes(b"x" * i)
    with HashPool(2) as pool:
        batch = pool.submit_batch([str(p) for p in paths]).result()
    assert [r.sha256 for r in batch] == [hashlib.sha256(b"x" * i).hexdigest() for i in range(5)]


def test_overlapping_pools_leave_the_switch_interval_as_they_found_it() -> None:
    before = sys.getswitchinterval()
    first, second = HashPool(1), HashPool(1)
    first.__enter__()
    second.__enter__()
    assert sys.getswitchinterval() < before
    first.__exit__(None, None, None)  # the first out must not restore while the second runs
    assert sys.getswitchinterval() < before
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == before
