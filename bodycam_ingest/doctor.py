"""``bodycam doctor``: is this station installed and running as it should, and what fixes it.

Two halves. ``gather`` is the edge: it looks at the machine (stat, pwd, /proc, udev's control
socket, timedatectl or chrony, statvfs, systemctl) and returns plain ``Facts``; it never changes
anything. ``evaluate`` is pure: facts in, one ``Check`` per line out, each failing line with the
command that fixes it. The expected layout is the one ``scripts/install-station.sh`` makes:

    config file           root:<service group> 0640   (dir root:<service group> 0750)
    state dir             <service user> 0700 (nobody else may even list it)
    store, staging        <service user>, nothing for others
    catalog (SQLite)      <service user> 0600
    catalog (PostgreSQL)  reachable, schema at this release's revision
    station key           <service user> 0600
    stored evidence       <service user> 0440 (read-only, never for others)

Status of a line: ok, warn, fail, n/a (not applicable here, e.g. units when systemd is not PID 1),
unknown (cannot be told, e.g. no clock-sync tool). Exit code (README "Exit codes"): 0 nothing
failed, 1 only warnings, 3 the config cannot be read or is invalid, 9 a check failed.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Literal

from bodycam_ingest.config import Config, load_config
from bodycam_ingest.errors import BodycamError, ExitCode

Status = Literal["ok", "warn", "fail", "n/a", "unknown"]
SERVICE_USER = "bodycam"
UNITS = ("bodycam.service",)
JOB_TIMERS = {"retention_sweep": "bodycam-retention-sweep.timer",
              "fixity_scrub": "bodycam-fixity-scrub.timer",
              "deadline_check": "bodycam-deadline-check.timer",
              "catalog_backup": "bodycam-catalog-backup.timer"}
FUSE_FOR = {"vfat": ("fusefat", ("fusefat",)),
            "exfat": ("exfat-fuse", ("mount.exfat-fuse", "exfat-fuse"))}
STORE_SAMPLE = 2000  # stored files whose owner and mode are looked at (the first, by path)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {"check": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class PathFacts:
    """What stat says about a path: None fields when it does not exist or cannot be looked at."""

    path: Path
    exists: bool
    owner: str | None = None
    group: str | None = None
    mode: int | None = None
    error: str | None = None  # why it could not be looked at (EACCES)


@dataclass(frozen=True)
class CatalogServer:
    """What a PostgreSQL catalog answered: its address (no password), the schema revision it
    holds and the one this release expects, or why it could not be asked."""

    where: str
    error: str | None = None
    revision: str | None = None
    expected: str | None = None
    known: tuple[str, ...] = ()  # every revision this release can migrate from


@dataclass
class Facts:
    config_path: Path
    config_file: PathFacts
    config_dir: PathFacts
    config: Config | None
    config_error: str | None
    service_user: str
    service_user_exists: bool
    state_dir: PathFacts | None = None
    store_dir: PathFacts | None = None
    staging_dir: PathFacts | None = None
    catalog_file: PathFacts | None = None  # None: not SQLite
    catalog_server: CatalogServer | None = None  # None: not PostgreSQL
    station_key: PathFacts | None = None
    stored_files: list[PathFacts] = field(default_factory=list)
    udev_running: bool | None = None
    fuse_tools: dict[str, bool] = field(default_factory=dict)  # fstype -> tool installed
    dev_fuse: bool = True
    clock_synced: bool | None = None  # None: unknown
    clock_source: str = "none"
    free_bytes: int | None = None
    systemd_pid1: bool = False
    enabled_units: dict[str, bool] = field(default_factory=dict)
    calendar_problem: str | None = None


# ---- the edge: look at the machine -----------------------------------------------------------

def _name(lookup: str, ident: int) -> str:
    try:
        return pwd.getpwuid(ident).pw_name if lookup == "user" else grp.getgrgid(ident).gr_name
    except KeyError:
        return str(ident)


def look(path: Path) -> PathFacts:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return PathFacts(path, exists=False)
    except OSError as exc:
        return PathFacts(path, exists=False, error=exc.strerror or str(exc))
    return PathFacts(path, exists=True, owner=_name("user", info.st_uid),
                     group=_name("group", info.st_gid), mode=stat.S_IMODE(info.st_mode))


def _stored_sample(store: Path, limit: int = STORE_SAMPLE) -> list[PathFacts]:
    found: list[PathFacts] = []
    base = store / "sha256"
    try:
        for top, dirs, files in os.walk(base):
            dirs.sort()
            for name in sorted(files):
                found.append(look(Path(top) / name))
                if len(found) >= limit:
                    return found
    except OSError:
        pass
    return found


def _udev_running() -> bool:
    from bodycam_ingest.detection.udev import udevd_answers

    return udevd_answers()


def _clock() -> tuple[bool | None, str]:
    """(synchronised?, which tool said so); (None, "none") when no tool can tell."""
    if shutil.which("timedatectl"):
        try:
            done = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                                  capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if done is not None and done.returncode == 0 and done.stdout.strip() in ("yes", "no"):
            return done.stdout.strip() == "yes", "timedatectl"
    if shutil.which("chronyc"):
        try:
            done = subprocess.run(["chronyc", "-n", "tracking"], capture_output=True, text=True,
                                  timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if done is not None and done.returncode == 0 and "Leap status" in done.stdout:
            return "Leap status     : Normal" in done.stdout, "chrony"
    return None, "none"


def _enabled(unit: str) -> bool:
    try:
        done = subprocess.run(["systemctl", "is-enabled", unit], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() in ("enabled", "enabled-runtime")


def systemd_is_pid1() -> bool:
    """systemd's own test (sd_booted): /run/systemd/system exists only when it is PID 1."""
    return Path("/run/systemd/system").is_dir()


def gather(config_path: Path, service_user: str = SERVICE_USER, *,
           today: date | None = None) -> Facts:
    """Look at the machine (read-only) and return what a check needs."""
    from bodycam_ingest.detection.mount import _SBIN

    config: Config | None = None
    error: str | None = None
    try:
        config = load_config(config_path)
    except BodycamError as exc:
        error = exc.message()
    try:
        pwd.getpwnam(service_user)
        user_exists = True
    except KeyError:
        user_exists = False
    facts = Facts(config_path=config_path, config_file=look(config_path),
                  config_dir=look(config_path.parent), config=config, config_error=error,
                  service_user=service_user, service_user_exists=user_exists)
    facts.udev_running = _udev_running()
    facts.clock_synced, facts.clock_source = _clock()
    facts.systemd_pid1 = systemd_is_pid1()
    if facts.systemd_pid1:
        facts.enabled_units = {u: _enabled(u) for u in (*UNITS, *JOB_TIMERS.values())}
    if config is None:
        return facts
    storage = config.storage
    facts.state_dir, facts.store_dir = look(storage.state_dir), look(storage.store)
    facts.staging_dir = look(storage.staging)
    if storage.db_url.startswith("sqlite:///"):
        facts.catalog_file = look(Path(storage.db_url.removeprefix("sqlite:///")))
    else:
        facts.catalog_server = _ask_catalog_server(config)
    facts.station_key = look(config.custody.key_path(storage.state_dir) / "station.key")
    facts.stored_files = _stored_sample(storage.store)
    wanted = {t for rule in config.cameras for t in rule.fs_types if t in FUSE_FOR}
    facts.fuse_tools = {t: any(shutil.which(n) or shutil.which(n, path=_SBIN)
                               for n in FUSE_FOR[t][1]) for t in sorted(wanted)}
    facts.dev_fuse = Path("/dev/fuse").exists()
    try:
        facts.free_bytes = shutil.disk_usage(_existing_parent(storage.store)).free
    except OSError:
        facts.free_bytes = None
    from bodycam_ingest.daemon.service import holiday_calendar_problem

    now = datetime.combine(today, time(12), tzinfo=UTC) if today else datetime.now(UTC)
    facts.calendar_problem = holiday_calendar_problem(config, now)
    return facts


def _ask_catalog_server(config: Config) -> CatalogServer:
    """Connect to a PostgreSQL catalog (never migrating it) and read its schema revision."""
    import re

    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from bodycam_ingest.catalog.db import (
        MIGRATIONS,
        _redact,
        open_catalog,
        schema_head,
        translate_fault,
    )

    storage = config.storage
    known = tuple(sorted(m.group(1) for path in (MIGRATIONS / "versions").glob("*.py")
                         if (m := re.search(r'^revision = "([^"]+)"', path.read_text("utf-8"),
                                            re.M))))
    where = _redact(storage.db_url)
    try:
        catalog = open_catalog(storage.db_url, migrate=False, busy_timeout=10,
                               password_file=storage.database_password_file)
    except BodycamError as exc:
        return CatalogServer(where, error=exc.message())
    try:
        with catalog.engine.execution_options(readonly=True).connect() as connection:
            has_table = connection.execute(text(
                "SELECT to_regclass('alembic_version') IS NOT NULL")).scalar()
            revision = connection.execute(text("SELECT version_num FROM alembic_version")
                                          ).scalar() if has_table else None
    except (SQLAlchemyError, BodycamError) as exc:
        fault = translate_fault(exc, storage.db_url) if isinstance(exc, SQLAlchemyError) else exc
        return CatalogServer(where, error=fault.message() if fault else str(exc).splitlines()[0])
    finally:
        catalog.close()
    return CatalogServer(where, revision=revision, expected=schema_head(), known=known)


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


# ---- the pure core: facts -> checks ----------------------------------------------------------

def _mode(mode: int | None) -> str:
    return "-" if mode is None else f"{mode:04o}"


def _ownership(name: str, facts: PathFacts | None, owner: str, group: str | None, mode: int,
               *, exact: bool = True, missing: Status = "fail",
               create: str | None = None) -> Check:
    """One path: owner (and group) and mode as expected. ``exact``: the mode must equal ``mode``;
    otherwise it must grant nothing beyond it."""
    if facts is None:
        return Check(name, "n/a", "not used by this configuration")
    where = str(facts.path)
    if facts.error:
        return Check(name, "unknown", f"{where}: cannot be looked at ({facts.error})",
                     "run `sudo bodycam doctor` (as root) to check it")
    if not facts.exists:
        return Check(name, missing, f"{where} does not exist", create)
    want_group = group or facts.group
    bad_mode = facts.mode != mode if exact else bool((facts.mode or 0) & ~mode)
    if facts.owner == owner and facts.group == want_group and not bad_mode:
        return Check(name, "ok", f"{where} {facts.owner}:{facts.group} {_mode(facts.mode)}")
    fix = []
    if facts.owner != owner or facts.group != want_group:
        fix.append(f"chown {owner}:{want_group} {where}")
    if bad_mode:
        fix.append(f"chmod {mode:04o} {where}")
    expected = f"{owner}:{want_group} {mode:04o}" if exact else \
        f"{owner}:{want_group}, at most {mode:04o}"
    return Check(name, "fail", f"{where} is {facts.owner}:{facts.group} {_mode(facts.mode)}, "
                 f"should be {expected}", " && ".join(fix))


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def evaluate(f: Facts) -> list[Check]:
    """Every check, in a fixed order, from the facts alone."""
    user = f.service_user
    group = user  # install-station.sh creates the user with its own group
    checks: list[Check] = []
    if f.config_error:
        checks.append(Check("config", "fail", f.config_error,
                            f"fix {f.config_path} (config.example.toml documents every key)"))
    else:
        checks.append(Check("config", "ok", f"{f.config_path} readable and valid"))
    checks.append(_ownership("config file", f.config_file, "root", group, 0o640))
    checks.append(_ownership("config folder", f.config_dir, "root", group, 0o750, exact=False))
    checks.append(Check("service user", "ok", f"user {user} exists") if f.service_user_exists
                  else Check("service user", "fail", f"there is no user {user}",
                             "sudo bash scripts/install-station.sh"))
    cfg = f.config
    if cfg is not None:
        install = "sudo bash scripts/install-station.sh"
        checks.append(_ownership("state folder", f.state_dir, user, group, 0o700, create=install))
        checks.append(_ownership("evidence store", f.store_dir, user, group, 0o750, exact=False,
                                 missing="warn", create="created at the first dock"))
        checks.append(_ownership("staging", f.staging_dir, user, group, 0o750, exact=False,
                                 missing="warn", create="created at the first dock"))
        checks.append(_ownership("catalog", f.catalog_file, user, group, 0o600, missing="warn",
                                 create="created at the first start (bodycam keys init does)"))
        checks.append(_catalog_server(f.catalog_server))
        key_fix = f"sudo -u {user} bodycam keys init"
        checks.append(_ownership("station key", f.station_key, user, group, 0o600,
                                 create=key_fix))
        checks.append(_stored(f.stored_files, user, group))
        checks.append(Check("udev", "ok", "systemd-udevd answers: docked cameras are announced")
                      if f.udev_running else Check(
                          "udev", "fail", "systemd-udevd is not running: docked cameras are not "
                          "announced", "sudo systemctl start systemd-udevd" if f.systemd_pid1
                          else "sudo /lib/systemd/systemd-udevd --daemon"))
        checks.extend(_fuse(f))
        checks.append(_clock_check(f))
        checks.append(_space(f, cfg))
        checks.extend(_units(f, cfg))
        checks.append(Check("holiday calendar", "ok", "covers the current year")
                      if f.calendar_problem is None else
                      Check("holiday calendar", "warn", f.calendar_problem,
                            "pip install -U chinesecalendar (into the station's venv), or list "
                            "the dates in custody.holidays / custody.makeup_workdays"))
    return checks


def _catalog_server(server: CatalogServer | None) -> Check:
    name = "catalog server"
    if server is None:
        return Check(name, "n/a", "the catalog is a SQLite file (the catalog line)")
    if server.error is not None:
        return Check(name, "fail", server.error, "README: The shared catalog (PostgreSQL)")
    if server.revision == server.expected:
        return Check(name, "ok", f"{server.where} answers; schema at revision {server.revision}")
    if server.revision is None:
        return Check(name, "warn", f"{server.where} answers but holds no catalog yet",
                     "created at the daemon's first start (or any bodycam command)")
    if server.revision in server.known:
        return Check(name, "warn", f"{server.where} holds schema revision {server.revision}, "
                     f"this release uses {server.expected}",
                     "migrated at the daemon's next start (sudo systemctl restart bodycam)")
    return Check(name, "fail", f"{server.where} holds schema revision {server.revision}, which "
                 f"this release does not know (it uses {server.expected}): another station runs "
                 "a newer release", "upgrade this station to the release the others run")


def _stored(files: Sequence[PathFacts], user: str, group: str) -> Check:
    name = "stored evidence"
    if not files:
        return Check(name, "ok", "no stored recording yet")
    bad = [p for p in files if p.error or not p.exists or p.owner != user or p.mode != 0o440]
    if not bad:
        return Check(name, "ok", f"{len(files)} file(s) {user} 0440")
    first = bad[0]
    return Check(name, "fail", f"{len(bad)} of {len(files)} stored file(s) not {user} 0440, e.g. "
                 f"{first.path} {first.owner}:{first.group} {_mode(first.mode)}",
                 f"find {first.path.parents[2]} -type f -exec chown {user}:{group} {{}} + "
                 f"-exec chmod 0440 {{}} +")


def _fuse(f: Facts) -> Iterable[Check]:
    for fstype, installed in f.fuse_tools.items():
        package = FUSE_FOR[fstype][0]
        yield (Check(f"{package}", "ok", f"installed ({fstype} cameras are configured)")
               if installed else Check(package, "fail", f"{fstype} cameras are configured but "
                                       f"{package} is not installed", f"sudo apt-get install {package}"))
    if f.fuse_tools and not f.dev_fuse:
        yield Check("/dev/fuse", "fail", "FUSE cameras need /dev/fuse", "sudo modprobe fuse")


def _clock_check(f: Facts) -> Check:
    if f.clock_synced is None:
        return Check("clock", "unknown", "no timedatectl or chrony answer: synchronisation "
                     "cannot be told (dock times and R1 deadlines depend on it)")
    if f.clock_synced:
        return Check("clock", "ok", f"synchronised ({f.clock_source})")
    return Check("clock", "fail", f"not synchronised ({f.clock_source}): dock times and R1 "
                 "deadlines are wrong by the clock's error",
                 "sudo timedatectl set-ntp true (or configure chrony)")


def _space(f: Facts, cfg: Config) -> Check:
    reserve = cfg.storage.free_space_reserve
    if f.free_bytes is None:
        return Check("free space", "unknown", f"{cfg.storage.store}: cannot be measured")
    if f.free_bytes <= reserve:
        return Check("free space", "fail", f"{_size(f.free_bytes)} free on the evidence disk, "
                     f"at or below the reserve of {_size(reserve)}: no file is copied",
                     "free space or add disk (archive then delete per retention), or lower "
                     "storage.free_space_reserve")
    return Check("free space", "ok", f"{_size(f.free_bytes)} free, reserve {_size(reserve)}")


def _units(f: Facts, cfg: Config) -> Iterable[Check]:
    if not f.systemd_pid1:
        yield Check("units", "n/a", "systemd is not PID 1 on this machine: start the daemon "
                    f"yourself (sudo -u {f.service_user} bodycam daemon)")
        return
    if f.enabled_units.get("bodycam.service"):
        yield Check("bodycam.service", "ok", "enabled")
    else:
        yield Check("bodycam.service", "fail", "not enabled: the station does not start at boot",
                    "sudo systemctl enable --now bodycam")
    for job, timer in JOB_TIMERS.items():
        by_daemon = getattr(cfg.jobs, job).enabled
        on = f.enabled_units.get(timer, False)
        if by_daemon and on:
            yield Check(timer, "warn", f"enabled while the daemon also runs {job}: it runs twice",
                        f"sudo systemctl disable --now {timer}, or [jobs.{job}] enabled = false")
        elif not by_daemon and not on:
            yield Check(timer, "fail", f"[jobs.{job}] enabled = false and its timer is not "
                        "enabled: the job never runs", f"sudo systemctl enable --now {timer}")
        else:
            yield Check(timer, "ok", "enabled (the daemon does not run it)" if on
                        else "not needed: the daemon runs it")


def exit_code(checks: Sequence[Check], config_error: str | None) -> ExitCode:
    if config_error:
        return ExitCode.CONFIG
    if any(c.status == "fail" for c in checks):
        return ExitCode.FINDINGS
    if any(c.status == "warn" for c in checks):
        return ExitCode.WARNING
    return ExitCode.OK
