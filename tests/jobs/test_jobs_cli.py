"""`bodycam jobs run` exit codes (0 ok, 1 alert, 7 failed, 5 already running, 2 unknown job);
`bodycam jobs list` and `bodycam status` show each job's last result."""

from __future__ import annotations

import json

from helpers import StationEnv
from jobs_support import with_jobs

from bodycam_ingest.ingest.locks import try_lock


def test_jobs_run_exit_codes_and_jobs_list(populated: StationEnv) -> None:
    ok = populated.run("jobs", "run", "fixity-scrub", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["outcome"] == "ok"

    lock = try_lock(populated.root / "state" / "run" / "locks" / "job-catalog-backup.lock")
    assert lock is not None
    with lock:  # another process is running the backup
        busy = populated.run("jobs", "run", "catalog-backup")
    assert busy.returncode == 5 and "already running" in busy.stderr

    unknown = populated.run("jobs", "run", "defrag")
    assert unknown.returncode == 2 and "fixity-scrub" in unknown.stderr

    blocker = populated.root / "not-a-dir"
    blocker.write_text("")
    with_jobs(populated, f'[jobs]\nbackup_dir = "{blocker / "b"}"')
    failed = populated.run("jobs", "run", "catalog-backup", "--json")
    assert failed.returncode == 7, failed.stderr
    assert json.loads(failed.stdout)["outcome"] == "failed"
    assert "ALERT [catalog-backup] job catalog-backup failed" in failed.stderr

    listing = {item["job"]: item for item in json.loads(
        populated.run("jobs", "list", "--json", check=True).stdout)}
    assert set(listing) == {"retention-sweep", "fixity-scrub", "deadline-check", "catalog-backup"}
    assert listing["fixity-scrub"]["last_run"]["outcome"] == "ok"
    assert listing["fixity-scrub"]["schedule"] == "0 3 * * 0"
    assert listing["catalog-backup"]["last_run"]["outcome"] == "failed"
    assert listing["deadline-check"]["last_run"] is None
    assert listing["deadline-check"]["next_run"] is None  # the daemon never ran here
    status = json.loads(populated.run("status", "--json", check=True).stdout)
    assert [j["job"] for j in status["jobs"]] == list(listing)
    table = populated.run("status", check=True).stdout
    assert "Jobs" in table and "fixity-scrub" in table and "daemon not started" in table


def test_jobs_run_exits_1_when_it_raised_alerts(populated: StationEnv) -> None:
    store = populated.stored_files()
    store[0].chmod(0o644)
    store[0].write_bytes(b"not the recording any more")
    result = populated.run("jobs", "run", "fixity-scrub")
    assert result.returncode == 1, result.stderr
    assert "fails its fixity check" in result.stdout.replace("\n", " ") or \
        "fails its fixity check" in result.stderr
