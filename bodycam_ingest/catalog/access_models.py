"""Catalog tables of station accounts and four-eyes requests (issue 8).

An account is a person; the OS users mapped to it are how the kernel (peer credentials on the local
API socket) says who is calling. A request is one action that needs a second person: created by
one account, carried out only when another account holding an approving role approves it in its
own authenticated session. Every change to either table is also a custody-log entry.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bodycam_ingest.catalog.models import Base, StationScoped, UTCDateTime

__all__ = ["AccountOsUser", "AccountRow", "RequestRow"]


class AccountRow(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    officer_number: Mapped[str | None] = mapped_column(String(32), unique=True)  # 警号
    unit: Mapped[str | None] = mapped_column(String(128))
    roles: Mapped[str] = mapped_column(Text)  # JSON list of role names, sorted
    # JSON list of the station ids its roles hold on (issue 12); None: every station
    stations: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(Text)  # argon2id PHC string
    totp_secret: Mapped[str | None] = mapped_column(String(64))  # base32
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccountOsUser(StationScoped, Base):
    """An OS user mapped to an account: a CLI caller with this uid's name acts as the account."""

    __tablename__ = "account_os_users"

    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # a machine's user
    os_user: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)


class RequestRow(StationScoped, Base):
    """One four-eyes request. ``preview`` is exactly what the requester (and the approver) was
    shown, and ``preview_digest`` its SHA-256: an approval names the digest, and the request is
    refused at execution when the preview computed again no longer matches (the object changed)."""

    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(48), index=True)
    params: Mapped[str] = mapped_column(Text)  # JSON object
    preview: Mapped[str] = mapped_column(Text)  # JSON object: what will happen
    preview_digest: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending|rejected|done|failed
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)  # JSON object, once carried out
