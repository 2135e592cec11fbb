#!/usr/bin/env bash
# The web pages against their JSON twins, uncached (http.cache_seconds = 0), with wrk at 32
# connections, on about a million failure-details (the API benchmark's data, dated over the days
# up to yesterday so that the pages' default 30-day range holds reports). In the same run:
#   - the domain list (/) against its twin /api/v1/overview;
#   - a random domain's page (/domains/D) against its twin /api/v1/domains/D/overview.
# A page renders its twin's answer, so the ratio twin req/s / page req/s is what rendering
# costs; the goal (issue 16) is at most 1.5.
# Usage: tests/bench/bench_web.sh [build/tlsrpt] [domains (40)] [days (150)] [details (42)] [seconds (15)]
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
command -v wrk >/dev/null || { echo "bench_web: wrk is missing (apt-get install wrk)" >&2; exit 1; }
pg_start

# Dated over the days up to yesterday, so that the pages' default 30-day range holds reports.
python3 tests/bench/synth.py recent-mbox "$tmp/reports.mbox" "$domains" "$days" "$details" web
TLSRPT_DKIM_MODE=off "$tlsrpt" ingest --database-url "$PG_URL" --no-progress "$tmp/reports.mbox" >/dev/null 2>"$tmp/ingest.log"
# Five monitored domains (a posture check each), so that the list computes their readiness too.
for d in 0 1 2 3 4; do
  psql -qAt "$PG_URL" -c "INSERT INTO posture_checks (domain, checked_at, duration_ms, complete, errors, warnings, sts_id, mode, result)
    VALUES ('customer$d.example', now(), 10, true, 0, 0, '1', 'testing', '{}')" >/dev/null
done
psql -qAt "$PG_URL" -c "VACUUM ANALYZE" >/dev/null
echo "loaded $(psql -qAt "$PG_URL" -c "SELECT (SELECT count(*) FROM reports) || ' reports, ' || (SELECT count(*) FROM failure_details) || ' failure-details'")"

port=$((20000 + RANDOM % 12000))
TLSRPT_DATABASE_URL="$PG_URL" TLSRPT_HTTP_CACHE_SECONDS=0 TLSRPT_HTTP_WORKERS_PER_CLIENT=32 "$tlsrpt" serve --smtp-listen "" --http-listen "127.0.0.1:$port" \
  >"$tmp/serve.log" 2>&1 &
server=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
cat >"$tmp/web.lua" <<LUA
route = os.getenv("ROUTE")
request = function()
  local d = "customer" .. math.random(0, $domains - 1) .. ".example"
  if route == "list-page" then return wrk.format("GET", "/")
  elseif route == "list-json" then return wrk.format("GET", "/api/v1/overview")
  elseif route == "domain-page" then return wrk.format("GET", "/domains/" .. d)
  end
  return wrk.format("GET", "/api/v1/domains/" .. d .. "/overview")
end
LUA
cat tests/bench/result.lua >>"$tmp/web.lua"
# Samples, so that a broken route cannot pass as fast.
for u in / /api/v1/overview /domains/customer0.example /api/v1/domains/customer0.example/overview; do
  printf '%-45s %s\n' "$u" "$(curl -s -o "$tmp/sample" -w '%{http_code} %{size_download} bytes' "http://127.0.0.1:$port$u")"
done
grep -c 'customer' "$tmp/sample" >/dev/null
# (a pause between runs: the previous run's connections count against http.max_connections_per_client,
# 32, until the server has closed them)
for route in list-json list-page domain-json domain-page; do
  sleep 2
  ROUTE=$route wrk -t2 -c32 -d"${seconds}s" --latency -s "$tmp/web.lua" "http://127.0.0.1:$port" | grep RESULT >>"$tmp/results"
done
awk '{ rps[$2] = $3; p50[$2] = $4; p99[$2] = $5; err[$2] = $6 }
  END {
    split("list-json list-page domain-json domain-page", order, " ");
    for (i = 1; i <= 4; i++) { r = order[i]; printf "%-12s %8.1f req/s  p50 %8.2f ms  p99 %8.2f ms  errors %d\n", r, rps[r], p50[r], p99[r], err[r] }
    l = rps["list-json"] / rps["list-page"]; d = rps["domain-json"] / rps["domain-page"];
    printf "cost of the page / its JSON twin (req/s ratio): domain list %.2f, domain page %.2f\n", l, d;
    printf "goal (<= 1.5): domain list %s, domain page %s\n", l <= 1.5 ? "met" : "NOT met", d <= 1.5 ? "met" : "NOT met" }' "$tmp/results"
