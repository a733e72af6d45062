"""`bodycam doctor`: each fact judged with its fix (pure), and the command on a temporary station.
The faults injected on a real installed station are in tests/test_station_install.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from helpers import StationEnv

from bodycam_ingest import doctor
from bodycam_ingest.config import parse_config
from bodycam_ingest.errors import ExitCode


def _facts(**changes: object) -> doctor.Facts:
    config = parse_config({"station": {"id": "s"}, "cameras": [
        {"name": "c", "fs_labels": ["BODYCAM*"], "fs_types": ["vfat"]}]})
    state = Path("/var/lib/bodycam")

    def ok(path: Path, mode: int, owner: str = "bodycam") -> doctor.PathFacts:
        return doctor.PathFacts(path, True, owner, "bodycam", mode)

    facts = doctor.Facts(
        config_path=Path("/etc/bodycam/config.toml"),
        config_file=ok(Path("/etc/bodycam/config.toml"), 0o640, "root"),
        config_dir=ok(Path("/etc/bodycam"), 0o750, "root"), config=config, config_error=None,
        service_user="bodycam", service_user_exists=True, state_dir=ok(state, 0o700),
        store_dir=ok(state / "evidence", 0o750), staging_dir=ok(state / "staging", 0o750),
        catalog_file=ok(state / "catalog.sqlite3", 0o600),
        station_key=ok(state / "keys" / "station.key", 0o600),
        stored_files=[ok(state / "evidence/sha256/ab/cd/abcd", 0o440)], udev_running=True,
        fuse_tools={"vfat": True}, clock_synced=True, clock_source="chrony",
        free_bytes=10 * 2**30, systemd_pid1=False)
    for key, value in changes.items():
        setattr(facts, key, value)
    return facts


def _by_name(facts: doctor.Facts) -> dict[str, doctor.Check]:
    return {c.name: c for c in doctor.evaluate(facts)}


def test_a_well_installed_station_passes_and_units_are_not_applicable_without_systemd() -> None:
    checks = doctor.evaluate(_facts())
    assert {c.status for c in checks} == {"ok", "n/a"}
    assert doctor.exit_code(checks, None) is ExitCode.OK


def test_each_fault_fails_its_line_with_the_fix() -> None:
    base = _facts()
    cases = {
        "config file": ({"config_file": replace(base.config_file, group="root")},
                        "chown root:bodycam /etc/bodycam/config.toml"),
        "station key": ({"station_key": replace(base.station_key, mode=0o644)},  # type: ignore[type-var]
                        "chmod 0600 /var/lib/bodycam/keys/station.key"),
        "udev": ({"udev_running": False}, "systemd-udevd --daemon"),
        "free space": ({"free_bytes": 1}, "free_space_reserve"),
        "fusefat": ({"fuse_tools": {"vfat": False}}, "apt-get install fusefat"),
        "clock": ({"clock_synced": False}, "set-ntp true"),
        "stored evidence": ({"stored_files": [replace(base.stored_files[0], mode=0o444)]},
                            "chmod 0440"),
        "catalog": ({"catalog_file": replace(base.catalog_file, mode=0o644)},  # type: ignore[type-var]
                    "chmod 0600"),
    }
    for name, (changes, fix) in cases.items():
        checks = doctor.evaluate(_facts(**changes))
        line = {c.name: c for c in checks}[name]
        assert line.status == "fail" and fix in str(line.fix), (name, line)
        assert doctor.exit_code(checks, None) is ExitCode.FINDINGS


def test_unknown_clock_units_under_systemd_and_a_calendar_gap() -> None:
    assert _by_name(_facts(clock_synced=None))["clock"].status == "unknown"
    timers = dict.fromkeys(doctor.JOB_TIMERS.values(), False)
    under_systemd = _by_name(_facts(systemd_pid1=True,
                                    enabled_units={"bodycam.service": False, **timers}))
    assert under_systemd["bodycam.service"].fix == "sudo systemctl enable --now bodycam"
    assert under_systemd["bodycam-fixity-scrub.timer"].status == "ok"  # the daemon runs it
    gap = _by_name(_facts(calendar_problem="the holiday calendar does not cover 2031"))
    assert gap["holiday calendar"].status == "warn"
    assert doctor.exit_code(list(gap.values()), None) is ExitCode.WARNING


def test_doctor_on_a_temporary_station_reports_json_and_its_exit_code(
        station: StationEnv) -> None:
    import getpass

    user = getpass.getuser()
    result = station.run("doctor", "--json", "--service-user", user)
    report = json.loads(result.stdout)
    checks = {c["check"]: c for c in report["checks"]}
    assert result.returncode == report["exit_code"] == 9  # a test config is not root:<group> 0640
    assert checks["config"]["status"] == "ok"
    assert checks["config file"]["status"] == "fail"
    assert checks["station key"]["status"] == "ok", checks["station key"]
    broken = station.root / "broken.toml"
    broken.write_text("[station]\n")
    bad = station.run("doctor", "--json", "--config", str(broken))
    assert bad.returncode == 3 and json.loads(bad.stdout)["checks"][0]["status"] == "fail"
