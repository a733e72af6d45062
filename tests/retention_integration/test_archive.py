"""Long-term copies (R2: "a burned disc or a dedicated disk"): ``bodycam archive`` copies exactly
the long-term recordings, bit for bit, into a signed BagIt package on a second medium that
sha256sum, bagit and openssl verify; it records them as replicas only once they read back from
the medium; a second run copies nothing; the audit wants a verified replica for every long-term
recording, and finds a missing replica file; ``archive verify`` finds a flipped byte.

The "second medium" is a folder in /dev/shm (a tmpfs: another filesystem than the temporary
station's); the tiers are written directly (as the tier part would), so only the schema is shared.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bagit
import pytest
from helpers import StationEnv
from sweep_support import (
    Clock,
    corrupt,
    dock,
    label,
    make_env,
    open_station,
    openssl_verifies,
    set_case_tier,
    set_recording_tier,
)

from bodycam_ingest.retention.archive import space_needed

SHM = Path("/dev/shm")


@pytest.fixture
def medium(tmp_path: Path) -> Iterator[Path]:
    """A folder on another filesystem than the station (tmpfs), removed afterwards."""
    if not SHM.is_dir() or SHM.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on another filesystem than the temporary directory")
    folder = Path(tempfile.mkdtemp(prefix="bodycam-medium-", dir=SHM))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def env(tmp_path: Path) -> StationEnv:
    """Four recordings: 1 long-term (own tier), 2 standard, 3 long-term through its case,
    4 evidence."""
    env = make_env(tmp_path / "station")
    station = open_station(env, Clock(datetime.now(UTC)))
    try:
        ids = dock(station, tmp_path, segments=4)
        assert ids == [1, 2, 3, 4]
        set_recording_tier(station, 1, "long_term", "dispute:complaint")
        label(station, [3], "人社监察[2026]7号")
        set_case_tier(station, "人社监察[2026]7号", "long_term", "dispute:assault")
        set_recording_tier(station, 4, "evidence", "case 人社监察[2026]9号")
    finally:
        station.close()
    return env


def archive(env: StationEnv, *args: str, code: int = 0) -> dict[str, Any]:
    result = env.run("archive", *args, "--json")
    assert result.returncode == code, (result.stdout, result.stderr)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def audit(env: StationEnv) -> dict[str, Any]:
    result = env.run("audit", "--json")
    assert result.returncode in (0, 9), result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def findings(report: dict[str, Any], section: str = "replicas") -> list[str]:
    return [f"{f['object']}: {f['problem']}" for f in report["findings"]
            if f["section"] == section]


def sql(env: StationEnv, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(env.db) as db:
        return db.execute(statement, params).fetchall()


def stored_sha256(env: StationEnv, recording_id: int) -> str:
    return str(sql(env, "SELECT sha256 FROM recordings WHERE id = ?", recording_id)[0][0])


def sha256sum(path: Path) -> str:
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
    return out.stdout.split()[0]


def test_archive_copies_exactly_the_long_term_recordings_into_a_verifiable_signed_package(
        env: StationEnv, medium: Path) -> None:
    before = audit(env)
    assert before["checked"]["replicas"] == 2
    assert [f.split(":")[0] for f in findings(before)] == ["recording 1", "recording 3"]
    assert "dispute:complaint" in findings(before)[0]
    assert "人社监察[2026]7号" in findings(before)[1]

    result = archive(env, "--tier", "long_term", "--to", str(medium), "--label", "DISC-0001")
    assert result["recordings"] == [1, 3] and result["skipped"] == []
    package = Path(result["target"])
    assert package.parent == medium and package.name.startswith("test-station-archive-1-")
    assert [p.name for p in medium.iterdir()] == [package.name]  # no partial folder left
    for recording_id in (1, 3):
        (copy,) = package.glob(f"data/recordings/{recording_id}/**/*.MP4")
        assert sha256sum(copy) == stored_sha256(env, recording_id)
    assert not list(package.glob("data/recordings/2")) and not list(package.glob("data/recordings/4"))

    assert subprocess.run(["sha256sum", "-c", "--strict", "manifest-sha256.txt"], cwd=package,
                          capture_output=True, check=False).returncode == 0
    bagit.Bag(str(package)).validate()  # raises BagValidationError on any problem
    (key,) = package.glob("data/keys/keyring/*.pub")
    assert openssl_verifies(key, package / "tagmanifest-sha256.txt",
                            package / "tagmanifest-sha256.txt.sig")
    assert "openssl pkeyutl -verify" in (package / "README.txt").read_text()

    rows = sql(env, "SELECT recording_id, archive_id, verified_at IS NOT NULL FROM "
                    "retention_replicas ORDER BY recording_id")
    assert rows == [(1, 1, 1), (3, 1, 1)]
    log = env.run("log", "1", "--json", check=True)
    assert "recording_archived" in {e["action"] for e in json.loads(log.stdout)}

    again = archive(env, "--tier", "long_term", "--to", str(medium))
    assert again["archive_id"] is None and again["recordings"] == []
    assert len(list(medium.iterdir())) == 1
    after = audit(env)
    assert after["checked"]["replicas"] == 2
    assert after["findings"] == [], after["findings"]

    evidence = archive(env, "--tier", "evidence", "--to", str(medium))
    assert evidence["recordings"] == [4]


def test_a_flipped_byte_in_a_replica_is_found_by_archive_verify_and_archived_again(
        env: StationEnv, medium: Path) -> None:
    package = Path(archive(env, "--tier", "long_term", "--to", str(medium))["target"])
    ok = archive(env, "verify", "1")
    assert [a["ok"] for a in ok["archives"]] == [True]
    (copy,) = package.glob("data/recordings/3/**/*.MP4")
    corrupt(copy)

    report = archive(env, "verify", "--all", code=9)
    (checked,) = report["archives"]
    damaged = [r for r in checked["replicas"] if r["problem"]]
    assert [r["recording_id"] for r in damaged] == [3]
    assert sql(env, "SELECT recording_id FROM events WHERE action = 'replica_damaged'") == [(3,)]
    assert [f.split(":")[0] for f in findings(audit(env))] == ["recording 3"]

    again = archive(env, "--tier", "long_term", "--to", str(medium))
    assert again["recordings"] == [3]
    assert findings(audit(env)) == []


def test_the_audit_finds_a_missing_replica_and_notes_an_unreachable_medium(
        env: StationEnv, medium: Path, tmp_path: Path) -> None:
    package = Path(archive(env, "--tier", "long_term", "--to", str(medium))["target"])
    (copy,) = package.glob("data/recordings/1/**/*.MP4")
    copy.unlink()
    problems = findings(audit(env))
    assert len(problems) == 1 and "replica of recording 1" in problems[0]
    assert "is missing" in problems[0]

    shutil.move(package, medium / "elsewhere")  # the disc is on the shelf
    report = audit(env)
    assert findings(report) == []
    assert any("not reachable" in note and "archive 1" in note for note in report["notes"])

    shutil.move(medium / "elsewhere", package)
    signed = package / "tagmanifest-sha256.txt"
    signed.write_text(signed.read_text().replace("  README.txt", "  README.TXT"))
    assert any("signature" in p for p in findings(audit(env)))


def test_an_archive_is_refused_without_a_usable_second_medium(env: StationEnv,
                                                              tmp_path: Path) -> None:
    missing = env.run("archive", "--tier", "long_term", "--to", str(tmp_path / "no-disc"))
    assert missing.returncode == 4 and "does not exist" in missing.stderr

    same = tmp_path / "same-disk"
    same.mkdir()
    refused = env.run("archive", "--tier", "long_term", "--to", str(same))
    assert refused.returncode == 5 and "same filesystem as the evidence store" in refused.stderr
    assert list(same.iterdir()) == []
    assert sql(env, "SELECT count(*) FROM retention_archives") == [(0,)]

    forced = env.run("archive", "--tier", "long_term", "--to", str(same), "--same-device-ok")
    assert forced.returncode == 0, forced.stderr
    assert "WARNING" in forced.stderr and "not on a second medium" in forced.stderr
    (details,) = sql(env, "SELECT details FROM events WHERE action = 'archive_finished'")
    assert json.loads(details[0])["same_device"] is True
    problems = findings(audit(env))
    assert len(problems) == 2 and all("own filesystem" in p for p in problems)


def test_space_needed_keeps_a_margin_beyond_the_originals() -> None:
    assert space_needed([]) == (64 * 1024 * 1024, 64 * 1024 * 1024)
    assert space_needed([10**10, 10**10]) == (2 * 10**10 + 2 * 10**8, 2 * 10**8)


@pytest.mark.root
def test_an_archive_larger_than_the_free_space_is_refused_before_any_copy(
        env: StationEnv, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    small = tmp_path / "small-disc"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        result = env.run("archive", "--tier", "long_term", "--to", str(small))
        assert result.returncode == 8, result.stderr
        assert "Not enough space" in result.stderr and "Nothing was written" in result.stderr
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=False)


CRASH = """
import os, signal, sys
from pathlib import Path
from bodycam_ingest.config import load_config
from bodycam_ingest.retention import archive
from bodycam_ingest.retention.tiers import Tier
from bodycam_ingest.station import Station

def die(phase, n, total):
    if phase == "verify":  # every copy written, nothing verified or recorded yet
        os.kill(os.getpid(), signal.SIGKILL)

station = Station.open(load_config(Path(sys.argv[1])))
archive.run(station, archive.ArchiveRequest(tier=Tier.LONG_TERM, directory=Path(sys.argv[2]),
                                            label=None, actor="crash"), progress=die)
"""


def test_an_archive_killed_before_verification_leaves_no_replica_and_is_redone(
        env: StationEnv, medium: Path) -> None:
    killed = subprocess.run([sys.executable, "-c", CRASH, str(env.config_path), str(medium)],
                            capture_output=True, text=True, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (partial,) = medium.iterdir()
    assert partial.name.startswith(".test-station-archive-1-") and partial.name.endswith(".partial")
    assert sql(env, "SELECT count(*) FROM retention_replicas") == [(0,)]
    report = audit(env)
    assert len(findings(report)) == 2  # still no replica of 1 or 3
    assert any("never finished" in note for note in report["notes"])
    foreign = medium / ".someone-elses.partial"
    foreign.mkdir()

    result = archive(env, "--tier", "long_term", "--to", str(medium))
    assert result["archive_id"] == 2 and result["recordings"] == [1, 3]
    assert any(str(partial) in note and "removed" in note for note in result["notes"])
    assert any("left in place" in note for note in result["notes"])
    assert sorted(p.name for p in medium.iterdir()) == sorted(
        [foreign.name, Path(result["target"]).name])
    assert findings(audit(env)) == []


def test_archive_tier_standard_and_all_give_everything_a_second_copy(env: StationEnv,
                                                                       medium: Path) -> None:
    """R2 keeps standard recordings at least 2 years: they get a verified second copy too."""
    standard = archive(env, "--tier", "standard", "--to", str(medium))
    assert standard["recordings"] == [2] and standard["tier"] == "standard"
    everything = archive(env, "--all", "--to", str(medium))
    assert everything["recordings"] == [1, 3, 4] and everything["tier"] == "all"
    again = archive(env, "--all", "--to", str(medium))
    assert again["archive_id"] is None and again["recordings"] == []
    with sqlite3.connect(env.db) as db:
        replicas = sorted(r for (r,) in db.execute("SELECT recording_id FROM retention_replicas"))
        tiers = [t for (t,) in db.execute("SELECT tier FROM retention_archives ORDER BY id")]
    assert replicas == [1, 2, 3, 4] and tiers == ["standard", "all"]
    both = env.run("archive", "--tier", "standard", "--all", "--to", str(medium))
    assert both.returncode == 2 and "not both" in both.stderr
