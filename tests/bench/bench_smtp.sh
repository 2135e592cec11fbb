#!/usr/bin/env bash
# SMTP acceptance rate and memory of `tlsrpt serve`, with PostgreSQL on durable settings
# (fsync and synchronous_commit on), driven by Postfix's smtp-source.
#   1. Rate: COUNT typical report emails over 50 concurrent sessions (each 250 means committed).
#   2. Memory: 200 concurrent sessions, each sending a message at the size limit (1 MiB here);
#      the peak RSS is compared with the bound the limits imply.
# Usage: tests/bench/bench_smtp.sh [build/tlsrpt] [COUNT (5000)]
set -euo pipefail
tlsrpt=$(realpath "${1:-build/tlsrpt}")
count=${2:-5000}
cd "$(dirname "$0")/../.."
PG_FSYNC=on PG_SYNC=on
. tests/integration/pg.sh
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
pg_start
port=$((20000 + RANDOM % 12000))
limit=$((1024 * 1024))
TLSRPT_SMTP_MAX_SESSIONS=250 TLSRPT_SMTP_MAX_SESSIONS_PER_CLIENT=250 TLSRPT_SMTP_MESSAGE_BURST=100000000 \
  "$tlsrpt" serve --database-url "$PG_URL" --smtp-listen "127.0.0.1:$port" --smtp-recipients tls@example.net \
  --limit message_size=$limit >"$tmp/serve.log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q listening "$tmp/serve.log" && break; sleep 0.1; done

# A typical Google report email without its envelope headers (smtp-source adds From/To).
sed -n '/^MIME-Version/,$p' tests/fixtures/corpus/google_2022-09-15_mox.eml | tr -d '\r' >"$tmp/report.eml"
echo "PostgreSQL fsync=$(psql -qAt "$PG_URL" -c 'SHOW fsync') synchronous_commit=$(psql -qAt "$PG_URL" -c 'SHOW synchronous_commit'); message $(stat -c %s "$tmp/report.eml") bytes"
t0=$(date +%s.%N)
smtp-source -s 50 -m "$count" -d -f noreply@reporter.example -t tls@example.net -F "$tmp/report.eml" "127.0.0.1:$port"
t1=$(date +%s.%N)
stored=$(psql -qAt "$PG_URL" -c "SELECT count(*) FROM raw_messages")
awk -v n="$count" -v a="$t0" -v b="$t1" -v s="$stored" \
  'BEGIN { printf "rate: %d messages over 50 sessions in %.2f s = %.0f messages/s (%d rows committed)\n", n, b - a, n / (b - a), s }'

# The same with distinct reports (each message a new report: the full store path), from a
# Python client over 50 sessions (the client itself costs CPU on these two cores).
before=$(psql -qAt "$PG_URL" -c "SELECT count(*) FROM reports")
t0=$(date +%s.%N)
python3 tests/e2e/smtp_load.py "$port" 50 "$count" "$tmp/acked" >/dev/null
t1=$(date +%s.%N)
new=$(( $(psql -qAt "$PG_URL" -c "SELECT count(*) FROM reports") - before ))
awk -v n="$count" -v a="$t0" -v b="$t1" -v r="$new" \
  'BEGIN { printf "rate, distinct reports: %d messages over 50 sessions in %.2f s = %.0f messages/s (%d new reports)\n", n, b - a, n / (b - a), r }'

base=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
smtp-source -s 200 -m 200 -l $((limit - 4096)) -f a@reporter.example -t tls@example.net "127.0.0.1:$port"
peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
awk -v b="$base" -v p="$peak" -v l="$limit" 'BEGIN {
  bound = (200 * (2 * l + 81920) + 8 * 4 * l) / 1024 + b   # see server/smtp/server.hpp
  printf "memory: 200 sessions x %d KiB messages: peak RSS %.0f MiB (idle %.0f MiB; limits imply at most %.0f MiB)\n", l / 1024, p / 1024, b / 1024, bound / 1024 }'
