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

    def exit_status(self) -> ExitCode:
        """The exit code this error ends a command with (a remote error carries the daemon's)."""
        return self.exit_code

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


class CatalogBusy(BodycamError):
    """The catalog {url} is busy: another process held its write lock for all of the {limit:g} s this command waits (storage.busy_timeout); nothing was changed. Run the command again when that process has finished (bodycam status shows running docks and jobs), or raise storage.busy_timeout."""  # noqa: E501

    exit_code = ExitCode.REFUSED


class CatalogUnreachable(BodycamError):
    """The catalog {url} cannot be reached: {reason}. Check that the PostgreSQL server is running and reachable from this station (pg_isready -h HOST -p PORT), that the role and database in storage.database_url exist, and the password in the service account's ~/.pgpass or storage.database_password_file; nothing was changed."""  # noqa: E501

    exit_code = ExitCode.STORAGE


class CatalogValueTooLong(BodycamError):
    """The catalog {url} refused a value longer than its column allows ({reason}); nothing was changed. Shorten the value (a label, a reason, a name in the config), or report it as a bug if the station chose it."""  # noqa: E501

    exit_code = ExitCode.REFUSED


class StorageFault(BodycamError):
    """{what} cannot be written: {reason}. {fix} Nothing half-done was kept: run the command again once that is fixed."""  # noqa: E501

    exit_code = ExitCode.STORAGE


class IngestCatalogFull(BodycamError):
    """The ingest stopped because the catalog's disk is full ({where}): what was stored is kept, and nothing that no signed manifest lists was wiped from the camera. Free space on that disk, then dock the camera again to finish."""  # noqa: E501

    exit_code = ExitCode.INCOMPLETE


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


# --- stations sharing a catalog (issue 12) ------------------------------------------------------
class StationIdTaken(BodycamError):
    """Station id {station!r} is already registered on this catalog with another signing key ({known}; this station's key is {key_id}): another station runs under this id. Give this station its own station.id in its config (a key rotated on the station itself is published by `bodycam keys rotate`)."""  # noqa: E501

    exit_code = ExitCode.CONFIG


class StationLeaseHeld(BodycamError):
    """Station {station!r} is already running on {host} (pid {pid}, heartbeat {heartbeat}): a second daemon under the same station.id is refused. Stop the other one, or give this station its own station.id; a crashed daemon's lease is taken over once it is {stale_s} s old."""  # noqa: E501

    exit_code = ExitCode.CONFIG


# --- station jobs (issue 5: scheduler, scrub, deadline check, backup) ---------------------------
class JobAlreadyRunning(BodycamError):
    """Job {job} is already running (another process holds {path}); wait for it to finish and see its result with `bodycam jobs list`."""  # noqa: E501

    exit_code = ExitCode.REFUSED


# --- retention (issue 5: sweep, deletion, policy approval) --------------------------------------
class RetentionPlanChanged(BodycamError):
    """Refused: the plan changed since it was shown (you approved {shown}, it is now {now}); run `bodycam retention plan` again and approve the plan it shows."""  # noqa: E501

    exit_code = ExitCode.REFUSED


class RecordingDeleted(BodycamError):
    """Recording {ident} was deleted by retention run {run} on {when} ({rule}); only its tombstone remains (bodycam show {ident})."""  # noqa: E501

    exit_code = ExitCode.REFUSED


# --- retention tiers and legal holds (issue 5: bodycam retain, bodycam hold) --------------------
class TierLoweringNeedsApproval(BodycamError):
    """Refused: {target} would go from {old} to {new}, which shortens its retention; that is done only through a request a supervisor approves (bodycam retain ... makes it; bodycam requests)."""  # noqa: E501

    exit_code = ExitCode.REFUSED


class SelfApproval(BodycamError):
    """Refused: {who} cannot approve their own {what}; another person must approve the request."""

    exit_code = ExitCode.REFUSED


class HoldReleaseNeedsApproval(BodycamError):
    """Refused: hold {hold} belongs to {owner}, not {actor}; releasing it ends its protection, so it needs an approved request (bodycam hold release makes it), or let {owner} release it."""  # noqa: E501

    exit_code = ExitCode.REFUSED


class HoldAlreadyReleased(BodycamError):
    """Refused: hold {hold} was already released on {when} by {who} ({reason}); a release is final: add a new hold with `bodycam hold add` if the protection is needed again."""  # noqa: E501

    exit_code = ExitCode.REFUSED


# --- long-term copies (issue 5: bodycam archive) -----------------------------------------------
class ArchiveTargetMissing(BodycamError):
    """Archive folder {path} does not exist: mount the second medium (a dedicated disk or a disc) and give a folder on it with --to."""  # noqa: E501

    exit_code = ExitCode.NOT_FOUND


class ArchiveTargetUnusable(BodycamError):
    """Refused: cannot archive to {path}: {reason}"""

    exit_code = ExitCode.REFUSED


class ArchiveSameDevice(BodycamError):
    """Refused: {path} is on the same filesystem as the evidence store ({store}); a long-term copy must be on a second medium (R2: a dedicated disk or a disc). Mount one and archive there, or pass --same-device-ok to write a copy anyway (logged as a warning; the audit does not count it as a second medium)."""  # noqa: E501

    exit_code = ExitCode.REFUSED


class ArchiveNoSpace(BodycamError):
    """Not enough space on {path}: the archive of {count} recording(s) needs {needed} (with a margin of {margin}), only {free} is free; use a larger medium or free space on it. Nothing was written."""  # noqa: E501

    exit_code = ExitCode.STORAGE


class ArchiveWriteFailed(BodycamError):
    """Writing the archive to {path} failed: {reason}. Nothing was recorded as a replica and the partial folder was removed; check the medium and run the archive again."""  # noqa: E501

    exit_code = ExitCode.STORAGE


class ArchiveVerifyFailed(BodycamError):
    """The copies written to {path} do not read back as written ({problems}); the medium is unreliable. Nothing was recorded as a replica and the partial folder was removed; archive to another medium."""  # noqa: E501

    exit_code = ExitCode.STORAGE


# --- accounts and the local API (issue 8) -------------------------------------------------------
class StationNotAllowed(BodycamError):
    """Refused: {who} holds roles only on station(s) {allowed}, and this is station {station}. Ask an administrator (bodycam users roles LOGIN --set ROLES --stations ...) if you should act here."""  # noqa: E501

    exit_code = ExitCode.REFUSED


class NotAuthorized(BodycamError):
    """Refused: {who} may not do {action}; it needs the role {need}. Ask a station administrator (bodycam users roles) if you should have it."""  # noqa: E501

    exit_code = ExitCode.REFUSED


class NotMapped(BodycamError):
    """Refused: OS user {os_user} (uid {uid}) is not mapped to an enabled station account. Ask a station administrator to run: bodycam users map LOGIN {os_user}"""  # noqa: E501

    exit_code = ExitCode.REFUSED


class StationUnreachable(BodycamError):
    """Cannot reach the station daemon at {socket}: {reason}. Ask an administrator to start it (systemctl start bodycam), or run the command as the service account."""  # noqa: E501

    exit_code = ExitCode.STORAGE


class BadRequest(BodycamError):
    """Bad request: {problem}"""

    exit_code = ExitCode.USAGE


# --- four-eyes requests (issue 8: bodycam requests) ---------------------------------------------
class RequestNotPending(BodycamError):
    """Refused: request {ident} is {state} ({detail}); only a pending request can be approved or rejected. See it with: bodycam requests show {ident}"""  # noqa: E501

    exit_code = ExitCode.REFUSED


class RequestSelfApproval(BodycamError):
    """Refused: {who} made request {ident} and cannot approve it: four eyes means another person holding the role {need} approves it in their own session (bodycam requests approve {ident} --digest ...)."""  # noqa: E501

    exit_code = ExitCode.REFUSED


class SystemCannotApprove(BodycamError):
    """Refused: {who} is the station's own OS account, not a person, so it can neither approve nor reject request {ident}; a person holding the role {need} does it as their own OS user through the daemon (bodycam requests approve {ident} --digest ...)."""  # noqa: E501

    exit_code = ExitCode.REFUSED


class RequestDigestMismatch(BodycamError):
    """Refused: request {ident} has digest {digest}, not {given}; run `bodycam requests show {ident}`, check what it will do, and approve with the digest it shows."""  # noqa: E501

    exit_code = ExitCode.REFUSED


class RequestChanged(BodycamError):
    """Refused: what request {ident} would do changed since it was shown ({what}; digest {shown}... is now {now}...); nothing was done. Reject it (bodycam requests reject {ident} --reason ...) and ask for a new request."""  # noqa: E501

    exit_code = ExitCode.REFUSED


class DestinationInStation(BodycamError):
    """Refused: {path} is inside the station's {what} ({place}); a package there would sit beside the evidence or the keys. Give a new folder outside the station's folders, e.g. on the removable medium."""  # noqa: E501

    exit_code = ExitCode.REFUSED
