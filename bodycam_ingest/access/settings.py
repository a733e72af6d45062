"""``[access]`` section: the local API socket, extra roles, second factors."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bodycam_ingest.api.client import DEFAULT_SOCKET


class AccessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The daemon's local API: a Unix socket every local user may connect to; who they are is
    # what the kernel says (SO_PEERCRED), what they may do is the authorization table.
    socket: Path = DEFAULT_SOCKET
    # Connections served at once; more wait in the kernel's backlog (bounded memory).
    max_clients: int = Field(default=256, ge=1, le=4096)
    # Requests handled at once (each is a catalog transaction on a worker thread).
    workers: int = Field(default=4, ge=1, le=64)
    # A client must send its whole request within this many seconds, or it is dropped.
    request_timeout_s: float = Field(default=10.0, gt=0)
    # Extra roles: name -> actions it grants (see `bodycam whoami --actions` for action names).
    roles: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # Roles whose holders must give a TOTP code at console login (second factor).
    totp_required_roles: tuple[str, ...] = ("admin", "supervisor")

    @field_validator("socket")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError(f"{str(value)!r} must be an absolute path")
        return value
