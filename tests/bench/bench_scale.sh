#!/usr/bin/env bash
# Issue 14's scale measurements, in one run on one database that grows:
#   - at each size (default 1, 5 and 20 million failure-details, over 13 months: 2025-11-01 to
#     2026-11-30), the uncached API: /api/v1/summary (random domain, 30-day window) and
#     /api/v1/timeseries (random domain, 90 days), p50/p99 with wrk (after a warm-up round, the
#     median of three rounds), and the ratio of each p99 to the first size's (goal: at most 1.25,
#     under 50 ms);
#   - the disk used per million failure-details (the partitions of failure_details, and the whole
#     database);
#   - at the last size, `tlsrpt prune` of one month (retention 365 days: the oldest month goes
#     whole, with that month's reports) and SMTP acceptance latency measured during it against
#     a baseline measured just before, under a paced intake of 100 messages a second (goal: prune
#     under 10 s, intake not stalled); then the next month under an intake as fast as the server
#     answers (a stress figure: the load takes the CPU from the prune).
# The database grows by domains (customer<d>.example, 4 reporting organisations a day each, 16
# failure-details a report): a hosting provider's growth, each domain's data the same size.
# Usage: tests/bench/bench_scale.sh [build/tlsrpt] ["1 5 20" millions] [seconds per wrk run (10)]
set -euo pipefail
export TLSRPT_SERVER_ALLOW_ROOT=${TLSRPT_SERVER_ALLOW_ROOT:-true}
tlsrpt=$(realpath "${1:-build/tlsrpt}")
steps=${2:-"1 5 20"} seconds=${3:-10}
cd "$(dirname "$0")/../.."
# PostgreSQL runs with its default settings (PG_SHARED_BUFFERS=2GB, for one, sets its shared
# buffers instead of the default 128 MB; the same for every size).
. tests/integration/pg.sh
tmp=$(mktemp -d)
server=
trap 'kill $server 2>/dev/null; wait 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
command -v wrk >/dev/null || { echo "bench_scale: wrk is missing (apt-get install wrk)" >&2; exit 1; }
pg_start
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null 2>&1
first=2025-11-01 days=395 details=16
per_domain=$((days * 4 * details))
have=0
port=$((20000 + RANDOM % 12000))
serve() {  # serve [SMTP]: the HTTP server (and SMTP on port+1), uncached, no daily prune of its own
  local smtp=""
  [ "${1:-}" = smtp ] && smtp="127.0.0.1:$((port + 1))"
  TLSRPT_DATABASE_URL="$PG_URL" TLSRPT_HTTP_CACHE_SECONDS=0 TLSRPT_RETENTION_PRUNE=false TLSRPT_DKIM_MODE=off \
    TLSRPT_SMTP_MESSAGE_BURST=1000000 TLSRPT_SMTP_RECIPIENTS=tls@example.net \
    "$tlsrpt" serve --smtp-listen "$smtp" --http-listen "127.0.0.1:$port" >>"$tmp/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
}
for m in $steps; do
  want=$(awk -v m="$m" -v p="$per_domain" 'BEGIN { w = int((m * 1e6 + p - 1) / p); print (w < 1 ? 1 : w) }')
  t0=$(date +%s.%N)
  PYTHONPATH=tests/bench python3 -c "import sys, synth; synth.api_mbox(sys.argv[1], int(sys.argv[2]), $days, $details, first='$first', prefix='scale', domain_offset=int(sys.argv[3]))" \
    "$tmp/step.mbox" $((want - have)) "$have"
  TLSRPT_DKIM_MODE=off "$tlsrpt" ingest --database-url "$PG_URL" --no-progress --jobs 2 "$tmp/step.mbox" >/dev/null 2>"$tmp/ingest.log"
  rm -f "$tmp/step.mbox"
  have=$want
  # The load's own aftermath is not the API's cost: its dirty pages written out (CHECKPOINT), and
  # statistics fresh, before anything is timed.
  psql -qAt "$PG_URL" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
  t1=$(date +%s.%N)
  read -r details_now fd_bytes db_bytes < <(psql -qAt -F ' ' "$PG_URL" -c "SELECT (SELECT count(*) FROM failure_details),
    (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'failure_details'::regclass),
    pg_database_size(current_database())")
  echo "size ${m}M: $have domains, $details_now failure-details, loaded in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s;" \
    "failure_details $(awk -v b="$fd_bytes" -v n="$details_now" 'BEGIN { printf "%.0f MiB per million", b / 1048576 / (n / 1e6) }'),"\
    "whole database $(awk -v b="$db_bytes" -v n="$details_now" 'BEGIN { printf "%.0f MiB per million", b / 1048576 / (n / 1e6) }')"
  cat >"$tmp/api.lua" <<LUA
local base = os.time({year = 2025, month = 11, day = 1, hour = 12})
local function date(n) return os.date("!%Y-%m-%d", base + n * 86400) end
route = os.getenv("ROUTE")
request = function()
  local d = math.random(0, $have - 1)
  if route == "summary" then
    local s = math.random(0, $days - 30)
    return wrk.format("GET", "/api/v1/summary?domain=customer" .. d .. ".example&from=" .. date(s) .. "&to=" .. date(s + 30))
  end
  local s = math.random(0, $days - 90)
  return wrk.format("GET", "/api/v1/timeseries?domain=customer" .. d .. ".example&from=" .. date(s) .. "&to=" .. date(s + 90))
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %s %s %.0f %.2f %.2f %d\n", os.getenv("SIZE"), route, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
LUA
  serve
  # A warm-up round of each route (not counted: the server's connections and prepared statements,
  # the caches), then three measured rounds of each; a size's p99 is the median of its three.
  for route in summary timeseries; do
    SIZE=$m ROUTE=$route wrk -t2 -c8 -d3s -s "$tmp/api.lua" "http://127.0.0.1:$port" >/dev/null
  done
  for round in 1 2 3; do
    for route in summary timeseries; do
      SIZE=$m ROUTE=$route wrk -t2 -c8 -d"${seconds}s" --latency -s "$tmp/api.lua" "http://127.0.0.1:$port" | grep RESULT | tee -a "$tmp/rounds"
    done
  done
  for route in summary timeseries; do
    awk -v r="$route" '$3 == r' "$tmp/rounds" | sort -k6,6n | sed -n 2p >>"$tmp/results"
  done
  rm -f "$tmp/rounds"
  kill "$server"; wait "$server" 2>/dev/null || true; server=
done
echo "median rounds (size route req/s p50 p99 errors):"; sed 's/^RESULT/  /' "$tmp/results"
awk 'NR == FNR { if (!($3 in base)) base[$3] = $6; last[$3] = $6; next }
  END { for (r in base) printf "p99 %s: first size %.2f ms, last size %.2f ms, ratio %.2f (goal <= 1.25 and < 50 ms: %s)\n", r, base[r], last[r], last[r] / base[r], (last[r] / base[r] <= 1.25 && last[r] < 50) ? "met" : "NOT met" }' \
  "$tmp/results" "$tmp/results"

# Prune at the last size, twice, with SMTP intake measured while it runs against a baseline of
# the same load measured just before: first the oldest month (retention 365 days) under a paced
# load of 100 messages a second (sixty times the average rate of a million reports a week, a few
# times its after-midnight peak): the goal; then the next month (retention 335 days) under a load
# as fast as the server answers, which takes most of the machine's two cores from the prune: a
# stress figure.
serve smtp
for load in paced:365d:100 saturated:335d:0; do
  IFS=: read -r name keep rate <<<"$load"
  python3 tests/bench/smtp_latency.py $((port + 1)) 4 10 "baseline-$name" "" "$rate" | tee -a "$tmp/smtp"
  python3 tests/bench/smtp_latency.py $((port + 1)) 4 90 "during-$name" "$tmp/stamps" "$rate" >/dev/null &
  loader=$!
  sleep 3
  t0=$(date +%s.%N)
  TLSRPT_RETENTION_FAILURE_DETAILS=$keep TLSRPT_RETENTION_REPORTS=$keep "$tlsrpt" prune --database-url "$PG_URL" | tee "$tmp/prune"
  t1=$(date +%s.%N)
  kill "$loader" 2>/dev/null; wait "$loader" 2>/dev/null || true
  echo "prune ($name intake): $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s (goal < 10 s under the paced load)"
  # The messages acknowledged while the prune ran.
  awk -v a="$t0" -v b="$t1" '$1 >= a && $1 <= b { print $2 }' "$tmp/stamps" | sort -n >"$tmp/window"
  n=$(grep -c . "$tmp/window" || true)
  p99=$( [ "$n" -gt 0 ] && sed -n "$(( (n * 99 + 99) / 100 ))p" "$tmp/window" || echo 0)
  base=$(awk -v t="baseline-$name" '$2 == t { print $5 }' "$tmp/smtp")
  echo "SMTP acceptance during the prune ($name): $n messages, p99 $p99 ms; baseline p99 $base ms; ratio $(awk -v a="$p99" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
done
