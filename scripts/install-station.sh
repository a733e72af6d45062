#!/usr/bin/env bash
# Install (or update) a bodycam-ingest station from this clone. Idempotent: run it again after
# `git pull` or after editing the config (it regenerates the udev rule from the [[cameras]] rules).
#
#   sudo bash scripts/install-station.sh [--admin LOGIN] [--station-id ID] [--postgres]
#
# What it does, each step once and only when needed:
#   - runtime packages only (ffmpeg, udev, fusefat, exfat-fuse, fuse3, util-linux, python3-venv):
#     no test tools, no database server
#   - the `bodycam` system user and group
#   - a virtualenv in /opt/bodycam/.venv with this release (and psycopg with --postgres), and
#     /usr/local/bin/bodycam
#   - /etc/bodycam (root:bodycam 0750) with config.toml (root:bodycam 0640) from
#     config.example.toml, unless one exists (kept; only its owner and mode are corrected)
#   - the state folder (bodycam:bodycam 0700), the station key (bodycam keys init, as bodycam)
#   - the udev rule generated from the config, the systemd unit and job timers; with systemd as
#     PID 1 the unit is enabled and (re)started, otherwise it says how to start the daemon
#   - with --admin LOGIN: the first admin account (`bodycam users add`, when this version has it)
#   - `bodycam doctor` at the end
# One line per step; a failure names the step and exits non-zero.
set -Eeuo pipefail

SRC="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
PREFIX=/opt/bodycam
CONF_DIR=/etc/bodycam
BIN_DIR=/usr/local/bin
UNIT_DIR=/etc/systemd/system
UDEV_DIR=/etc/udev/rules.d
SERVICE_USER=bodycam
ADMIN=""
STATION_ID=""
EXTRAS=""
PYTHON=/usr/bin/python3

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --admin) ADMIN="${2:?--admin needs a login}"; shift 2 ;;
        --station-id) STATION_ID="${2:?--station-id needs an id}"; shift 2 ;;
        --postgres) EXTRAS="[postgres]"; shift ;;
        -h|--help) usage ;;
        *) printf 'install-station.sh: unknown option %s\n' "$1" >&2; usage ;;
    esac
done

STEP="start"
step() { STEP="$1"; printf '==> %s\n' "$1"; }
fail() { printf 'install-station.sh: FAILED at step "%s": %s\n' "$STEP" "$1" >&2; exit 1; }
trap 'fail "\"${BASH_COMMAND}\" exited with status $?"' ERR

[ "$(id -u)" -eq 0 ] || fail "run it as root: sudo bash scripts/install-station.sh"
CONFIG="$CONF_DIR/config.toml"
VENV="$PREFIX/.venv"
BODYCAM="$VENV/bin/bodycam"
as_service() { runuser -u "$SERVICE_USER" -- "$@"; }

# What the station runs: ffmpeg/ffprobe (media), udev (docking), fusefat and exfat-fuse
# (read-only FAT/exFAT where the kernel lacks them), fuse3 (FUSE), util-linux (mount, runuser),
# python3-venv (the virtualenv).
PACKAGES=(ffmpeg udev fusefat exfat-fuse fuse3 util-linux python3 python3-venv)
step "checking runtime packages"
missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    step "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || fail "$PYTHON is $("$PYTHON" -V 2>&1); bodycam-ingest needs 3.11 or newer"

step "service user $SERVICE_USER"
if ! getent passwd "$SERVICE_USER" >/dev/null; then
    getent group "$SERVICE_USER" >/dev/null || groupadd --system "$SERVICE_USER"
    useradd --system --gid "$SERVICE_USER" --home-dir /var/lib/bodycam --no-create-home \
        --shell /usr/sbin/nologin "$SERVICE_USER"
fi

step "virtualenv $VENV"
install -d -o root -g root -m 0755 "$PREFIX"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.bodycam-install-stamp"
want="$( (cd "$SRC" && find pyproject.toml bodycam_ingest -type f \( -name '*.py' -o -name '*.toml' \
    -o -name '*.ini' -o -name '*.mako' \) -print0 | sort -z | xargs -0 sha256sum) | sha256sum \
    | cut -d' ' -f1)$EXTRAS $("$VENV/bin/python" -V 2>&1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$BODYCAM" ]; then
    step "bodycam-ingest already installed (source unchanged)"
else
    step "pip install bodycam-ingest$EXTRAS (runtime dependencies only)"
    BUILD="$(mktemp -d)"
    # pip builds in a copy: the clone may belong to someone else and stays untouched
    (cd "$SRC" && tar --exclude=.venv --exclude=.git --exclude='*.egg-info' --exclude=build \
        -cf - pyproject.toml README.md bodycam_ingest) | tar -C "$BUILD" -xf -
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade \
        "$BUILD$EXTRAS"
    rm -rf "$BUILD"
    printf '%s\n' "$want" > "$STAMP"
fi
install -m 0644 "$SRC/README.md" "$SRC/config.example.toml" "$PREFIX/"
ln -sfn "$BODYCAM" "$BIN_DIR/bodycam"

step "configuration $CONFIG"
install -d -o root -g "$SERVICE_USER" -m 0750 "$CONF_DIR"
if [ ! -e "$CONFIG" ]; then
    install -o root -g "$SERVICE_USER" -m 0640 "$SRC/config.example.toml" "$CONFIG"
    printf '    new config from config.example.toml: set station.id and [[cameras]] in %s\n' \
        "$CONFIG"
fi
if [ -n "$STATION_ID" ]; then
    sed -i "0,/^id = .*/s//id = \"$STATION_ID\"/" "$CONFIG"
fi
chown root:"$SERVICE_USER" "$CONFIG"
chmod 0640 "$CONFIG"
"$BODYCAM" --help >/dev/null
STATE_DIR="$("$VENV/bin/python" -c 'import sys; from pathlib import Path
from bodycam_ingest.config import load_config
print(load_config(Path(sys.argv[1])).storage.state_dir)' "$CONFIG")" \
    || fail "$CONFIG is not valid; fix it (the message above names the key) and run this again"

step "state folder $STATE_DIR"
install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0700 "$STATE_DIR"

step "station key"
if as_service "$BODYCAM" keys show --config "$CONFIG" >/dev/null 2>&1; then
    printf '    station key present\n'
else
    as_service "$BODYCAM" keys init --config "$CONFIG"
fi

step "udev rule $UDEV_DIR/70-bodycam.rules (from the config's [[cameras]])"
install -d -m 0755 "$UDEV_DIR"
"$BODYCAM" udev-rules --config "$CONFIG" --output "$UDEV_DIR/70-bodycam.rules"
if udevadm control --reload >/dev/null 2>&1; then
    udevadm trigger --subsystem-match=block --action=change >/dev/null 2>&1 || true
else
    printf '    systemd-udevd is not running: the rule applies once it starts\n'
fi

step "systemd unit and job timers in $UNIT_DIR"
install -d -m 0755 "$UNIT_DIR"
install -m 0644 "$SRC"/systemd/bodycam*.service "$SRC"/systemd/bodycam*.timer "$UNIT_DIR/"
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable bodycam.service >/dev/null
    systemctl restart bodycam.service
    printf '    bodycam.service enabled and started (journalctl -u bodycam -f)\n'
else
    printf '    systemd is not PID 1 here (PID 1 is %s): the unit is installed but not started;\n' \
        "$(cat /proc/1/comm 2>/dev/null || echo unknown)"
    printf '    start the daemon yourself: sudo -u %s bodycam daemon\n' "$SERVICE_USER"
fi

if [ -n "$ADMIN" ]; then
    step "first admin account: $ADMIN"
    if [ "$ADMIN" = root ] || [ "$ADMIN" = "$SERVICE_USER" ]; then
        printf '    %s is the station itself (it needs no account); give --admin YOUR_LOGIN\n' "$ADMIN"
    elif ! id "$ADMIN" >/dev/null 2>&1; then
        printf '    there is no OS user %s: create it, then run this script again\n' "$ADMIN"
    else
        # as the service account, so the catalog's files stay its own (root would leave
        # root-owned -wal/-shm files the daemon cannot open)
        as_service "$BODYCAM" users add "$ADMIN" --name "$ADMIN" \
            --os-user "$ADMIN" --roles admin --config "$CONFIG" \
            || printf '    (bodycam users add did not add %s; see above: it may exist already)\n' \
                "$ADMIN"
    fi
fi

step "bodycam doctor"
set +e
"$BODYCAM" doctor --config "$CONFIG"
code=$?
set -e
step "installed (doctor exit $code: 0 all good, 1 warnings, 9 a check failed; each has its fix)"
