"""The fixity scrub: a flipped byte raises an alert and fails the audit until the file is restored
and re-verified; the read rate is bounded (in fake time: nothing here depends on the machine)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

from helpers import StationEnv
from sqlalchemy import select

from bodycam_ingest.catalog.models import Event, Recording
from bodycam_ingest.catalog.retention_models import FixityCheck, JobRun
from bodycam_ingest.jobs.registry import run_job
from bodycam_ingest.jobs.scrub import RateLimiter, scrub
from bodycam_ingest.station import Station


class FakeTime:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _flip(path: Path, offset: int = 100) -> int:
    os.chmod(path, 0o644)
    with path.open("r+b") as handle:
        handle.seek(offset)
        original = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes([original ^ 0xFF]))
    return original


def _put(path: Path, value: int, offset: int = 100) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(bytes([value]))
    os.chmod(path, 0o444)


def _scrub_findings(env: StationEnv) -> list[dict[str, str]]:
    result = env.run("audit", "--json")
    assert result.returncode in (0, 9), result.stderr
    return [f for f in json.loads(result.stdout)["findings"] if f["section"] == "scrub"]


def test_a_flipped_byte_alerts_and_fails_the_audit_until_restored_and_rescrubbed(
        populated: StationEnv, open_station: Callable[..., Station]) -> None:
    station = open_station(populated)
    first = run_job(station, "fixity-scrub", "cli")
    assert first.outcome == "ok" and first.summary.startswith("2 stored file(s) re-hashed")
    with station.catalog.reading() as session:
        victim = session.scalars(select(Recording).order_by(Recording.id)).first()
        assert victim is not None
    path = station.store.root / victim.store_path
    original = _flip(path)
    try:
        result = run_job(station, "fixity-scrub", "cli")
        assert result.outcome == "alert"
        (alert,) = result.alerts
        for part in (f"recording {victim.id}", str(path), victim.sha256, "replica"):
            assert part in alert
        with station.catalog.reading() as session:
            latest = session.scalars(select(FixityCheck).where(
                FixityCheck.recording_id == victim.id).order_by(FixityCheck.id.desc())).first()
            assert latest is not None and not latest.ok and latest.source == "scrub"
            assert latest.sha256_seen not in (None, victim.sha256)
            alerts = list(session.scalars(select(Event.reason).where(Event.action == "alert")))
            runs = list(session.scalars(select(JobRun.outcome).where(
                JobRun.job == "fixity-scrub").order_by(JobRun.id)))
        assert alerts == [alert] and runs == ["ok", "alert"]
        station.close()  # the audit runs as its own process
        (finding,) = _scrub_findings(populated)
        assert finding["object"].startswith(f"recording {victim.id} ")
        assert "failed its latest fixity check" in finding["problem"]
    finally:
        _put(path, original)
    station = open_station(populated)
    again = run_job(station, "fixity-scrub", "cli")
    assert again.outcome == "ok", again.summary
    station.close()
    assert _scrub_findings(populated) == []


def test_the_scrub_reads_at_the_configured_rate_in_fake_time(
        populated: StationEnv, open_station: Callable[..., Station]) -> None:
    station = open_station(populated)
    fake = FakeTime()
    limiter = RateLimiter(10_000.0, clock=fake.clock, sleep=fake.sleep)  # 10 kB/s
    result = scrub(station, limiter=limiter, monotonic=fake.clock)
    with station.catalog.reading() as session:
        total = sum(session.scalars(select(Recording.size)))
    assert result.outcome == "ok"
    assert abs(fake.now - total / 10_000.0) < 1.0 + 1e-6  # burst credit: at most one second


def test_the_rate_limiter_sleeps_n_over_r_seconds() -> None:
    fake = FakeTime()
    limiter = RateLimiter(50e6, clock=fake.clock, sleep=fake.sleep)
    for _ in range(25):
        limiter.take(4_000_000)  # 100 MB at 50 MB/s
    assert abs(fake.now - 2.0) < 1e-9 and abs(limiter.slept - 2.0) < 1e-9
    unlimited = RateLimiter(None, clock=fake.clock, sleep=fake.sleep)
    unlimited.take(10**12)
    assert abs(fake.now - 2.0) < 1e-9


def test_a_time_budget_spreads_the_store_over_several_runs_oldest_first(
        populated: StationEnv, open_station: Callable[..., Station]) -> None:
    env = populated
    env.config_path.write_text(env.config_path.read_text()
                               + "\n[jobs]\nscrub_max_hours = 0.0002\n")  # 0.72 s of fake time
    station = open_station(env)
    with station.catalog.reading() as session:
        sizes: dict[int, int] = dict(session.execute(  # type: ignore[arg-type]
            select(Recording.id, Recording.size)).all())
    rate = min(sizes.values()) / 1.0  # each file takes at least a fake second

    def one_run() -> list[int]:
        fake = FakeTime()
        result = scrub(station, limiter=RateLimiter(rate, burst_s=0, clock=fake.clock,
                                                    sleep=fake.sleep), monotonic=fake.clock)
        assert "stopped early" in result.summary and "time budget" in result.summary
        with station.catalog.reading() as session:
            return list(session.scalars(select(FixityCheck.recording_id)
                                        .order_by(FixityCheck.id)))

    assert one_run() == [min(sizes)]  # one file per run: the budget ends the run after it
    assert one_run() == sorted(sizes)  # the next run takes the never-checked one
    assert one_run() == [*sorted(sizes), min(sizes)]  # then the one checked longest ago


def test_a_shutdown_stops_the_scrub_cleanly(
        populated: StationEnv, open_station: Callable[..., Station]) -> None:
    station = open_station(populated)
    cancel = threading.Event()
    cancel.set()
    result = scrub(station, cancel)
    assert result.outcome == "ok" and "shutting down" in result.summary
