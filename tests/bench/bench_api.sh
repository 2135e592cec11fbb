#!/usr/bin/env bash
# Throughput and latency of the analytics API on about a million failure-details, with wrk.
# Loads DOMAINS x DAYS x 4 organisations reports of DETAILS failure-details each through
# `tlsrpt ingest`, starts `tlsrpt serve`, then measures in the same run:
#   - /healthz: the HTTP ceiling of this machine (no database);
#   - /api/v1/summary for a random domain and 30-day window;
#   - /api/v1/timeseries (daily) for a random domain and 90-day window;
#   each without the answer cache (http.cache_seconds = 0) and with the default (10 s);
#   - the baseline: the same summary's totals computed straight from policies and
#     failure_details (no rollup) by pgbench, one connection per worker.
# Prints requests/s, p50/p99 latency and the ratios. Goal (issue 6): p99 < 50 ms, >= 2,000 req/s.
# Usage: tests/bench/bench_api.sh [build/tlsrpt] [domains (40)] [days (150)] [details (42)] [seconds (15)]
# All connections come from one address, so http.workers_per_client is raised to 32 (its default, 4,
# would answer the rest 429, as it should for one client).
set -euo pipefail
# A benchmark run as root: serve stays root (it gives up root only for a deployment, server.user).
export TLSRPT_SERVER_ALLOW_ROOT=${TLSRPT_SERVER_ALLOW_ROOT:-true}
tlsrpt=$(realpath "${1:-build/tlsrpt}")
domains=${2:-40} days=${3:-150} details=${4:-42} seconds=${5:-15}
cd "$(dirname "$0")/../.."
. tests/integration/pg.sh
tmp=$(mktemp -d)
server=
trap 'set +e; kill $server 2>/dev/null; wait 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
command -v wrk >/dev/null || { echo "bench_api: wrk is missing (apt-get install wrk)" >&2; exit 1; }
pg_start

PYTHONPATH=tests/bench python3 -c "import sys, synth; synth.api_mbox(sys.argv[1] + '/reports.mbox', *map(int, sys.argv[2:5]))" \
  "$tmp" "$domains" "$days" "$details"
t0=$(date +%s.%N)
"$tlsrpt" ingest --database-url "$PG_URL" --no-progress "$tmp/reports.mbox" >/dev/null 2>"$tmp/ingest.log"
t1=$(date +%s.%N)
psql -qAt "$PG_URL" -c "VACUUM ANALYZE" >/dev/null
echo "loaded $(psql -qAt "$PG_URL" -c "SELECT (SELECT count(*) FROM reports) || ' reports, ' || (SELECT count(*) FROM failure_details) || ' failure-details, ' || (SELECT count(*) FROM session_counts) || ' session_counts rows'") in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"

# Two servers on the same database: the default answer cache (http.cache_seconds = 10) and none.
start() {  # start NAME CACHE_SECONDS -> sets port_NAME
  local p=$((20000 + RANDOM % 12000))
  TLSRPT_DATABASE_URL="$PG_URL" TLSRPT_HTTP_CACHE_SECONDS=$2 TLSRPT_HTTP_WORKERS_PER_CLIENT=32 "$tlsrpt" serve --smtp-listen "" --http-listen "127.0.0.1:$p" >"$tmp/serve-$1.log" 2>&1 &
  servers+=($!)
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$p/readyz" >/dev/null && break; sleep 0.2; done
  eval "port_$1=$p"
}
servers=()
start cached 10
start uncached 0
server="${servers[*]}"
# wrk: random domain and window per request.
cat >"$tmp/api.lua" <<LUA
local base = os.time({year = 2026, month = 1, day = 1, hour = 12})
local function date(n) return os.date("!%Y-%m-%d", base + n * 86400) end
route = os.getenv("ROUTE")
request = function()
  local d = math.random(0, $domains - 1)
  if route == "summary" then
    local s = math.random(0, $days - 30)
    return wrk.format("GET", "/api/v1/summary?domain=customer" .. d .. ".example&from=" .. date(s) .. "&to=" .. date(s + 30))
  elseif route == "timeseries" then
    local s = math.random(0, math.max(0, $days - 90))
    return wrk.format("GET", "/api/v1/timeseries?domain=customer" .. d .. ".example&from=" .. date(s) .. "&to=" .. date(s + 90))
  end
  return wrk.format("GET", "/healthz")
end
LUA
cat tests/bench/result.lua >>"$tmp/api.lua"
# One sample answer, so that a broken route cannot pass as fast.
curl -fs "http://127.0.0.1:$port_uncached/api/v1/summary?domain=customer0.example&from=2026-01-01&to=2026-01-31" | head -c 300; echo
ROUTE=healthz wrk -t2 -c32 -d"${seconds}s" --latency -s "$tmp/api.lua" "http://127.0.0.1:$port_uncached" | grep RESULT >>"$tmp/results"
for route in summary timeseries; do
  ROUTE=$route TAG=-uncached wrk -t2 -c32 -d"${seconds}s" --latency -s "$tmp/api.lua" "http://127.0.0.1:$port_uncached" | grep RESULT >>"$tmp/results"
  ROUTE=$route TAG=-cached wrk -t2 -c32 -d"${seconds}s" --latency -s "$tmp/api.lua" "http://127.0.0.1:$port_cached" | grep RESULT >>"$tmp/results"
done
# Baseline: the summary totals straight from the base tables, no HTTP, no rollup.
cat >"$tmp/naive.sql" <<SQL
\set d random(0, $domains - 1)
\set s random(0, $days - 30)
SELECT (SELECT json_build_object('ok', sum(total_successful_session_count), 'failed', sum(total_failure_session_count)) FROM policies WHERE policy_domain = 'customer' || :d || '.example' AND start_datetime >= '2026-01-01'::timestamptz + make_interval(days => :s) AND start_datetime < '2026-01-01'::timestamptz + make_interval(days => :s + 30)),
       (SELECT json_agg(x) FROM (SELECT result_type, sum(failed_session_count) FROM failure_details WHERE policy_domain = 'customer' || :d || '.example' AND start_datetime >= '2026-01-01'::timestamptz + make_interval(days => :s) AND start_datetime < '2026-01-01'::timestamptz + make_interval(days => :s + 30) GROUP BY 1) x),
       (SELECT json_agg(x) FROM (SELECT receiving_mx_hostname, sum(failed_session_count) FROM failure_details WHERE policy_domain = 'customer' || :d || '.example' AND start_datetime >= '2026-01-01'::timestamptz + make_interval(days => :s) AND start_datetime < '2026-01-01'::timestamptz + make_interval(days => :s + 30) GROUP BY 1) x);
SQL
pgbench -n -c 8 -j 2 -T "$seconds" -f "$tmp/naive.sql" "$PG_URL" 2>/dev/null | awk '/^tps/ { printf "RESULT naive-sql %.0f 0 0 0\n", $3 }' >>"$tmp/results"
awk '{ rps[$2] = $3; p50[$2] = $4; p99[$2] = $5; err[$2] = $6 }
  END {
    split("healthz summary-uncached timeseries-uncached summary-cached timeseries-cached", order, " ");
    for (i = 1; i <= 5; i++) { r = order[i]; printf "%-20s %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %d\n", r, rps[r], p50[r], p99[r], err[r] }
    printf "%-20s %7.0f summaries/s (pgbench, base tables, no HTTP, no rollup)\n", "naive-sql", rps["naive-sql"];
    printf "ratios: summary-uncached/naive-sql %.2f; uncached/healthz: summary %.3f, timeseries %.3f; cached/uncached: summary %.1f, timeseries %.1f\n",
      rps["summary-uncached"] / rps["naive-sql"], rps["summary-uncached"] / rps["healthz"], rps["timeseries-uncached"] / rps["healthz"],
      rps["summary-cached"] / rps["summary-uncached"], rps["timeseries-cached"] / rps["timeseries-uncached"];
    for (i = 2; i <= 5; i++) { r = order[i]; printf "goal (>= 2000 req/s, p99 < 50 ms) %-20s %s\n", r, (rps[r] >= 2000 && p99[r] < 50 && err[r] == 0) ? "met" : "NOT met" } }' "$tmp/results"
