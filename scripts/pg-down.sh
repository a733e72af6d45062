#!/bin/bash
# Stop the PostgreSQL that scripts/pg-up.sh started under $PGD (pg_ctl -m fast: connections are
# closed, the server exits cleanly), wait for it, then remove $PGD. Same settings as pg-up.sh.
PGD=${PGD:-/tmp/pg-ci}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
AS=()
if [ "$(id -u)" -eq 0 ]; then AS=(runuser -u postgres --); fi
if [ -f "$PGD/data/postmaster.pid" ]; then
    "${AS[@]}" "$PG_BIN/pg_ctl" -D "$PGD/data" -m fast -w -t 60 stop >/dev/null \
        || { p=$(cat "$PGD/pid" 2>/dev/null) && kill -9 "$p" 2>/dev/null; }
fi
rm -rf "$PGD"
