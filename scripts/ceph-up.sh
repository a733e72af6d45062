#!/bin/bash
# A single-node throwaway Ceph (one monitor, one in-memory OSD, radosgw) on 127.0.0.1 with every
# piece of state under $D: the object store's tests and bench/replicate.py start it, never a station.
# From ../shared/recipes/ceph-up.sh, with the ports and the OSD's memory as settings so that two runs
# on one machine cannot collide:
#   D=/tmp/ceph-x  RGW_PORT=7480  MON_PORT=3300  MON_V1_PORT=6789  MEMSTORE_BYTES=1073741824
# Prints "pids: mon=.. osd=.. rgw=.." last; stop with scripts/ceph-down.sh (same D), and wait for it.
# The S3 user is AKTEST / SKTEST.
set -e
D=${D:-/tmp/ceph-ci}
RGW_PORT=${RGW_PORT:-7480}
MON_PORT=${MON_PORT:-3300}
MON_V1_PORT=${MON_V1_PORT:-6789}
MEMSTORE_BYTES=${MEMSTORE_BYTES:-1073741824}
WAIT=${WAIT:-240}  # half-seconds to wait for each daemon (a loaded machine is slow)
rm -rf "$D"; mkdir -p "$D"/{mon,osd0,run,log,rgw}
FSID=$(cat /proc/sys/kernel/random/uuid)
C=$D/ceph.conf
MONADDR="[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]"
cat > "$C" <<EOF
[global]
fsid = $FSID
mon host = $MONADDR
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail crit = 0
mon data avail warn = 0
auth allow insecure global id reclaim = false
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd data = $D/osd\$id
mon data = $D/mon
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $D/rgw
rgw dns name = 127.0.0.1
ms mon client mode = crc
EOF
monmaptool --create --fsid "$FSID" --addv a "$MONADDR" "$D/monmap" >/dev/null
ceph-mon -c "$C" --mkfs -i a --monmap "$D/monmap"
ceph-mon -c "$C" -i a                      # daemonizes, pid in $D/run/mon.a.pid
OSD_ID=$(ceph -c "$C" osd create)
ceph-osd -c "$C" -i "$OSD_ID" --mkfs 2>>"$D/log/mkfs.log"
ceph -c "$C" osd crush add-bucket localhost host >/dev/null
ceph -c "$C" osd crush move localhost root=default >/dev/null
ceph -c "$C" osd crush add "osd.$OSD_ID" 1.0 host=localhost >/dev/null
echo "T mon up: $SECONDS"
ceph-osd -c "$C" -i "$OSD_ID"
for i in $(seq 1 "$WAIT"); do ceph -c "$C" osd stat 2>/dev/null | grep -q '1 up' && break; sleep 0.5; done
echo "T osd up: $SECONDS"
radosgw -c "$C" -n client.rgw
for i in $(seq 1 "$WAIT"); do curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/" && break; sleep 0.5; done
curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/" || { echo "radosgw did not answer on $RGW_PORT" >&2; exit 1; }
echo "T rgw up: $SECONDS"
radosgw-admin -c "$C" -n client.admin user create --uid=tester --display-name=tester \
    --access-key=AKTEST --secret=SKTEST >/dev/null
echo "pids: mon=$(cat "$D/run/mon.a.pid") osd=$(cat "$D/run/osd.$OSD_ID.pid") rgw=$(cat "$D/run/client.rgw.pid")"
