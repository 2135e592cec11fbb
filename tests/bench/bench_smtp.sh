#!/usr/bin/env bash
# SMTP acceptance rate and memory of `tlsrpt serve`, with PostgreSQL on durable settings
# (fsync and synchronous_commit on), driven by Postfix's smtp-source.
#   1. Rate: COUNT typical report emails over 50 concurrent sessions (each 250 means committed).
#   2. Memory: 200 concurrent sessions, each sending a message at the size limit (1 MiB here);
#      the peak RSS is compared with the bound the limits imply.
#   3. DKIM: COUNT typical report emails signed with a 2048-bit key that nsd publishes on
#      loopback, over 50 sessions, with dkim.mode off and then record (one RSA verify and one
#      cached key per message), in the same run; the ratio record / off.
# Parts 1 and 2 run with dkim.mode off (the Google email's key would be looked up on the internet).
# Usage: tests/bench/bench_smtp.sh [build/tlsrpt] [COUNT (5000)]
set -euo pipefail
# A benchmark run as root: serve stays root (it gives up root only for a deployment, server.user).
export TLSRPT_SERVER_ALLOW_ROOT=${TLSRPT_SERVER_ALLOW_ROOT:-true}
tlsrpt=$(realpath "${1:-build/tlsrpt}")
count=${2:-5000}
cd "$(dirname "$0")/../.."
PG_FSYNC=on PG_SYNC=on
. tests/integration/pg.sh
tmp=$(mktemp -d)
pid=
nsd_pid=
trap 'set +e; [ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$nsd_pid" ] && kill "$nsd_pid" 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
pg_start
port=$((20000 + RANDOM % 12000))
limit=$((1024 * 1024))
TLSRPT_DKIM_MODE=off TLSRPT_SMTP_MAX_SESSIONS=250 TLSRPT_SMTP_MAX_SESSIONS_PER_CLIENT=250 TLSRPT_SMTP_MESSAGE_BURST=100000000 \
  "$tlsrpt" serve --database-url "$PG_URL" --http-listen "" --smtp-listen "127.0.0.1:$port" --smtp-recipients tls@example.net \
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

# 3. DKIM, off against record.
kill "$pid"; wait "$pid" 2>/dev/null || true
. tests/integration/nsd.sh
. tests/e2e/dkim_keys.sh
mkdir "$tmp/dns" && cd "$tmp/dns"
dkim_key bench 2048
{ zone_head reporter.example; printf 'bench._domainkey TXT %s\n' "$(dkim_record bench)"; } >reporter.example.zone
nsd_start $((port + 7)) reporter.example=reporter.example.zone >/dev/null
sed 's/$/\r/' "$tmp/report.eml" | sed '1i From: noreply@reporter.example\r' | dkim_sign bench.pem bench reporter.example | tr -d '\r' >"$tmp/signed.eml"  # smtp-source sends each LF as CRLF
cd - >/dev/null
rate() {  # MODE: messages/s of COUNT signed messages over 50 sessions
  local p=$((port + 10)) t0 t1
  [ "$1" = record ] && p=$((port + 11))
  TLSRPT_DKIM_MODE=$1 TLSRPT_DNS_SERVER="127.0.0.1:$((port + 7))" TLSRPT_DNS_TRUST_ANCHOR_FILE= TLSRPT_SMTP_MAX_SESSIONS=250 \
    TLSRPT_SMTP_MAX_SESSIONS_PER_CLIENT=250 TLSRPT_SMTP_MESSAGE_BURST=100000000 \
    "$tlsrpt" serve --database-url "$PG_URL" --http-listen "" --smtp-listen "127.0.0.1:$p" --smtp-recipients tls@example.net >"$tmp/serve-$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do grep -q listening "$tmp/serve-$1.log" && break; sleep 0.1; done
  t0=$(date +%s.%N)
  smtp-source -s 50 -m "$count" -d -f noreply@reporter.example -t tls@example.net -F "$tmp/signed.eml" "127.0.0.1:$p"
  t1=$(date +%s.%N)
    grep -q "outcome=accepted" "$tmp/serve-$1.log" || { echo "bench_smtp: nothing accepted: $(grep event=message "$tmp/serve-$1.log" | tail -1)" >&2; }
  kill "$pid"; wait "$pid" 2>/dev/null || true
  pid=
  awk -v n="$count" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }'
}
off=$(rate off)
record=$(rate record)
echo "dkim: the signed messages as stored: $(psql -qAt "$PG_URL" -c "SELECT string_agg(coalesce(dkim, 'not verified') || ' ' || outcome || ' ' || n, ', ') FROM (SELECT dkim, outcome, count(*) AS n FROM raw_messages WHERE id > (SELECT max(id) - $count * 2 FROM raw_messages) GROUP BY 1, 2) x")"
awk -v o="$off" -v r="$record" -v n="$count" \
  'BEGIN { printf "dkim: %d signed messages over 50 sessions: off %.0f messages/s, record %.0f messages/s, ratio record/off %.2f\n", n, o, r, r / o }'
