#!/usr/bin/env bash
# Reads from a streaming replica (ctest integration.replica): a real primary and a real replica
# made with pg_basebackup, streaming on loopback sockets. The checks are in replica_test.py.
# Usage: tests/integration/replica_test.sh path/to/tlsrpt
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/integration/pg.sh
tmp=$(mktemp -d)
replica_stop() { [ -d "${PG_DIR:-}/replica" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/replica" -w -m fast stop >/dev/null 2>&1; }
trap 'pkill -f "tlsrpt serve.*$tmp" 2>/dev/null; replica_stop; pg_stop; rm -rf "$tmp"' EXIT
pg_start || exit 1
# The replica: a base backup with its standby settings (-R), then a server on port 5433.
as_pg "$PG_BIN/pg_basebackup" -h "$PG_DIR" -p 5432 -U "$PG_USER" -D "$PG_DIR/replica" -R -X stream -c fast >"$tmp/basebackup.log" 2>&1 ||
  { echo "FAIL pg_basebackup: $(cat "$tmp/basebackup.log")"; exit 1; }
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/replica" -l "$PG_DIR/replica.log" -w \
  -o "-k $PG_DIR -p 5433 -c listen_addresses='' -c fsync=off" start >/dev/null ||
  { echo "FAIL replica start: $(cat "$PG_DIR/replica.log")"; exit 1; }
REPLICA_URL="host=$PG_DIR port=5433 user=$PG_USER dbname=tlsrpt"
TLSRPT="$1" PG_URL="$PG_URL" REPLICA_URL="$REPLICA_URL" TMP="$tmp" python3 tests/integration/replica_test.py
