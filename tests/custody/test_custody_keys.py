"""The station key: private file never readable by others, signatures that openssl accepts."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from bodycam_ingest.custody import keys
from bodycam_ingest.custody.manifest import Manifest, ManifestEntry, canonical_bytes
from bodycam_ingest.errors import ExitCode, NotFound, Refused

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most careless umask an operator could have: nothing masked."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, check=False)


def a_manifest(clip: bytes) -> Manifest:
    at = datetime(2025, 3, 7, 2, 0, tzinfo=UTC)
    item = ManifestEntry(
        camera_path="DCIM/100MEDIA/0001.MP4",
        size=len(clip),
        sha256=hashlib.sha256(clip).hexdigest(),
        device="CAM-7",
        officer="张三",
        recording_start=at,
        ingested_at=at,
    )
    return Manifest("ST-01", "D-0001", "CAM-7", at, at, (item,), None)


# --------------------------------------------------------------------------- generate


def test_generate_writes_a_0600_pkcs8_key_and_a_public_key_openssl_reads(
    tmp_path: Path, open_umask: None
) -> None:
    directory = tmp_path / "keys"
    ident = keys.generate(directory)

    private = directory / "station.key"
    public = directory / "station.pub"
    assert mode_of(private) == 0o600
    assert mode_of(directory) == 0o700
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")  # SPKI
    assert (directory / "keyring" / f"{ident}.pub").read_bytes() == public.read_bytes()
    assert not [p for p in directory.rglob("*") if p.name.endswith(".tmp")]

    raw = keys.load_public(public).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert ident == hashlib.sha256(raw).hexdigest()[:16] == keys.key_id(keys.load_public(public))
    if OPENSSL:
        assert openssl("pkey", "-in", "station.key", "-noout", cwd=directory).returncode == 0
        text = openssl("pkey", "-pubin", "-in", "station.pub", "-text", "-noout", cwd=directory)
        assert "ED25519 Public-Key" in text.stdout


def test_private_key_file_has_mode_0600_from_the_moment_it_is_created(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open
    births: list[tuple[str, int]] = []

    def watching_open(path: os.PathLike[str] | str, flags: int, mode: int = 0o777) -> int:
        fd = real_open(path, flags, mode)
        if flags & os.O_CREAT:  # look at the new file before a single byte is written
            births.append((os.fspath(path), stat.S_IMODE(os.fstat(fd).st_mode)))
        return fd

    monkeypatch.setattr(os, "open", watching_open)
    keys.generate(tmp_path)
    private_births = [m for p, m in births if "station.key" in p]
    assert private_births == [0o600]


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_no_system_call_ever_gives_the_private_key_a_wider_mode(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    script = (
        "import os, sys; from pathlib import Path; os.umask(0);"
        "from bodycam_ingest.custody import keys;"
        "keys.generate(Path(sys.argv[1])); keys.rotate(Path(sys.argv[1]))"
    )
    run = subprocess.run(
        ["strace", "-f", "-o", str(trace),
         "-e", "trace=open,openat,creat,chmod,fchmod,fchmodat,rename,renameat,renameat2",
         sys.executable, "-c", script, str(tmp_path / "keys")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if run.returncode != 0 and "ptrace" in run.stderr:
        pytest.skip(f"strace cannot trace here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    created, private_modes = 0, []
    private_fds: set[str] = set()
    for line in trace.read_text().splitlines():
        result = line.rsplit("= ", 1)[-1].split()[0] if "= " in line else ""
        if re.search(r"\bopen(at)?\(", line):
            if "station.key" in line and "O_CREAT" in line:
                created += 1
                assert "O_EXCL" in line and re.search(r"O_CREAT[^)]*, 0600\)", line), line
                private_fds.add(result)
            else:
                private_fds.discard(result)  # the number now names another file
        elif match := re.search(r"\bfchmod\((\d+), (\d+)\)", line):
            if match.group(1) in private_fds:
                private_modes.append(match.group(2))
        elif re.search(r"\bf?chmod(at)?\(", line) and "station.key" in line:
            private_modes.append(line)
    assert created == 2  # generate, rotate
    assert private_modes == ["0600", "0600"]


def test_generate_refuses_to_replace_an_existing_key(tmp_path: Path) -> None:
    keys.generate(tmp_path)
    before = (tmp_path / "station.key").read_bytes()
    with pytest.raises(Refused, match=r"already exists.*bodycam keys rotate"):
        keys.generate(tmp_path)
    assert (tmp_path / "station.key").read_bytes() == before


# --------------------------------------------------------------------------- load_private


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o610])
def test_daemon_refuses_a_private_key_other_users_can_access(tmp_path: Path, mode: int) -> None:
    keys.generate(tmp_path)
    private = tmp_path / "station.key"
    private.chmod(mode)
    with pytest.raises(keys.KeyFileTooOpen) as caught:
        keys.load_private(private)
    message = str(caught.value)
    assert str(private) in message
    assert f"{mode:04o}" in message
    assert f"chmod 600 {private}" in message
    assert caught.value.exit_code == ExitCode.REFUSED


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_private_key_only_its_owner_can_read_loads(tmp_path: Path, mode: int) -> None:
    ident = keys.generate(tmp_path)
    (tmp_path / "station.key").chmod(mode)
    assert keys.key_id(keys.load_private(tmp_path / "station.key").public_key()) == ident


def test_missing_or_unusable_private_keys_are_named_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="bodycam keys init"):
        keys.load_private(tmp_path / "station.key")

    fifo = tmp_path / "fifo.key"
    os.mkfifo(fifo, 0o600)  # would block a plain open() forever
    with pytest.raises(keys.KeyFileInvalid, match="not a regular file"):
        keys.load_private(fifo)

    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"not a key")
    garbage.chmod(0o600)
    with pytest.raises(keys.KeyFileInvalid, match=r"garbage\.key.*PKCS8"):
        keys.load_private(garbage)


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
def test_a_non_ed25519_or_encrypted_key_is_refused(tmp_path: Path) -> None:
    openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.key", cwd=tmp_path
    )
    openssl(
        "genpkey", "-algorithm", "ed25519", "-aes-128-cbc", "-pass", "pass:x", "-out", "enc.key", cwd=tmp_path
    )
    for name in ("ec.key", "enc.key"):
        (tmp_path / name).chmod(0o600)
    with pytest.raises(keys.KeyFileInvalid, match="not Ed25519"):
        keys.load_private(tmp_path / "ec.key")
    with pytest.raises(keys.KeyFileInvalid, match="unencrypted"):
        keys.load_private(tmp_path / "enc.key")


# --------------------------------------------------------------------------- openssl interop


@needs_openssl
def test_openssl_verifies_the_detached_signature_and_rejects_one_flipped_byte(
    tmp_path: Path, clip: bytes
) -> None:
    keys.generate(tmp_path)
    private = keys.load_private(tmp_path / "station.key")
    data = canonical_bytes(a_manifest(clip))
    (tmp_path / "manifest.json").write_bytes(data)
    (tmp_path / "manifest.sig").write_bytes(keys.sign(private, data))
    verify_cmd = (
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "station.pub",
        "-rawin",
        "-in",
        "manifest.json",
        "-sigfile",
        "manifest.sig",
    )

    good = openssl(*verify_cmd, cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert "Signature Verified Successfully" in good.stdout

    for name in ("manifest.json", "manifest.sig"):
        path = tmp_path / name
        original = path.read_bytes()
        flipped = bytearray(original)
        flipped[len(flipped) // 2] ^= 0x01
        path.write_bytes(bytes(flipped))
        bad = openssl(*verify_cmd, cwd=tmp_path)
        assert bad.returncode != 0, f"openssl accepted a flipped byte in {name}"
        assert "Signature Verified Successfully" not in bad.stdout
        path.write_bytes(original)


@needs_openssl
def test_a_signature_openssl_makes_with_the_station_key_verifies_here(tmp_path: Path) -> None:
    keys.generate(tmp_path)
    (tmp_path / "data").write_bytes(b"checkpoint bytes")
    made = openssl(
        "pkeyutl", "-sign", "-inkey", "station.key", "-rawin", "-in", "data", "-out", "data.sig", cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    public = keys.load_public(tmp_path / "station.pub")
    signature = (tmp_path / "data.sig").read_bytes()
    assert keys.verify(public, b"checkpoint bytes", signature)
    assert not keys.verify(public, b"checkpoint bytez", signature)
    assert not keys.verify(public, b"checkpoint bytes", signature[:-1])
    assert not keys.verify(public, b"checkpoint bytes", b"")


# --------------------------------------------------------------------------- rotation


def test_rotation_keeps_every_old_public_key_so_old_signatures_still_verify(
    tmp_path: Path, open_umask: None
) -> None:
    first = keys.generate(tmp_path)
    old_signature = keys.sign(keys.load_private(tmp_path / "station.key"), b"manifest 1")

    old_id, second = keys.rotate(tmp_path)
    _, third = keys.rotate(tmp_path)

    assert old_id == first and len({first, second, third}) == 3
    assert mode_of(tmp_path / "station.key") == 0o600
    current = keys.load_private(tmp_path / "station.key")
    assert keys.key_id(current.public_key()) == third
    assert keys.key_id(keys.load_public(tmp_path / "station.pub")) == third
    ring = keys.load_keyring(tmp_path)
    assert set(ring) == {first, second, third}
    assert keys.verify(ring[first], b"manifest 1", old_signature)
    assert not keys.verify(ring[third], b"manifest 1", old_signature)


def test_a_keyring_file_named_for_another_key_is_refused(tmp_path: Path) -> None:
    first = keys.generate(tmp_path)
    _, second = keys.rotate(tmp_path)
    ring = tmp_path / "keyring"
    (ring / f"{first}.pub").write_bytes((ring / f"{second}.pub").read_bytes())
    with pytest.raises(keys.KeyFileInvalid, match=f"{first}.pub.*holds key {second}"):
        keys.load_keyring(tmp_path)


def test_publish_public_finishes_an_interrupted_rotation_and_is_idempotent(
    tmp_path: Path,
) -> None:
    ident = keys.generate(tmp_path)
    # A crash after the private key was committed but before the public files were written:
    (tmp_path / "station.pub").unlink()
    (tmp_path / "keyring" / f"{ident}.pub").unlink()
    assert keys.publish_public(tmp_path) == ident
    assert keys.publish_public(tmp_path) == ident
    assert keys.key_id(keys.load_public(tmp_path / "station.pub")) == ident
    assert set(keys.load_keyring(tmp_path)) == {ident}
