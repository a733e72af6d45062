"""``[storage.object_store]``: the S3 bucket with Object Lock that verified recordings replicate to.

Parsed by pydantic like every section (``config.StorageConfig.object_store``); absent means the
station keeps its evidence on its own disk only, as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ObjectStoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # https://s3.example.org or http://127.0.0.1:7480 (Ceph RGW); None: AWS's own endpoint
    endpoint: str | None = None
    bucket: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$")
    region: str = "us-east-1"
    # An AWS-style credentials file (mode 0600, [default] or `profile`); None: the standard AWS
    # chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, instance roles).
    credentials_file: Path | None = None
    profile: str = "default"
    # COMPLIANCE: nobody, not even the bucket's root account, can shorten or remove a lock.
    # GOVERNANCE: an account with s3:BypassGovernanceRetention can (for trials only).
    lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE"
    addressing_style: Literal["path", "virtual", "auto"] = "path"
    # Objects are stored under <prefix>sha256/<digest>
    prefix: str = Field(default="", pattern=r"^([A-Za-z0-9._-]+/)*$")
    # A recording not verified on the object store this long after its ingest raises an alert.
    replication_deadline_hours: float = Field(default=24.0, gt=0)
    # Recordings without an end (long_term, a permanent period) are locked this far ahead and
    # extended while they are kept (a lock must have a date).
    open_ended_lock_days: int = Field(default=365, ge=1, le=36500)
    # Multipart upload above this size, in parts of this size, at most `concurrency` parts in
    # flight (bounded memory: about (concurrency + 1) x part_size).
    multipart_threshold: int = Field(default=16 * 2**20, ge=5 * 2**20)
    part_size: int = Field(default=8 * 2**20, ge=5 * 2**20, le=512 * 2**20)
    concurrency: int = Field(default=4, ge=1, le=32)
    # The checksum the server verifies on every part: "sha256" signs each part's payload SHA-256
    # (x-amz-content-sha256: RGW, MinIO and AWS refuse a body that does not match it); "md5"
    # sends Content-MD5 instead (all three check it; cheaper on CPUs without SHA extensions,
    # see bench/README.md "replicate.py"). Either way the whole object's SHA-256 is the station's.
    part_checksum: Literal["md5", "sha256"] = "sha256"
    # Bytes the local store may hold: above it, the worker evicts the least recently used
    # recordings verified on the object store (never one under a hold); reading one re-fetches
    # and re-verifies it. None: keep every local copy.
    cache_size: int | None = Field(default=None, ge=0)
    # Each pass re-checks the locks of recordings whose tier or holds changed since the last one
    # (read from the custody log); every this many hours, and when the worker starts, it
    # re-checks all (extends open-ended locks, lifts holds that ended on their date).
    lock_sweep_hours: float = Field(default=24.0, gt=0)
    # Seconds between the replication worker's passes when there is nothing to do.
    poll_seconds: float = Field(default=30.0, gt=0)
    # Longest wait between two attempts of a failing upload (backoff doubles up to this).
    max_backoff_seconds: float = Field(default=900.0, gt=0)
    timeout_seconds: float = Field(default=60.0, gt=0)

    @field_validator("credentials_file")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError(f"{str(value)!r} must be an absolute path")
        return value

    @field_validator("endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must start with https:// (or http:// for a test server)")
        return value

    @property
    def deadline_seconds(self) -> float:
        return self.replication_deadline_hours * 3600
