"""``[web]``: the station console. Off unless configured; a non-loopback address needs TLS."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # host:port to listen on, e.g. "127.0.0.1:8080" (the dock screen) or "0.0.0.0:8443" (the LAN,
    # which needs tls_cert and tls_key)
    listen: str
    tls_cert: Path | None = None
    tls_key: Path | None = None
    language: Literal["zh-CN", "en"] = "zh-CN"
    # a login lasts this long without activity
    session_minutes: int = Field(default=480, ge=5, le=24 * 60)
    # failed logins for one account (or from one address) within lockout_minutes lock it for
    # lockout_minutes; each lockout is a custody-log entry
    login_attempts: int = Field(default=5, ge=1, le=100)
    lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # the dock wall (kiosk) is shown without a login; it never shows party names
    kiosk: bool = True
    # H.264 viewing copies of recordings Chromium cannot play (H.265 ...). Default <state>/viewing
    viewing_dir: Path | None = None
    viewing_timeout_s: float = Field(default=600, gt=0)

    @property
    def host(self) -> str:
        return self._split()[0]

    @property
    def port(self) -> int:
        return self._split()[1]

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def _split(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    @model_validator(mode="after")
    def _check(self) -> WebConfig:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"listen = {self.listen!r} is not host:port, e.g. '127.0.0.1:8080'")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        if self.tls_cert is None and not _loopback(host.strip("[]")):
            raise ValueError(f"listen = {self.listen!r} is reachable from the network, so the "
                             "console needs TLS: set tls_cert and tls_key, or listen on "
                             "127.0.0.1")
        return self


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
