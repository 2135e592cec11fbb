#!/usr/bin/env bash
# Issue 14's scale measurements, in one run, one database per size:
#   - at each size (default 1, 5 and 20 million failure-details, over 13 months: 2025-11-01 to
#     2026-11-30), the uncached API: /api/v1/summary (random domain, 30-day window) and
#     /api/v1/timeseries (random domain, 90 days), p50/p99 with wrk, five rounds that take the
#     sizes in turn, and the ratio of the last size's p99 to the first's within each round (goal:
#     the median ratio at most 1.25, under 50 ms);
#   - the disk used per million failure-details (the partitions of failure_details, and the whole
#     database);
#   - at the last size, `tlsrpt prune` of one month (retention 365 days: the oldest month goes
#     whole, with that month's reports) and SMTP acceptance latency measured during it against
#     a baseline measured just before, under a paced intake of 100 messages a second (goal: prune
#     under 10 s, intake not stalled); then the next month under an intake as fast as the server
#     answers (a stress figure: the load takes the CPU from the prune).
# The sizes differ by domains (customer<d>.example, 4 reporting organisations a day each, 16
# failure-details a report): a hosting provider's growth, each domain's data the same size.
# Usage: [BENCH_ROUNDS=5] tests/bench/bench_scale.sh [build/tlsrpt] ["1 5 20" millions] [seconds per wrk run (10)]
# All connections come from one address, so http.workers_per_client is raised to 8 (its default, 4,
# would answer the rest 429, as it should for one client).
set -euo pipefail
export TLSRPT_SERVER_ALLOW_ROOT=${TLSRPT_SERVER_ALLOW_ROOT:-true}
tlsrpt=$(realpath "${1:-build/tlsrpt}")
steps=${2:-"1 5 20"} seconds=${3:-10} rounds=${BENCH_ROUNDS:-5}
cd "$(dirname "$0")/../.."
# PostgreSQL runs with its default settings (PG_SHARED_BUFFERS=2GB, for one, sets its shared
# buffers instead of the default 128 MB; the same for every size).
. tests/integration/pg.sh
tmp=$(mktemp -d)
servers=
trap 'set +e; kill $servers 2>/dev/null; wait 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
command -v wrk >/dev/null || { echo "bench_scale: wrk is missing (apt-get install wrk)" >&2; exit 1; }
pg_start
first=2025-11-01 days=395 details=16
per_domain=$((days * 4 * details))
base_port=$((20000 + RANDOM % 12000))
serve() {  # serve URL PORT [SMTP]: the HTTP server (and SMTP on PORT+1), uncached, no daily prune of its own
  local smtp=""
  [ "${3:-}" = smtp ] && smtp="127.0.0.1:$(($2 + 1))"
  TLSRPT_DATABASE_URL="$1" TLSRPT_HTTP_CACHE_SECONDS=0 TLSRPT_HTTP_WORKERS_PER_CLIENT=8 TLSRPT_RETENTION_PRUNE=false TLSRPT_DKIM_MODE=off \
    TLSRPT_SMTP_MESSAGE_BURST=1000000 TLSRPT_SMTP_RECIPIENTS=tls@example.net \
    "$tlsrpt" serve --smtp-listen "$smtp" --http-listen "127.0.0.1:$2" >>"$tmp/serve.log" 2>&1 &
  servers="$servers $!"
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$2/readyz" >/dev/null && break; sleep 0.2; done
}
# The middle line of sorted input: the median of an odd number of rounds.
middle() { sed -n "$(( (rounds + 1) / 2 ))p"; }
# One database per size, each loaded from empty and served by its own server (size i on port
# base_port + 2i).
sizes=() domains_of=()
for m in $steps; do
  pg_newdb "scale_${#sizes[@]}"
  "$tlsrpt" migrate --database-url "$PG_URL" >/dev/null 2>&1
  domains=$(awk -v m="$m" -v p="$per_domain" 'BEGIN { w = int((m * 1e6 + p - 1) / p); print (w < 1 ? 1 : w) }')
  t0=$(date +%s.%N)
  PYTHONPATH=tests/bench python3 -c "import sys, synth; synth.api_mbox(sys.argv[1], int(sys.argv[2]), $days, $details, first='$first', prefix='scale', domain_offset=0)" \
    "$tmp/step.mbox" "$domains"
  TLSRPT_DKIM_MODE=off "$tlsrpt" ingest --database-url "$PG_URL" --no-progress --jobs 2 "$tmp/step.mbox" >/dev/null 2>"$tmp/ingest.log"
  rm -f "$tmp/step.mbox"
  # The load's own aftermath is not the API's cost: its dirty pages written out (CHECKPOINT), and
  # statistics and the visibility map fresh (VACUUM ANALYZE, as autovacuum leaves a settled
  # database), before anything is timed.
  psql -qAt "$PG_URL" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
  t1=$(date +%s.%N)
  read -r details_now fd_bytes db_bytes < <(psql -qAt -F ' ' "$PG_URL" -c "SELECT (SELECT count(*) FROM failure_details),
    (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'failure_details'::regclass),
    pg_database_size(current_database())")
  echo "size ${m}M: $domains domains, $details_now failure-details, loaded in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s;" \
    "failure_details $(awk -v b="$fd_bytes" -v n="$details_now" 'BEGIN { printf "%.0f MiB per million", b / 1048576 / (n / 1e6) }'),"\
    "whole database $(awk -v b="$db_bytes" -v n="$details_now" 'BEGIN { printf "%.0f MiB per million", b / 1048576 / (n / 1e6) }')"
  serve "$PG_URL" $((base_port + 2 * ${#sizes[@]}))
  sizes+=("$m") domains_of+=("$domains")
done
cat >"$tmp/api.lua" <<LUA
local base = os.time({year = 2025, month = 11, day = 1, hour = 12})
local function date(n) return os.date("!%Y-%m-%d", base + n * 86400) end
route = os.getenv("ROUTE")
domains = tonumber(os.getenv("DOMAINS"))
request = function()
  local d = math.random(0, domains - 1)
  if route == "summary" then
    local s = math.random(0, $days - 30)
    return wrk.format("GET", "/api/v1/summary?domain=customer" .. d .. ".example&from=" .. date(s) .. "&to=" .. date(s + 30))
  end
  local s = math.random(0, $days - 90)
  return wrk.format("GET", "/api/v1/timeseries?domain=customer" .. d .. ".example&from=" .. date(s) .. "&to=" .. date(s + 90))
end
LUA
cat tests/bench/result.lua >>"$tmp/api.lua"
# Rounds that take the sizes in turn (the order rotating from round to round), so that the
# machine's noise, which moves from minute to minute, falls on every size alike; each size's
# measured run follows a 2-s warm-up of its own (its pages back in the shared buffers after the
# other sizes' rounds). A size's p99 is the median of its rounds (BENCH_ROUNDS, odd, default 5);
# the ratio that decides is the median over the rounds of last size / first size within the round.
measure() {  # measure INDEX ROUTE SECONDS: prints the RESULT line
  PREFIX=${sizes[$1]} DOMAINS=${domains_of[$1]} ROUTE=$2 wrk -t2 -c8 -d"$3s" --latency -s "$tmp/api.lua" \
    "http://127.0.0.1:$((base_port + 2 * $1))" | grep RESULT
}
n=${#sizes[@]}
for round in $(seq "$rounds"); do
  for k in $(seq 0 $((n - 1))); do
    i=$(( (k + round) % n ))
    for route in summary timeseries; do
      measure "$i" "$route" 2 >/dev/null
      measure "$i" "$route" "$seconds" | sed "s/^RESULT/RESULT $round/" | tee -a "$tmp/rounds"
    done
  done
done
echo "median rounds (size route req/s p50 p99 errors):"
for m in "${sizes[@]}"; do
  for route in summary timeseries; do
    awk -v m="$m" -v r="$route" '$3 == m && $4 == r' "$tmp/rounds" | sort -k7,7n | middle | cut -d' ' -f1,3- | sed 's/^RESULT/  /'
  done
done
first=${sizes[0]} last=${sizes[-1]}
for route in summary timeseries; do
  # Per round: the last size's p99, and its ratio to the first size's.
  awk -v a="$first" -v b="$last" -v r="$route" '$4 == r && $3 == a { p[$2] = $7 } $4 == r && $3 == b { q[$2] = $7 }
    END { for (i in q) printf "%.3f %.2f\n", q[i] / p[i], q[i] }' "$tmp/rounds" >"$tmp/pairs"
  ratios=$(cut -d' ' -f1 "$tmp/pairs" | sort -n | tr '\n' ' ')
  ratio=$(cut -d' ' -f1 "$tmp/pairs" | sort -n | middle)
  p99=$(cut -d' ' -f2 "$tmp/pairs" | sort -n | middle)
  echo "p99 $route: ${last}M / ${first}M per round (sorted): ${ratios}; median ratio $ratio, median p99 at ${last}M $p99 ms" \
    "(goal <= 1.25 and < 50 ms: $(awk -v r="$ratio" -v p="$p99" 'BEGIN { print (r <= 1.25 && p < 50) ? "met" : "NOT met" }'))"
done
for pid in $servers; do kill "$pid" 2>/dev/null; done
wait 2>/dev/null || true
servers=
port=$base_port

# Prune at the last size, twice, with SMTP intake measured while it runs against a baseline of
# the same load measured just before: first the oldest month (retention 365 days) under a paced
# load of 100 messages a second (sixty times the average rate of a million reports a week, a few
# times its after-midnight peak): the goal; then the next month (retention 335 days) under a load
# as fast as the server answers, which takes most of the machine's two cores from the prune: a
# stress figure.
serve "$PG_URL" "$port" smtp
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
