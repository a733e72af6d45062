"""``S3Store``: evidence on S3 with Object Lock (Ceph RGW, MinIO, AWS), through boto3.

Objects are keyed ``<prefix>sha256/<digest>`` in a bucket created with Object Lock (so versioned).

How an upload comes to count (probed on Ceph RGW 16.2, the recipe's server, by sending a body
changed after signing; ``tests/test_object_store_ceph.py`` keeps both refusals checked):
* RGW 16.2 refuses a body that does not match its ``Content-MD5`` (BadDigest) and one that does
  not match its signed payload hash ``x-amz-content-sha256`` (XAmzContentSHA256Mismatch); it
  accepts ``x-amz-checksum-sha256`` headers without checking them. So each part carries one
  checksum the server verifies, chosen by ``part_checksum``: "sha256" (default) signs the payload
  (botocore hashes the part with SHA-256, which on CPUs with SHA extensions is nearly twice as
  fast as MD5) and takes the part's MD5 from the ETag the server returns; "md5" sends Content-MD5
  with an unsigned payload.
  Never both: a third hash of every byte is pure cost. The SHA-256 of the whole object is ours:
  computed over exactly the bytes sent, compared with the digest before the upload is completed,
  and kept as the object's metadata ``sha256``.
* The ETag the server gives the completed upload (the MD5, or for multipart the MD5 of the parts'
  MD5s plus "-N", which we compute from the parts we sent) must be what we sent before the object
  is locked; after the lock the object is read back by one HEAD: its size, its ETag and its lock
  must be what we sent, else it does not count. ``verify`` re-reads the whole object and hashes it.
* RGW 16.2 ignores Object Lock headers on CreateMultipartUpload (the completed object came out
  unlocked and deletable), so the lock is always applied by PutObjectRetention / PutObjectLegalHold
  on the new version and read back; a bucket default retention (README) closes the short window.

Memory is bounded: parts are read one at a time (``part_size`` bytes), at most ``concurrency``
parts are in flight and 2 wait for the whole-file SHA-256, which runs on its own thread beside the
uploads. An interrupted multipart upload is resumed: the parts the
server already has (listed, with matching MD5) are not sent again.
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import functools
import hashlib
import stat
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from bodycam_ingest.storage.errors import (
    LocalCopyChanged,
    ObjectChecksumMismatch,
    ObjectLocked,
    ObjectStoreCredentialsTooOpen,
    ObjectStoreRefused,
    ObjectStoreUnreachable,
)
from bodycam_ingest.storage.interface import StoredObject
from bodycam_ingest.storage.locks import Lock
from bodycam_ingest.storage.settings import ObjectStoreConfig

READ_CHUNK = 1 << 20
_LOCKED_CODES = {"AccessDenied", "ObjectLocked", "InvalidRequest"}


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def composite_etag(part_md5s: list[bytes]) -> str:
    """The ETag S3 gives a multipart object: MD5 of the parts' MD5s, "-", the part count (pure)."""
    joined = hashlib.md5(b"".join(part_md5s), usedforsecurity=False).hexdigest()
    return f"{joined}-{len(part_md5s)}"


def read_full(source: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end of ``source`` (a read may return less)."""
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = source.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_credentials(path: Path, profile: str) -> tuple[str, str]:
    """Access key and secret from an AWS-style credentials file that only its owner may read."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ObjectStoreCredentialsTooOpen(path=path, mode=oct(mode))
    parser = configparser.ConfigParser()
    parser.read(path, encoding="utf-8")
    if not parser.has_section(profile):
        from bodycam_ingest.errors import ConfigError

        raise ConfigError(path=path, problem=f"has no [{profile}] section with "
                          "aws_access_key_id and aws_secret_access_key")
    section = parser[profile]
    return section["aws_access_key_id"], section["aws_secret_access_key"]


def make_client(config: ObjectStoreConfig, credentials: tuple[str, str] | None = None) -> Any:
    import boto3
    from botocore.config import Config

    if credentials is None and config.credentials_file is not None:
        credentials = read_credentials(config.credentials_file, config.profile)
    keys = ({"aws_access_key_id": credentials[0], "aws_secret_access_key": credentials[1]}
            if credentials else {})
    # "when_required": boto3 >= 1.36 would add CRC32 trailers that older RGW and MinIO reject;
    # integrity is Content-MD5 per request (see the module docstring).
    client_config = Config(
        s3={"addressing_style": config.addressing_style}, region_name=config.region,
        retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10,
        read_timeout=config.timeout_seconds, request_checksum_calculation="when_required",
        response_checksum_validation="when_required", max_pool_connections=max(10, config.concurrency + 2))
    client = boto3.client("s3", endpoint_url=config.endpoint, config=client_config, **keys)
    unsigned = client_config.merge(Config(s3={"addressing_style": config.addressing_style,
                                              "payload_signing_enabled": False}))
    from botocore.handlers import convert_body_to_file_like_object

    for operation in ("PutObject", "UploadPart"):
        client.meta.events.register(f"before-sign.s3.{operation}",
                                    functools.partial(_unsigned_when_md5, unsigned))
        # A part is already in memory as bytes: kept as bytes, botocore hashes it in one call and
        # urllib3 sends it in one ``sendall``; wrapped in a BytesIO (botocore's default) it is
        # copied out 1 MiB at a time for the signature and 16 KiB at a time for the socket, which
        # cost 0.4 s of CPU per GiB here and 14 MB of RSS (bench/replicate.py).
        client.meta.events.unregister(f"before-parameter-build.s3.{operation}",
                                      convert_body_to_file_like_object)
    return client


def _unsigned_when_md5(unsigned: Any, request: Any, **_kwargs: Any) -> None:
    """Skip SigV4's payload SHA-256 on uploads that carry Content-MD5.

    Over plain HTTP botocore hashes every body for the signature (and RGW checks that hash), so an
    upload with Content-MD5 would be hashed a third time for a check the MD5 already makes. This
    request only is signed with ``payload_signing_enabled`` off (the header alone would not do:
    botocore's S3 signer rewrites it from the client's config); AWS and MinIO accept
    UNSIGNED-PAYLOAD, and over HTTPS botocore already sends it for these uploads.
    """
    if "Content-MD5" in request.headers:
        request.context["client_config"] = unsigned


class S3Store:
    def __init__(self, config: ObjectStoreConfig, client: Any | None = None,
                 concurrency: int | None = None) -> None:
        self.config = config
        self.client = client if client is not None else make_client(config)
        self.bucket = config.bucket
        self.concurrency = concurrency or config.concurrency
        self.name = f"s3://{config.bucket}/{config.prefix}"

    # --- naming and error mapping --------------------------------------------------------------
    def key(self, digest: str) -> str:
        from bodycam_ingest.ingest.store import relpath_for

        relpath_for(digest)  # validates the digest
        return f"{self.config.prefix}sha256/{digest}"

    def _call(self, action: str, key: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "?"))
            if action == "delete" and code in _LOCKED_CODES:
                raise ObjectLocked(key=key, reason=f"{code}: {error.get('Message') or ''}".strip()
                                   ) from None
            raise ObjectStoreRefused(action=action, key=key,
                                     reason=f"{code} {error.get('Message') or ''}".strip()) from None
        except BotoCoreError as exc:  # connection refused, timeouts, DNS: the network is away
            raise ObjectStoreUnreachable(endpoint=self.config.endpoint or "AWS",
                                         reason=str(exc)) from None

    # --- reading ---------------------------------------------------------------------------------
    def head(self, digest: str, version: str | None = None) -> StoredObject | None:
        from botocore.exceptions import ClientError

        key = self.key(digest)
        extra = {"VersionId": version} if version else {}
        try:
            reply = self.client.head_object(Bucket=self.bucket, Key=key, **extra)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404 or exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return None
            raise ObjectStoreRefused(action="HEAD", key=key, reason=str(exc)) from None
        except Exception as exc:
            from botocore.exceptions import BotoCoreError

            if isinstance(exc, BotoCoreError):
                raise ObjectStoreUnreachable(endpoint=self.config.endpoint or "AWS",
                                             reason=str(exc)) from None
            raise
        lock = None
        if reply.get("ObjectLockRetainUntilDate") is not None:
            lock = Lock(retain_until=reply["ObjectLockRetainUntilDate"].astimezone(UTC),
                        legal_hold=reply.get("ObjectLockLegalHoldStatus") == "ON")
        elif reply.get("ObjectLockLegalHoldStatus") == "ON":
            lock = Lock(retain_until=datetime.min.replace(tzinfo=UTC), legal_hold=True)
        return StoredObject(digest=digest, size=int(reply["ContentLength"]),
                            version=reply.get("VersionId"),
                            checksum=str(reply.get("ETag", "")).strip('"'), lock=lock)

    def lock_of(self, digest: str, version: str | None) -> Lock | None:
        """The lock read from the server's retention and legal-hold answers (not HEAD's copy)."""
        from botocore.exceptions import ClientError

        key = self.key(digest)
        extra = {"VersionId": version} if version else {}
        try:
            retention = self.client.get_object_retention(Bucket=self.bucket, Key=key, **extra)
            until = retention["Retention"]["RetainUntilDate"].astimezone(UTC)
        except ClientError:
            return None
        try:
            hold = self.client.get_object_legal_hold(Bucket=self.bucket, Key=key, **extra)
            held = hold["LegalHold"]["Status"] == "ON"
        except ClientError:
            held = False
        return Lock(retain_until=until, legal_hold=held)

    def open(self, digest: str, version: str | None = None) -> Iterator[bytes]:
        key = self.key(digest)
        extra = {"VersionId": version} if version else {}
        reply = self._call("GET", key, self.client.get_object, Key=key, **extra)
        body = reply["Body"]
        try:
            while chunk := body.read(READ_CHUNK):
                yield chunk
        finally:
            body.close()

    def verify(self, digest: str, version: str | None = None) -> bool:
        hasher = hashlib.sha256()
        for chunk in self.open(digest, version):
            hasher.update(chunk)
        return hasher.hexdigest() == digest

    # --- writing ---------------------------------------------------------------------------------
    def put(self, digest: str, source: BinaryIO, size: int, lock: Lock | None = None) -> StoredObject:
        """Upload, check, complete, lock, read back. Idempotent: an object of this digest that is
        already there with the right size and checksum metadata is only (re)locked."""
        key = self.key(digest)
        existing = self.head(digest)
        if existing is not None and existing.size == size and existing.checksum:
            extra = {"VersionId": existing.version} if existing.version else {}
            meta = self._call("HEAD", key, self.client.head_object, Key=key, **extra)
            if meta.get("Metadata", {}).get("sha256") == digest:
                return self._lock_and_check(digest, existing, lock, existing.checksum)
        if size <= self.config.multipart_threshold:
            data = read_full(source, size + 1)
            if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
                raise LocalCopyChanged(digest=digest, problem=f"read {len(data)} bytes of {size}")
            md5 = self._md5_sent(data)
            reply = self._call("PUT", key, self.client.put_object, Key=key, Body=data,
                               Metadata={"sha256": digest}, **self._lock_headers(lock),
                               **({"ContentMD5": base64.b64encode(md5).decode()} if md5 else {}))
            expected = md5.hex() if md5 else str(reply["ETag"]).strip('"')
            del data
            version, completed = reply.get("VersionId"), str(reply["ETag"]).strip('"')
        else:
            version, expected, completed = self._multipart(key, digest, source, size, lock)
        # The ETag is checked before the lock, so a wrong object is never locked: from the reply,
        # or (RGW 16.2 completes a multipart upload with an empty ETag) from a HEAD.
        if not completed and lock is not None:
            before = self.head(digest, version)
            completed = (before.checksum or "(none)") if before is not None else "(nothing there)"
        if completed and completed != expected:
            raise ObjectChecksumMismatch(key=key, problem=f"the server completed ETag "
                                         f"{completed!r}, we sent {expected!r}")
        if lock is not None:
            self._lock_new_version(digest, version, lock)
        stored = self.head(digest, version)
        if stored is None:
            raise ObjectChecksumMismatch(key=key, problem="the completed upload is not there")
        return self._check_stored(key, stored, lock, expected)

    def _lock_headers(self, lock: Lock | None) -> dict[str, Any]:
        if lock is None:
            return {}
        return {"ObjectLockMode": self.config.lock_mode,
                "ObjectLockRetainUntilDate": lock.retain_until,
                "ObjectLockLegalHoldStatus": "ON" if lock.legal_hold else "OFF"}

    def _lock_and_check(self, digest: str, stored: StoredObject, lock: Lock | None,
                        expected: str) -> StoredObject:
        """An object that was already there: checked, then locked by reading its lock first
        (``set_lock`` only ever extends) and reading it back."""
        key = self.key(digest)
        self._check_stored(key, stored, None, expected)
        if lock is not None:
            now_lock = self.set_lock(digest, stored.version, lock)
            stored = StoredObject(stored.digest, stored.size, stored.version, stored.checksum,
                                  now_lock)
            self._check_stored(key, stored, lock, expected)
        return stored

    @staticmethod
    def _check_stored(key: str, stored: StoredObject, lock: Lock | None,
                      expected: str) -> StoredObject:
        """The object as the server reports it is what we sent (size, ETag) and holds at least
        ``lock``: retained until then or later, with the legal hold as wanted."""
        if stored.size is None or stored.checksum != expected:
            raise ObjectChecksumMismatch(key=key, problem=f"the server reports ETag "
                                         f"{stored.checksum!r}, we sent {expected!r}")
        if lock is not None:
            now_lock = stored.lock
            if now_lock is None or now_lock.retain_until < lock.retain_until or (
                    now_lock.legal_hold != lock.legal_hold):
                raise ObjectStoreRefused(action="lock", key=key,
                                         reason=f"the server reports {now_lock}, wanted {lock}")
        return stored

    def _lock_new_version(self, digest: str, version: str | None, lock: Lock) -> None:
        """Lock a version this upload has just created: its retention is set directly (and its
        legal hold when one is wanted) without reading it first, and the caller reads it back with
        one HEAD (RGW 16.2, AWS and MinIO report a version's retention and legal hold there). A
        bucket default retention that already holds the version longer makes the server refuse a
        shorter date (COMPLIANCE and GOVERNANCE both refuse to shorten): then the general path
        reads the lock first and only extends it. Two to four requests instead of eight."""
        key = self.key(digest)
        extra = {"VersionId": version} if version else {}
        try:
            self._call("PutObjectRetention", key, self.client.put_object_retention, Key=key,
                       Retention={"Mode": self.config.lock_mode,
                                  "RetainUntilDate": lock.retain_until}, **extra)
        except ObjectStoreRefused:
            self.set_lock(digest, version, lock)
            return
        if lock.legal_hold:
            self._call("PutObjectLegalHold", key, self.client.put_object_legal_hold, Key=key,
                       LegalHold={"Status": "ON"}, **extra)

    def _multipart(self, key: str, digest: str, source: BinaryIO, size: int,
                   lock: Lock | None) -> tuple[str | None, str, str]:
        """Upload in parts; (the new version, the ETag we expect from the parts we sent, the ETag
        the server completed)."""
        part_size = self.config.part_size
        upload_id, have = self._resumable(key, size)
        if upload_id is None:
            reply = self._call("CreateMultipartUpload", key, self.client.create_multipart_upload,
                               Key=key, Metadata={"sha256": digest}, **self._lock_headers(lock))
            upload_id = reply["UploadId"]
        hasher = hashlib.sha256()
        md5s: dict[int, bytes] = {}
        parts: list[dict[str, Any]] = []
        failure: list[BaseException] = []
        sent = 0
        number = 0
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="s3-part")
        in_flight: set[Future[None]] = set()
        guard = threading.Lock()

        def send(part_number: int, data: bytes) -> None:
            md5, etag = self._upload_part(key, upload_id, part_number, data,
                                          have.get(part_number))
            with guard:
                md5s[part_number] = md5
                parts.append({"PartNumber": part_number, "ETag": etag})

        # The SHA-256 of the whole recording is one serial stream: it runs on its own thread, in
        # part order, beside the uploads (not before them); at most 2 parts wait for it.
        hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-sha256")
        hashed: list[Future[None]] = []
        try:
            while sent < size:
                data = read_full(source, min(part_size, size - sent))
                if not data:
                    break
                number += 1
                sent += len(data)
                hashed.append(hashing.submit(hasher.update, data))
                while len(hashed) > 2:
                    hashed.pop(0).result()
                while len(in_flight) >= self.concurrency:
                    done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
                in_flight.add(pool.submit(send, number, data))
                del data
            for future in [*in_flight, *hashed]:
                future.result()
        except BaseException as exc:
            failure.append(exc)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=bool(failure))
            hashing.shutdown(wait=True)
        if sent != size or source.read(1) or hasher.hexdigest() != digest:
            self._abort(key, upload_id)
            raise LocalCopyChanged(digest=digest, problem=f"read {sent} bytes of {size} hashing to "
                                   f"{hasher.hexdigest()}")
        parts.sort(key=lambda item: int(item["PartNumber"]))
        reply = self._call("CompleteMultipartUpload", key, self.client.complete_multipart_upload,
                           Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
        return (reply.get("VersionId"), composite_etag([md5s[n] for n in sorted(md5s)]),
                str(reply.get("ETag", "")).strip('"'))

    def _md5_sent(self, data: bytes) -> bytes | None:
        """The MD5 to send as Content-MD5, or None when the server checks the signed payload
        SHA-256 instead (``part_checksum = "sha256"``)."""
        if self.config.part_checksum == "md5":
            return hashlib.md5(data, usedforsecurity=False).digest()
        return None

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytes,
                     known: tuple[str, int] | None) -> tuple[bytes, str]:
        """Send one part unless the server has it already; (its MD5, its ETag). Hashing runs
        here, on the part's thread (hashlib releases the GIL). With ``part_checksum = "sha256"``
        the server verified the signed SHA-256 of the part, so the MD5 is the ETag it returns (a
        part left by an interrupted upload is still hashed here to know it is ours)."""
        if known is not None and known[1] == len(data):
            have = hashlib.md5(data, usedforsecurity=False).digest()
            if have.hex() == known[0]:
                return have, f'"{have.hex()}"'
        md5 = self._md5_sent(data)
        reply = self._call("UploadPart", key, self.client.upload_part, Key=key,
                           UploadId=upload_id, PartNumber=number, Body=data,
                           **({"ContentMD5": base64.b64encode(md5).decode()} if md5 else {}))
        etag = str(reply["ETag"])
        if md5 is None:
            try:
                md5 = bytes.fromhex(etag.strip('"'))
            except ValueError:
                raise ObjectChecksumMismatch(key=key, problem=f"part {number} came back with "
                                             f"ETag {etag!r}, not an MD5") from None
        return md5, etag

    def _resumable(self, key: str, size: int) -> tuple[str | None, dict[int, tuple[str, int]]]:
        """An unfinished upload of ``key`` to resume (newest), with the parts it has; the others
        (left by a crash before the id was known) are aborted."""
        reply = self._call("ListMultipartUploads", key, self.client.list_multipart_uploads,
                           Prefix=key)
        uploads = sorted((u for u in reply.get("Uploads", []) if u.get("Key") == key),
                         key=lambda u: u["Initiated"])
        if not uploads:
            return None, {}
        for stale in uploads[:-1]:
            self._abort(key, stale["UploadId"])
        upload_id = uploads[-1]["UploadId"]
        have: dict[int, tuple[str, int]] = {}
        marker = 0
        while True:
            listing = self._call("ListParts", key, self.client.list_parts, Key=key,
                                 UploadId=upload_id, PartNumberMarker=marker)
            for part in listing.get("Parts", []):
                have[int(part["PartNumber"])] = (str(part["ETag"]).strip('"'), int(part["Size"]))
            if not listing.get("IsTruncated"):
                break
            marker = int(listing["NextPartNumberMarker"])
        return upload_id, have

    def _abort(self, key: str, upload_id: str) -> None:
        # an upload nobody completes costs space, not evidence; the next run retries the abort
        with contextlib.suppress(ObjectStoreRefused, ObjectStoreUnreachable):
            self._call("AbortMultipartUpload", key, self.client.abort_multipart_upload, Key=key,
                       UploadId=upload_id)

    # --- locks and deletion ----------------------------------------------------------------------
    def set_lock(self, digest: str, version: str | None, lock: Lock) -> Lock | None:
        key = self.key(digest)
        extra = {"VersionId": version} if version else {}
        current = self.lock_of(digest, version)
        if current is None or lock.retain_until > current.retain_until:
            self._call("PutObjectRetention", key, self.client.put_object_retention, Key=key,
                       Retention={"Mode": self.config.lock_mode,
                                  "RetainUntilDate": lock.retain_until}, **extra)
        if current is None or current.legal_hold != lock.legal_hold:
            self._call("PutObjectLegalHold", key, self.client.put_object_legal_hold, Key=key,
                       LegalHold={"Status": "ON" if lock.legal_hold else "OFF"}, **extra)
        return self.lock_of(digest, version)

    # --- anchors: the files that anchor the custody history (issue 9 item 2) ---------------------
    def anchor_key(self, name: str) -> str:
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise ValueError(f"{name!r} is not an anchor file's relative name")
        return f"{self.config.prefix}anchors/{name}"

    def put_anchor(self, name: str, data: bytes, lock: Lock) -> bool:
        """Store one anchor file (a checkpoint, a signed manifest, its signature) under
        ``anchors/NAME``, locked like evidence; False when an object of that name is already
        there with the same bytes (its ETag is their MD5: single PUTs only). An object of that
        name with other bytes is refused: an anchor is never replaced."""
        key = self.anchor_key(name)
        expected = hashlib.md5(data, usedforsecurity=False).hexdigest()
        try:
            meta = self._call("HEAD", key, self.client.head_object, Key=key)
        except ObjectStoreRefused:
            meta = None  # 404: not there yet
        if meta is not None:
            if str(meta.get("ETag", "")).strip('"') != expected:
                raise ObjectChecksumMismatch(key=key, problem="the object store holds other "
                                             "bytes under this anchor's name")
            return False
        reply = self._call("PUT", key, self.client.put_object, Key=key, Body=data,
                           ContentMD5=_md5_b64(data), **self._lock_headers(lock))
        if str(reply.get("ETag", "")).strip('"') != expected:
            raise ObjectChecksumMismatch(key=key, problem=f"the server reports ETag "
                                         f"{reply.get('ETag')!r}, we sent {expected!r}")
        return True

    def delete(self, digest: str, version: str | None = None) -> None:
        key = self.key(digest)
        extra = {"VersionId": version} if version else {}
        self._call("delete", key, self.client.delete_object, Key=key, **extra)


def ensure_bucket(client: Any, bucket: str) -> None:
    """Create ``bucket`` with Object Lock if it does not exist (tests and the bench; a bureau
    creates its bucket once, see the README)."""
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
