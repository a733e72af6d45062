"""Station configuration: TOML in, validated immutable settings out, or one clear error.

``load_config`` is the edge (it reads a file); ``parse_config`` is pure and is what the tests drive.
Every key is documented in ``config.example.toml``; unknown keys are refused so that a typo never
silently falls back to a default.
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bodycam_ingest.access.settings import AccessConfig
from bodycam_ingest.analysis.settings import AnalysisConfig
from bodycam_ingest.custody.settings import CustodyConfig
from bodycam_ingest.errors import ConfigError, ConfigNotFound
from bodycam_ingest.jobs.settings import JobsConfig
from bodycam_ingest.naming import NamePattern, compile_pattern, preset
from bodycam_ingest.retention.settings import RetentionConfig
from bodycam_ingest.storage.settings import ObjectStoreConfig
from bodycam_ingest.web.settings import WebConfig

DEFAULT_CONFIG_PATH = Path("/etc/bodycam/config.toml")
ENV_VAR = "BODYCAM_CONFIG"

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _size(value: object) -> object:
    """Accept 1048576, "1 MiB", "2GB"; leave anything else for pydantic to reject."""
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a size; write bytes (1048576) or e.g. '2 GiB'")
        number, unit = match.groups()
        return int(float(number) * _UNITS[(unit or "B").lower()])
    return value


ByteSize = Annotated[int, BeforeValidator(_size), Field(ge=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone such as 'Asia/Shanghai'") from exc
    return value


Zone = Annotated[str, BeforeValidator(_check_zone)]


_PG_SCHEMES = ("postgresql+psycopg://", "postgresql://", "postgres://")


def check_database_url(value: str) -> str:
    """``storage.database_url``: SQLite with an absolute path, or PostgreSQL through psycopg 3
    (``postgresql://`` is taken to mean that driver); never a password inside the URL."""
    if value.startswith("sqlite:///"):
        if not value.removeprefix("sqlite:///").startswith("/"):
            raise ValueError(f"{value!r}: a SQLite catalog needs an absolute path, "
                             "sqlite:////var/lib/bodycam/catalog.sqlite3 (four slashes)")
        return value
    if not value.startswith(_PG_SCHEMES):
        raise ValueError(f"{value!r} is not a supported catalog URL: use "
                         "sqlite:////ABSOLUTE/PATH or postgresql+psycopg://ROLE@HOST[:PORT]/DATABASE")
    rest = value.split("://", 1)[1]
    authority = rest.split("/", 1)[0]
    if ("@" in authority and ":" in authority.rsplit("@", 1)[0]) or "password=" in rest:
        raise ValueError("a password in storage.database_url would be readable by everyone who "
                         "may read this file: remove it, and put it in the service account's "
                         "~/.pgpass (mode 0600; or PGPASSFILE) or in "
                         "storage.database_password_file (mode 0600)")
    if "/" not in rest or not rest.split("/", 1)[1].split("?", 1)[0]:
        raise ValueError(f"{value!r} names no database: postgresql+psycopg://ROLE@HOST/DATABASE")
    return "postgresql+psycopg://" + rest


class StationConfig(_Section):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    zone: Zone = "Asia/Shanghai"


class StorageConfig(_Section):
    state_dir: Path = Path("/var/lib/bodycam")
    store_dir: Path | None = None
    staging_dir: Path | None = None
    runtime_dir: Path | None = None
    # None: SQLite in state_dir; "postgresql+psycopg://ROLE@HOST[:PORT]/DATABASE" for a shared
    # catalog. Never a password in the URL (the config is readable by the bodycam group): it goes in
    # the service account's ~/.pgpass (or PGPASSFILE), or in database_password_file (mode 0600).
    database_url: str | None = None
    database_password_file: Path | None = None
    free_space_reserve: ByteSize = 2 * 2**30
    # [storage.object_store]: replicate verified recordings to S3 with Object Lock (issue 12)
    object_store: ObjectStoreConfig | None = None
    # How long a command waits for another process's write transaction on the catalog (a long
    # dock commit, a backup) before it gives up with exit 5; each wait is logged (issue 9, D9).
    busy_timeout: float = Field(default=60.0, gt=0, le=3600)

    @field_validator("state_dir", "store_dir", "staging_dir", "runtime_dir",
                     "database_password_file")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError(f"{str(value)!r} must be an absolute path")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return None if value is None else check_database_url(value)

    @model_validator(mode="after")
    def _password_file_needs_postgres(self) -> StorageConfig:
        if self.database_password_file is not None and not self.db_url.startswith("postgresql"):
            raise ValueError("database_password_file is only for a PostgreSQL database_url")
        return self

    @property
    def store(self) -> Path:
        return self.store_dir or self.state_dir / "evidence"

    @property
    def staging(self) -> Path:
        return self.staging_dir or self.state_dir / "staging"

    @property
    def runtime(self) -> Path:
        return self.runtime_dir or self.state_dir / "run"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'catalog.sqlite3'}"


class NamingPatternConfig(_Section):
    name: str = Field(min_length=1, max_length=64)  # recordings.name_pattern is String(64)
    regex: str
    start_format: str = "%Y%m%d%H%M%S"

    @model_validator(mode="after")
    def _compiles(self) -> NamingPatternConfig:
        compile_pattern(self.name, self.regex, self.start_format)
        return self


class CameraRule(_Section):
    """Which devices are body cameras, and how to read them."""

    name: str = Field(max_length=64, pattern=r"^[A-Za-z0-9._-]+$")  # docks.camera_rule
    usb_ids: tuple[str, ...] = ()
    fs_labels: tuple[str, ...] = ()
    fs_types: tuple[str, ...] = ("vfat", "exfat", "ext4")
    recordings: tuple[str, ...] = ("DCIM/**/*.MP4", "DCIM/**/*.MOV", "DCIM/**/*.AVI")
    naming: tuple[str, ...] = ("officer_device_time_seq", "device_time_seq", "time_seq")
    zone: Zone | None = None

    @field_validator("usb_ids")
    @classmethod
    def _usb_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not re.fullmatch(r"[0-9a-fA-F]{4}:[0-9a-fA-F]{4}", item):
                raise ValueError(f"{item!r} is not a USB id; write vendor:product as 'abcd:1234'")
        return tuple(item.lower() for item in value)

    @field_validator("recordings")
    @classmethod
    def _globs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if item.startswith("/") or ".." in item.split("/"):
                raise ValueError(f"{item!r} must be a relative glob inside the camera, without '..'")
        if not value:
            raise ValueError("at least one recordings glob is needed, e.g. 'DCIM/**/*.MP4'")
        return value

    @model_validator(mode="after")
    def _matches_something(self) -> CameraRule:
        if not self.usb_ids and not self.fs_labels:
            raise ValueError(
                f"camera rule {self.name!r} needs usb_ids or fs_labels: a rule that matches any "
                "device would ingest every USB stick"
            )
        return self


class WatchFolder(_Section):
    path: Path
    camera: str


class IngestConfig(_Section):
    max_concurrent_docks: int = Field(default=2, ge=1, le=32)
    wipe_after_ingest: bool = False
    verify_from_disk: bool = False
    max_entries: int = Field(default=100_000, ge=1)
    max_depth: int = Field(default=8, ge=1, le=64)
    settle_seconds: float = Field(default=2.0, ge=0)
    watch_folders: tuple[WatchFolder, ...] = ()


class NamingConfig(_Section):
    patterns: tuple[NamingPatternConfig, ...] = ()


class LogConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"


class Config(_Section):
    station: StationConfig
    storage: StorageConfig = StorageConfig()
    ingest: IngestConfig = IngestConfig()
    naming: NamingConfig = NamingConfig()
    cameras: tuple[CameraRule, ...] = ()
    analysis: AnalysisConfig = AnalysisConfig()
    custody: CustodyConfig = CustodyConfig()
    retention: RetentionConfig = RetentionConfig()
    jobs: JobsConfig = JobsConfig()
    access: AccessConfig = AccessConfig()
    web: WebConfig | None = None  # the station console; off unless configured
    log: LogConfig = LogConfig()

    @model_validator(mode="after")
    def _references(self) -> Config:
        names = [rule.name for rule in self.cameras]
        if len(set(names)) != len(names):
            raise ValueError(f"camera rule names must be unique, got {names}")
        custom = {pattern.name for pattern in self.naming.patterns}
        for rule in self.cameras:
            for item in rule.naming:
                if item not in custom:
                    preset(item)  # raises ValueError naming the known presets
        for watch in self.ingest.watch_folders:
            if watch.camera not in names:
                raise ValueError(f"watch folder {str(watch.path)!r} names camera rule "
                                 f"{watch.camera!r}, which is not among {names}")
        return self

    def camera(self, name: str | None) -> CameraRule:
        """The named rule, or the first one when no name is given."""
        if not self.cameras:
            raise ConfigError(path="cameras", problem="no [[cameras]] rule is configured; add one "
                              "(see config.example.toml)")
        if name is None:
            return self.cameras[0]
        for rule in self.cameras:
            if rule.name == name:
                return rule
        raise ConfigError(path="cameras", problem=f"no camera rule named {name!r}; known: "
                          f"{[rule.name for rule in self.cameras]}")

    def name_patterns(self, rule: CameraRule) -> tuple[NamePattern, ...]:
        custom = {p.name: p for p in self.naming.patterns}
        out: list[NamePattern] = []
        for item in rule.naming:
            if item in custom:
                p = custom[item]
                out.append(compile_pattern(p.name, p.regex, p.start_format))
            else:
                out.append(preset(item))
        return tuple(out)

    def camera_zone(self, rule: CameraRule) -> str:
        return rule.zone or self.station.zone


def matches_glob(relpath: str, globs: tuple[str, ...]) -> bool:
    """Case-insensitive glob match where ``**/`` spans zero or more directories (FAT is caseless)."""
    lowered = relpath.lower()
    for pattern in globs:
        pattern_l = pattern.lower()
        if fnmatch.fnmatchcase(lowered, pattern_l):
            return True
        if "**/" in pattern_l and fnmatch.fnmatchcase(lowered, pattern_l.replace("**/", "")):
            return True
    return False


def station_dirs(config: Config) -> dict[str, Path]:
    """The station's own places, by config key: nothing in them is ever a camera's recording."""
    storage = config.storage
    places = {"storage.state_dir": storage.state_dir, "storage.store_dir": storage.store,
              "storage.staging_dir": storage.staging, "storage.runtime_dir": storage.runtime,
              "custody.key_dir": config.custody.key_path(storage.state_dir),
              "custody.manifest_dir": config.custody.manifest_path(storage.state_dir)}
    if storage.db_url.startswith("sqlite:///"):
        places["storage.database_url"] = Path(storage.db_url.removeprefix("sqlite:///"))
    return places


def watch_folder_overlaps(config: Config,
                          resolve: Callable[[Path], Path] = lambda p: p.resolve()) -> str | None:
    """One sentence naming the first watch folder that is inside one of the station's own places
    or holds one (compared after ``resolve``, which follows symlinks), else None.

    With ``recordings = ["**/*"]`` a watch folder over ``state_dir`` ingested the station's own
    ``station.key`` as evidence (issue 9, D12)."""
    own = sorted(((key, resolve(path)) for key, path in station_dirs(config).items()),
                 key=lambda item: -len(item[1].parts))  # the most specific place first
    for index, watch in enumerate(config.ingest.watch_folders):
        folder = resolve(watch.path)
        inside = [(key, place) for key, place in own if folder.is_relative_to(place)]
        holds = [(key, place) for key, place in reversed(own) if place.is_relative_to(folder)]
        for key, place in inside[:1] or holds[:1]:
            return (f"watch folder {index + 1} ({str(watch.path)!r}) overlaps {key} "
                    f"({place}): the daemon would ingest the station's own files as "
                    "evidence; watch a folder outside the station's directories")
    return None


def _format_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(item) for item in err["loc"]) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            parts.append(f"{loc} is required")
        elif err["type"] == "extra_forbidden":
            parts.append(f"{loc} is not a known key (typo?)")
        elif loc == "storage.database_url" and "password" in message:
            parts.append(f"{loc}: {message}")  # the value holds the password: never echo it
        else:
            parts.append(f"{loc} = {err['input']!r}: {message}")
    return "; ".join(parts)


def parse_config(data: Mapping[str, Any], source: str = "<config>") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path=source, problem=_format_errors(exc)) from None


def resolve_config_path(explicit: Path | None, environ: Mapping[str, str] = os.environ) -> Path:
    if explicit is not None:
        return explicit
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR])
    return DEFAULT_CONFIG_PATH


def load_config(path: Path) -> Config:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigNotFound(path=path) from None
    except OSError as exc:
        raise ConfigError(path=path, problem=f"cannot be read ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(path=path, problem=f"is not valid TOML: {exc}") from None
    return parse_config(data, str(path))
