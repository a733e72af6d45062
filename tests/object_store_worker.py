"""Run the station's replication worker until the queue is empty, holding mid-upload on request.

usage: object_store_worker.py CONFIG [HOLD_DIGEST HOLD_OFFSET MARKER]

With a hold, reading the stored file HOLD_DIGEST stops at HOLD_OFFSET bytes: the worker writes
MARKER and blocks there for ever, so the test kills it (kill -9) at exactly that point.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from bodycam_ingest.config import load_config
from bodycam_ingest.daemon import replication
from bodycam_ingest.station import Station
from bodycam_ingest.storage.local import LocalStore


class _Stop:
    def __init__(self, inner: BinaryIO, at: int, marker: Path) -> None:
        self.inner, self.at, self.marker, self.position = inner, at, marker, 0

    def read(self, size: int = -1) -> bytes:
        if self.position >= self.at:
            self.marker.write_text(str(self.position))
            while True:  # held here until the test's kill -9
                time.sleep(60)
        size = self.at - self.position if size < 0 else min(size, self.at - self.position)
        data = self.inner.read(max(size, 1))
        self.position += len(data)
        return data


def main() -> int:
    config = load_config(Path(sys.argv[1]))
    station = Station.open(config)
    hold = sys.argv[2:5]
    store_open = LocalStore(station.store).open_file

    @contextmanager
    def opener(digest: str) -> Iterator[BinaryIO]:
        with store_open(digest) as handle:
            if hold and digest == hold[0]:
                yield _Stop(handle, int(hold[1]), Path(hold[2]))  # type: ignore[misc]
            else:
                yield handle

    replicator = replication.build(station, opener)
    assert replicator is not None
    report = replicator.drain()
    print(f"stored={report.stored} retried={len(report.retried)} failed={report.failed}")
    station.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
