#!/bin/bash
# A throwaway PostgreSQL 15 cluster for tests and benchmarks (never a station's catalog): trust
# authentication, 127.0.0.1 only, fsync off, every piece of state under $PGD. From
# ../shared/recipes/pg-up.sh, with the directory, the port and the binaries as settings so that two
# runs on one machine cannot collide:
#   PGD=/tmp/pg-ci  PGPORT=55432  PG_BIN=/usr/lib/postgresql/15/bin
# As root the server runs as the 'postgres' OS user (PostgreSQL refuses root), so every folder
# above $PGD must be traversable by it; as any other user it runs as that user.
# Prints "postgresql://postgres@127.0.0.1:PORT/postgres pid=PID" last (the superuser is 'postgres');
# stop it with scripts/pg-down.sh (same PGD).
set -e
PGD=${PGD:-/tmp/pg-ci}
PGPORT=${PGPORT:-55432}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$PG_BIN/initdb" ] || { echo "pg-up.sh: $PG_BIN/initdb not found: apt-get install postgresql-15" >&2; exit 2; }
AS=()
if [ "$(id -u)" -eq 0 ]; then AS=(runuser -u postgres --); fi
rm -rf "$PGD"; mkdir -p "$PGD"
if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$PGD"; fi
"${AS[@]}" "$PG_BIN/initdb" -D "$PGD/data" -U postgres -A trust -E UTF8 --no-sync >"$PGD/initdb.log" 2>&1 \
    || { cat "$PGD/initdb.log" >&2; exit 1; }
"${AS[@]}" "$PG_BIN/pg_ctl" -D "$PGD/data" -l "$PGD/log" -w -t 120 -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGD -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null \
    || { tail -20 "$PGD/log" >&2; exit 1; }
head -1 "$PGD/data/postmaster.pid" > "$PGD/pid"
echo "postgresql://postgres@127.0.0.1:$PGPORT/postgres pid=$(cat "$PGD/pid")"
