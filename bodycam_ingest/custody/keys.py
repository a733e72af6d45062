"""The station's Ed25519 signing key: creation, rotation, loading, signing, verifying.

Layout of the key directory (``bodycam keys`` works on it; the daemon reads it)::

    DIR/station.key          current private key, PKCS8 PEM, mode 0600
    DIR/station.pub          current public key, SubjectPublicKeyInfo PEM (``openssl -pubin``)
    DIR/keyring/<id>.pub     every public key the station ever signed with, current one included

DIR and DIR/keyring are mode 0700 (only the service account gets in; ``bodycam keys export``
hands the public keys to auditors).

Signatures are raw 64-byte Ed25519 over the exact bytes given (``openssl pkeyutl -rawin``), so
anyone can check them without this software. A rotated key's public half stays in the keyring
forever: old manifests and checkpoints must remain verifiable for the whole retention period.

Every file reaches its name by ``os.replace`` from a temporary file in the same directory. The
private key's temporary file is created with mode 0600 by ``open(2)`` itself, so there is no
moment at which another user could read it. Write order makes a crash harmless: the keyring
entry first, then the private key (the commit point), then ``station.pub``; ``publish_public``
rewrites the last two public files from the private key and is safe to run at any time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bodycam_ingest.errors import KeyFileInvalid, KeyFileTooOpen, NotFound, Refused

PRIVATE_NAME = "station.key"
PUBLIC_NAME = "station.pub"
KEYRING_NAME = "keyring"
KEY_ID_HEX = 16


# --------------------------------------------------------------------------- pure helpers


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key.

    Derived from the key itself, so a keyring file cannot lie about which key it holds.
    """
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:KEY_ID_HEX]


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_pem(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def sign(private_key: Ed25519PrivateKey, data: bytes) -> bytes:
    """Detached raw Ed25519 signature (64 bytes), as ``openssl pkeyutl -sign -rawin`` makes."""
    return private_key.sign(data)


def verify(public_key: Ed25519PublicKey, data: bytes, signature: bytes) -> bool:
    """True only if ``signature`` is ``public_key``'s signature over exactly ``data``."""
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def public_from_pem(data: bytes, *, source: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileInvalid(path=source, reason="not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileInvalid(path=source, reason=f"holds a {type(key).__name__}, not Ed25519")
    return key


# --------------------------------------------------------------------------- files


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` via a temporary file that has ``mode`` from its creation."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask may have removed bits we need; it never adds any
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _mode(st_mode: int) -> str:
    return f"{stat.S_IMODE(st_mode):04o}"


def load_private(path: Path) -> Ed25519PrivateKey:
    """Load the station private key, refusing a file that group or other users can access.

    The permission check is on the opened file descriptor, so the file checked is the file read.
    """
    try:  # O_NONBLOCK: a FIFO planted at the key's path must not hang the daemon
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError as exc:
        raise NotFound(
            what="Station private key", ident=str(path), hint="Create one with `bodycam keys init`."
        ) from exc
    except PermissionError as exc:
        raise KeyFileInvalid(
            path=str(path), reason="this user may not read it; run as the user that owns the key"
        ) from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileInvalid(path=str(path), reason="not a regular file")
        if info.st_mode & 0o077:
            raise KeyFileTooOpen(path=str(path), mode=_mode(info.st_mode))
        data = handle.read()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:  # TypeError: the PEM is encrypted
        raise KeyFileInvalid(path=str(path), reason="not an unencrypted PKCS8 PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileInvalid(path=str(path), reason=f"holds a {type(key).__name__}, not Ed25519")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise NotFound(what="Public key", ident=str(path), hint="") from exc
    return public_from_pem(data, source=str(path))


def load_keyring(directory: Path) -> dict[str, Ed25519PublicKey]:
    """Every public key in ``DIR/keyring``, by key id; a file named for another key is refused."""
    ring: dict[str, Ed25519PublicKey] = {}
    keyring = directory / KEYRING_NAME
    if not keyring.is_dir():
        return ring
    for path in sorted(keyring.glob("*.pub")):
        key = load_public(path)
        ident = key_id(key)
        if path.stem != ident:
            raise KeyFileInvalid(path=str(path), reason=f"holds key {ident}, not the key its name says")
        ring[ident] = key
    return ring


def publish_public(directory: Path) -> str:
    """(Re)write ``station.pub`` and the keyring entry from the current private key.

    Idempotent; finishes a ``generate`` or ``rotate`` that a crash interrupted.
    """
    public = load_private(directory / PRIVATE_NAME).public_key()
    ident = key_id(public)
    _publish(directory, public, ident, keyring_only=False)
    return ident


def _publish(directory: Path, public: Ed25519PublicKey, ident: str, *, keyring_only: bool) -> None:
    keyring = directory / KEYRING_NAME
    if not keyring.is_dir():
        keyring.mkdir(mode=0o700, exist_ok=True)
        os.chmod(keyring, 0o700)  # inside the private key folder; exactly, whatever the umask
    pem = public_pem(public)
    ring_path = keyring / f"{ident}.pub"
    if not ring_path.exists() or ring_path.read_bytes() != pem:
        _write_atomic(ring_path, pem, 0o644)
    station_pub = directory / PUBLIC_NAME
    if not keyring_only and (not station_pub.exists() or station_pub.read_bytes() != pem):
        _write_atomic(station_pub, pem, 0o644)


def _install(directory: Path, private: Ed25519PrivateKey) -> str:
    public = private.public_key()
    ident = key_id(public)
    _publish(directory, public, ident, keyring_only=True)  # verifiable before it can sign
    _write_atomic(directory / PRIVATE_NAME, private_pem(private), 0o600)  # commit point
    _publish(directory, public, ident, keyring_only=False)
    return ident


def generate(directory: Path) -> str:
    """Create the station key in ``directory`` (made 0700 if missing); return its key id.

    Refuses when a private key is already there: replacing a key is ``rotate``, never an accident.
    """
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)  # exactly, whatever the umask
    existing = directory / PRIVATE_NAME
    if existing.exists():
        raise Refused(
            reason=f"a station key already exists at {existing}; use `bodycam keys rotate` to replace it"
        )
    return _install(directory, Ed25519PrivateKey.generate())


def rotate(directory: Path) -> tuple[str, str]:
    """Replace the station key with a new one; return ``(old_id, new_id)``.

    The old public key stays in the keyring (it is re-published first, in case it was missing),
    so everything signed before the rotation still verifies. The old private key is overwritten.
    """
    old = load_private(directory / PRIVATE_NAME).public_key()
    old_id = key_id(old)
    _publish(directory, old, old_id, keyring_only=True)
    return old_id, _install(directory, Ed25519PrivateKey.generate())
