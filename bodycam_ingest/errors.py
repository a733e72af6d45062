"""One error hierarchy; the CLI maps it to exit codes and messages in one place.

Each class's docstring is its message template (formatted with the keyword arguments it was raised
with) and each carries its own exit code, as borg does. A user error prints that one sentence and
exits with the code; only a bug (anything that is not a ``BodycamError``) shows a traceback.

Findings (a gap, a tamper) are not errors: they are data in a report, and decide an audit's exit
status through ``ExitCode.FINDINGS``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar


class ExitCode(IntEnum):
    """Documented exit codes of every ``bodycam`` command (README: "Exit codes")."""

    OK = 0
    WARNING = 1  # finished, but something was skipped or flagged (rejected entries, unreadable media)
    USAGE = 2  # bad command line (typer/click's own code)
    CONFIG = 3  # configuration missing or invalid
    NOT_FOUND = 4  # an id, path or device that does not exist
    REFUSED = 5  # not allowed: missing approval or role, lock held, read-only rule
    DEVICE = 6  # the camera or source cannot be used: unknown, unmountable, gone
    INCOMPLETE = 7  # ingest stopped before every recording was stored; dock again to finish
    STORAGE = 8  # evidence store or catalog unusable: not writable, full, migration needed
    FINDINGS = 9  # an audit or verify found integrity problems
    BUG = 70  # internal error (EX_SOFTWARE); shows a traceback


class BodycamError(Exception):
    """Something went wrong."""

    exit_code: ClassVar[ExitCode] = ExitCode.BUG

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        super().__init__(self.message())

    def message(self) -> str:
        template = (type(self).__doc__ or "").strip()
        try:
            return template.format(**self.kwargs)
        except (KeyError, IndexError):  # a template that names a missing field is still shown
            return f"{template} {self.kwargs}"


class ConfigError(BodycamError):
    """Configuration {path}: {problem}"""

    exit_code = ExitCode.CONFIG


class ConfigNotFound(ConfigError):
    """No configuration at {path}. Pass --config PATH, set BODYCAM_CONFIG, or copy config.example.toml to /etc/bodycam/config.toml."""  # noqa: E501


class NotFound(BodycamError):
    """{what} {ident!r} does not exist. {hint}"""

    exit_code = ExitCode.NOT_FOUND


class Refused(BodycamError):
    """Refused: {reason}"""

    exit_code = ExitCode.REFUSED


class SourceUnusable(BodycamError):
    """Cannot read camera {source}: {reason}"""

    exit_code = ExitCode.DEVICE


class StorageError(BodycamError):
    """Evidence storage problem at {path}: {reason}"""

    exit_code = ExitCode.STORAGE


class CatalogError(BodycamError):
    """Catalog {url}: {reason}"""

    exit_code = ExitCode.STORAGE


# --- custody (chain of custody: keys, manifests, approvals) ------------------------------------
class KeyFileTooOpen(BodycamError):
    """Private key {path} has mode {mode}, so other users can read or change it; run `chmod 600 {path}` and try again."""  # noqa: E501

    exit_code = ExitCode.REFUSED


class KeyFileInvalid(BodycamError):
    """Key file {path} is unusable: {reason}"""

    exit_code = ExitCode.CONFIG


class ManifestInvalid(BodycamError):
    """Manifest {source} is invalid: {problem}"""

    exit_code = ExitCode.FINDINGS


class StationKeyMissing(BodycamError):
    """no station key at {path}: run `bodycam keys init` (as the user the station runs as)"""

    exit_code = ExitCode.REFUSED
