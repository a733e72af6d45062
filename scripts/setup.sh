#!/usr/bin/env bash
# Prepare this machine for bodycam-ingest from a fresh clone: system tools, then the venv.
#
# Idempotent: apt runs only when a package is missing (and `apt-get update` only then), pip only
# when pyproject.toml changed since the last successful install. Run as root (CI) or as a user
# with sudo; under `sudo scripts/setup.sh` the venv still belongs to the invoking user.
# One line per step; a failure names the step and exits non-zero.
set -Eeuo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."
STEP="start"
step() { STEP="$1"; printf '==> %s\n' "$1"; }
fail() { printf 'setup.sh: FAILED at step "%s": %s\n' "$STEP" "$1" >&2; exit 1; }
trap 'fail "\"${BASH_COMMAND}\" exited with status $?"' ERR

# What the product and its tests run: ffmpeg/ffprobe (media), udev (docking), fusefat and
# exfat-fuse (read-only FAT/exFAT where the kernel lacks them), dosfstools + mtools (simulated
# FAT32 cameras without mounting), exfatprogs (exFAT test media), fuse3 (fusermount), util-linux
# (mount, losetup, blockdev), e2fsprogs (ext4 media), openssl (key handling), python3-venv (pip),
# postgresql-15 (the catalog's PostgreSQL tests start a throwaway server with scripts/pg-up.sh; a
# station never runs it: its catalog server is the bureau's),
# python3-seccomp (the sandbox tests apply the unit's SystemCallFilter with libseccomp), sudo (the
# README's deploy block is run as written), stress-ng (the suite is also run under CPU load).
# sqlite3 (the database floor bench/cli.py times beside the CLI), chromium and fonts-wqy-microhei
# (the console's browser tests; a CJK font so Chinese renders), tesseract-ocr and
# fonts-dejavu-core (reading cameras' burned-in overlays, and making them in tests), strace
# (tests/test_commit_faults.py injects ENOSPC into the catalog's WAL, as issue 9's D2 was found),
# radosgw,
# ceph-mon and ceph-osd (the object store's tests start a throwaway Ceph with S3 Object Lock:
# scripts/ceph-up.sh; a station never runs Ceph itself).
# This is the developer's and CI's machine; a station installs with scripts/install-station.sh.
PACKAGES=(ffmpeg udev fusefat dosfstools mtools exfat-fuse exfatprogs fuse3 util-linux
          e2fsprogs openssl python3 python3-venv postgresql-15 tesseract-ocr fonts-dejavu-core
          python3-seccomp sudo stress-ng chromium fonts-wqy-microhei sqlite3 strace
          radosgw ceph-mon ceph-osd)

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    SUDO=(false)  # only used when something must be installed
fi

step "checking system packages"
missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    step "system packages already installed (${#PACKAGES[@]})"
else
    [ "${SUDO[0]:-}" != "false" ] || fail "missing ${missing[*]}; run as root or install sudo"
    step "apt-get update (missing: ${missing[*]})"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    step "apt-get install ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

step "checking kernel facilities"
[ -e /dev/fuse ] || printf '    warning: /dev/fuse is missing; FAT cameras cannot be mounted here\n'
[ -e /dev/loop-control ] || printf '    warning: no loop devices; root-only tests will be skipped\n'
grep -qw vfat /proc/filesystems || printf '    note: kernel has no vfat; FAT cameras use fusefat\n'

# The venv belongs to whoever called sudo, not to root.
AS_USER=()
if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "${SUDO_USER}" != "root" ]; then
    AS_USER=(sudo -u "$SUDO_USER" --)
fi

step "checking python3 >= 3.11"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || fail "python3 is $(python3 -V 2>&1); bodycam-ingest needs 3.11 or newer"

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys' >/dev/null 2>&1; then
    step "creating .venv"
    rm -rf .venv
    "${AS_USER[@]}" python3 -m venv .venv
else
    step ".venv exists"
fi

STAMP=.venv/.bodycam-setup-stamp
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $(.venv/bin/python -V 2>&1) $(pwd)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
        && .venv/bin/python -c 'import bodycam_ingest' >/dev/null 2>&1; then
    step "python packages up to date (pyproject.toml unchanged)"
else
    step "pip install -e '.[test,postgres]'"
    "${AS_USER[@]}" .venv/bin/python -m pip install --quiet --disable-pip-version-check \
        -e '.[test,postgres]'
    printf '%s\n' "$want" > "$STAMP"
    [ ${#AS_USER[@]} -eq 0 ] || chown "$SUDO_USER" "$STAMP"
fi

step "done: activate with . .venv/bin/activate"
