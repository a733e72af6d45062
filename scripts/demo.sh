#!/usr/bin/env bash
# The main job on a simulated docked camera, end to end:
#   build a camera (a FAT32 image of ffmpeg-made recordings), start the station daemon, dock the
#   camera (as root: a loop device and a real udev event; otherwise: a cradle-style watch folder),
#   wait for the ingest, stop the daemon, and show what arrived.
# Everything lives in ./demo-run (removed and rebuilt on each run). Needs scripts/setup.sh first.
set -Eeuo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
DEMO="$PWD/demo-run"
BODYCAM=(.venv/bin/bodycam)
say() { printf '\n==> %s\n' "$1"; }

rm -rf "$DEMO"
mkdir -p "$DEMO/watch"
cat > "$DEMO/config.toml" <<CONF
[station]
id = "demo-station"
zone = "Asia/Shanghai"

[storage]
state_dir = "$DEMO/state"
free_space_reserve = "100 MiB"

[ingest]
settle_seconds = 1.0
watch_folders = [{ path = "$DEMO/watch", camera = "demo-bodycam" }]

[[cameras]]
name = "demo-bodycam"
fs_labels = ["BODYCAM*"]
recordings = ["DCIM/**/*.MP4"]
CONF
export BODYCAM_CONFIG="$DEMO/config.toml"

MODE=folder
if [ "$(id -u)" -eq 0 ] && [ -e /dev/loop-control ] && [ -e /dev/fuse ]; then MODE=dock; fi

LOOP=""
DAEMON=""
cleanup() {
    if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then kill -TERM "$DAEMON"; wait "$DAEMON" || true; fi
    if [ -n "$LOOP" ]; then blockdev --setrw "$LOOP" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; fi
}
trap cleanup EXIT

say "building a simulated body camera: 4 recordings of 3 s, officer A1024, camera DSJ9X001"
if [ "$MODE" = dock ]; then
    "${BODYCAM[@]}" sim-camera "$DEMO/camera.img" --image --segments 4 --seconds 3 --label BODYCAM
    sha256sum "$DEMO/camera.img" > "$DEMO/camera.img.sha256"
else
    "${BODYCAM[@]}" sim-camera "$DEMO/camera" --segments 4 --seconds 3
fi

if [ "$MODE" = dock ] && ! udevadm control --ping -t 2 2>/dev/null; then
    say "starting systemd-udevd (docking is detected through udev)"
    /lib/systemd/systemd-udevd --daemon
fi

say "starting the station daemon (log: demo-run/daemon.log)"
"${BODYCAM[@]}" keys init   # the station's signing key: every dock's manifest is signed with it
"${BODYCAM[@]}" daemon > "$DEMO/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 300); do grep -q "daemon ready" "$DEMO/daemon.log" && break; sleep 0.1; done
grep -q "daemon ready" "$DEMO/daemon.log" || { cat "$DEMO/daemon.log"; exit 1; }

if [ "$MODE" = dock ]; then
    say "docking the camera: attaching the image as a block device (udev announces it)"
    LOOP=$(losetup -f --show "$DEMO/camera.img")
    udevadm trigger --action=change --settle "$LOOP"
else
    say "not root: the camera appears in a watch folder, as a vendor cradle would mount it"
    cp -a "$DEMO/camera" "$DEMO/watch/DSJ9X001"
fi

say "waiting for the ingest to finish"
for _ in $(seq 600); do
    done_docks=$("${BODYCAM[@]}" status --json 2>/dev/null \
        | .venv/bin/python -c 'import json,sys; d=json.load(sys.stdin); print(len(d["recent"]) if not d["running"] else 0)')
    [ "$done_docks" -gt 0 ] && break
    sleep 0.2
done

say "stopping the daemon (SIGTERM)"
kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""
grep -E "camera docked|dock .* finished|recording_ingested" "$DEMO/daemon.log" | cut -c1-160 || true

if [ "$MODE" = dock ]; then
    say "the camera was never written: its image hash is unchanged"
    sha256sum -c "$DEMO/camera.img.sha256"
fi

"${BODYCAM[@]}" status
"${BODYCAM[@]}" list

say "retention: what the station keeps and when anything becomes deletable (a dry run)"
"${BODYCAM[@]}" retention plan
"${BODYCAM[@]}" jobs list
