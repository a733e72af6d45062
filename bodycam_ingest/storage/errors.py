"""The object store's errors: part of the one hierarchy (``bodycam_ingest.errors``), each with its
message as docstring and its exit code."""

from __future__ import annotations

from bodycam_ingest.errors import BodycamError, ExitCode


class ObjectStoreUnreachable(BodycamError):
    """The object store {endpoint} cannot be reached ({reason}); replication retries by itself: check the network and storage.object_store.endpoint."""  # noqa: E501

    exit_code = ExitCode.STORAGE


class ObjectStoreRefused(BodycamError):
    """The object store refused {action} of {key}: {reason}"""

    exit_code = ExitCode.STORAGE


class ObjectLocked(BodycamError):
    """Object {key} is locked on the object store ({reason}); it can be deleted only after its retain-until date and with no legal hold."""  # noqa: E501

    exit_code = ExitCode.REFUSED


class ObjectChecksumMismatch(BodycamError):
    """Object {key} does not match its digest on the object store: {problem}. The upload is not counted; replication will upload it again."""  # noqa: E501

    exit_code = ExitCode.FINDINGS


class LocalCopyChanged(BodycamError):
    """The stored file of {digest} no longer has that digest ({problem}); it is not replicated: run `bodycam audit` and restore it from a replica."""  # noqa: E501

    exit_code = ExitCode.FINDINGS


class ObjectStoreCredentialsTooOpen(BodycamError):
    """Object store credentials file {path} has mode {mode}, so other users can read it; run `chmod 600 {path}` and try again."""  # noqa: E501

    exit_code = ExitCode.REFUSED
