#!/usr/bin/env bash
# Backfill throughput of `tlsrpt ingest` into PostgreSQL with durable settings (fsync and
# synchronous_commit on), against the floor of COPYing the same rows straight into the same
# tables (same indexes), in the same run. Prints reports/s and the ratio.
# Usage: tests/bench/bench_ingest.sh [build/tlsrpt] [typical-count (5000)] [large-count (20)] [details-per-large (5000)]
set -euo pipefail
tlsrpt=$(realpath "${1:-build/tlsrpt}")
typical=${2:-5000} large=${3:-20} details=${4:-5000}
cd "$(dirname "$0")/../.."
PG_FSYNC=on PG_SYNC=on
. tests/integration/pg.sh
tmp=$(mktemp -d)
trap 'set +e; pg_stop; [ -n "${BENCH_KEEP:-}" ] && cp "$tmp"/*.mbox "$BENCH_KEEP"/; rm -rf "$tmp"' EXIT
pg_start

PYTHONPATH=tests/bench python3 - "$tmp" "$typical" "$large" "$details" <<'PY'
import sys
from synth import email, report
out, typical, large, details = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(f"{out}/typical.mbox", "w") as f:
    for i in range(typical): f.write(email(i, report(f"bench-2-{i}", f"customer{i}.example", 2, ok=100 + i)))
with open(f"{out}/large.mbox", "w") as f:
    for i in range(large): f.write(email(i, report(f"bench-{details}-{i}", f"customer{i}.example", details, ok=100 + i)))
PY

tables="raw_messages reports report_quirks policies failure_details session_counts"
measure() {  # measure NAME FILE COUNT
  pg_newdb "bench_$1"
  "$tlsrpt" migrate --database-url "$PG_URL" >/dev/null
  local t0 t1 t2 t3
  t0=$(date +%s.%N)
  "$tlsrpt" ingest --database-url "$PG_URL" --no-progress --no-migrate "$2" 2>"$tmp/$1.log" >/dev/null
  t1=$(date +%s.%N)
  for t in $tables; do psql -q "$PG_URL" -c "\\copy (SELECT * FROM $t) TO '$tmp/$1.$t'"; done
  psql -q "$PG_URL" -c "TRUNCATE ${tables// /, }"
  t2=$(date +%s.%N)
  { echo "BEGIN;"; for t in $tables; do echo "\\copy $t FROM '$tmp/$1.$t'"; done; echo "COMMIT;"; } | psql -q "$PG_URL"
  t3=$(date +%s.%N)
  local rows
  rows=$(psql -qAt "$PG_URL" -c "SELECT (SELECT count(*) FROM reports) || ' reports, ' || (SELECT count(*) FROM failure_details) || ' failure-details'")
  awk -v n="$3" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v name="$1" -v rows="$rows" 'BEGIN {
    ingest = n / (b - a); floor = n / (d - c);
    printf "%-8s %s: ingest %.2f s = %.0f reports/s; COPY floor %.2f s = %.0f reports/s; ratio %.2f\n",
      name, rows, b - a, ingest, d - c, floor, ingest / floor }'
  tail -1 "$tmp/$1.log" | sed 's/^/         /'
}
echo "PostgreSQL $(psql -qAt "$PG_ADMIN" -c 'SHOW server_version'), fsync=$(psql -qAt "$PG_ADMIN" -c 'SHOW fsync'), synchronous_commit=$(psql -qAt "$PG_ADMIN" -c 'SHOW synchronous_commit')"
measure typical "$tmp/typical.mbox" "$typical"
measure large "$tmp/large.mbox" "$large"
