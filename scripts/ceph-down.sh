#!/bin/bash
# Stop the Ceph that scripts/ceph-up.sh started under $D: radosgw, then the OSD, then the monitor,
# each by its pid file, waiting for each to exit (SIGKILL after 15 s); then remove $D.
D=${D:-/tmp/ceph-ci}
stop() { local p; p=$(cat "$1" 2>/dev/null) || return 0; kill "$p" 2>/dev/null
  for i in $(seq 1 75); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.2; done; kill -9 "$p" 2>/dev/null; }
stop "$D/run/client.rgw.pid"
for f in "$D"/run/osd.*.pid; do stop "$f"; done
stop "$D/run/mon.a.pid"
rm -rf "$D"
