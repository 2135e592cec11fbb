#!/usr/bin/env bash
# Two `tlsrpt serve` on one PostgreSQL (ctest e2e.instances): SMTP intake on both, the same
# messages sent to both stored once, the counters of the two adding up to what the database
# holds, the maintenance run by one of them; then one killed mid-load: nothing acknowledged is
# lost, nothing is stored twice, and the other takes the maintenance over.
# Usage: tests/e2e/instances_test.sh path/to/tlsrpt
set -uo pipefail
cd "$(dirname "$0")/../.."
tlsrpt=$(realpath "$1")
source tests/integration/pg.sh
source tests/integration/ports.sh
tmp=$(mktemp -d)
trap 'pkill -f "tlsrpt serve.*$tmp" 2>/dev/null; pkill -f "smtp_load.py.*$tmp" 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
pg_start || exit 1
passed=0 failed=0
check() { if [ "$2" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected [$2] got [$3]"; return 1; fi; }
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null 2>&1
test_ports instances 4 || exit 1; base=$PORT
start() {  # start NAME SMTP_PORT HTTP_PORT: a server, its pid in $pid
  TLSRPT_SMTP_MESSAGE_BURST=1000000 TLSRPT_SMTP_MAX_SESSIONS_PER_CLIENT=100 TLSRPT_HTTP_CACHE_SECONDS=0 \
    "$tlsrpt" serve --database-url "$PG_URL" --smtp-listen "127.0.0.1:$2" --http-listen "127.0.0.1:$3" \
    --smtp-recipients tls@example.net --data-dir "$tmp/$1" >"$tmp/$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do grep -q "http listening" "$tmp/$1.log" && break; sleep 0.1; done
}
metric() {  # metric HTTP_PORT 'name{labels}': its value, 0 when absent
  curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" 'index($0, m " ") == 1 { v = $2 } END { print v + 0 }'
}
start a $base $((base + 1)); pid_a=$pid
start b $((base + 2)) $((base + 3)); pid_b=$pid

# 1. Both receive; the messages of loader "same" go to both servers (each a duplicate somewhere).
loaders=()
python3 tests/e2e/smtp_load.py $base 4 200 "$tmp/acked1a" a >/dev/null & loaders+=($!)
python3 tests/e2e/smtp_load.py $((base + 2)) 4 200 "$tmp/acked1b" b >/dev/null & loaders+=($!)
python3 tests/e2e/smtp_load.py $base 2 100 "$tmp/acked1sa" same >/dev/null & loaders+=($!)
python3 tests/e2e/smtp_load.py $((base + 2)) 2 100 "$tmp/acked1sb" same >/dev/null & loaders+=($!)
wait "${loaders[@]}"
check "every message acknowledged" 600 "$(cat "$tmp"/acked1* | grep -c .)"
check "reports: each stored once (500 distinct)" 500 "$(sql "SELECT count(*) FROM reports WHERE report_id LIKE 'load-%'")"
# (by their bytes: two copies that arrive at once may both keep their bytes, the second still
# counted a duplicate, its report stored once)
same=$(sort -u "$tmp/acked1sa" | sed "s/.*/'&'/" | paste -sd,)
check "the messages sent to both: one stored, one duplicate each" "100|100" \
  "$(sql "SELECT count(*) FILTER (WHERE outcome = 'stored'), count(*) FILTER (WHERE outcome = 'duplicate') FROM raw_messages WHERE encode(sha256, 'hex') IN ($same)")"
for outcome in stored duplicate; do
  sum=$(( $(metric $((base + 1)) "tlsrpt_messages_total{outcome=\"$outcome\",transport=\"smtp\"}") + \
          $(metric $((base + 3)) "tlsrpt_messages_total{outcome=\"$outcome\",transport=\"smtp\"}") ))
  check "the two servers' $outcome counters add up to the database" \
    "$(sql "SELECT count(*) FROM raw_messages WHERE outcome = '$outcome'")" "$sum"
done
# The maintenance (partitions, prune, table sizes) runs on one of them (every 10 s: waited for
# up to 40 s, then both are read again 12 s later, a maintenance round past the first).
# (the page is read whole before grep looks: with pipefail, `curl | grep -q` fails when grep stops
# reading early and curl gets SIGPIPE)
sizes_from() { local page; page=$(curl -s "http://127.0.0.1:$1/metrics"); grep -q '^tlsrpt_database_table_bytes{' <<<"$page"; }
exporting() {
  exporters=0
  for p in $((base + 1)) $((base + 3)); do
    sizes_from "$p" && exporters=$((exporters + 1))
  done
}
for _ in $(seq 40); do exporting; [ "$exporters" -gt 0 ] && break; sleep 1; done
sleep 12
exporting
check "one server runs the maintenance (exports the table sizes)" 1 "$exporters" ||
  grep -hv "^smtp " "$tmp/a.log" "$tmp/b.log" | tail -40
leader=a; sizes_from $((base + 3)) && leader=b

# 2. The maintenance server is killed mid-load: what either acknowledged is stored, once.
if [ "$leader" = a ]; then kill_port=$base kill_pid=$pid_a other_http=$((base + 3)) other_smtp=$((base + 2))
else kill_port=$((base + 2)) kill_pid=$pid_b other_http=$((base + 1)) other_smtp=$base; fi
python3 tests/e2e/smtp_load.py $kill_port 8 100000 "$tmp/acked2k" k >/dev/null &
load_k=$!
python3 tests/e2e/smtp_load.py $other_smtp 4 400 "$tmp/acked2o" o >/dev/null &
load_o=$!
for _ in $(seq 300); do [ "$(cat "$tmp/acked2k" 2>/dev/null | grep -c .)" -gt 50 ] && break; sleep 0.1; done
kill -KILL "$kill_pid"; wait "$kill_pid" 2>/dev/null
wait "$load_k" "$load_o"
acked_k=$(grep -c . "$tmp/acked2k"); acked_o=$(grep -c . "$tmp/acked2o")
check "messages were acknowledged by the killed server before the kill" 1 "$([ "$acked_k" -gt 50 ] && echo 1)"
check "the other server acknowledged all its messages" 400 "$acked_o"
sql "SELECT encode(sha256, 'hex') FROM raw_messages" | sort >"$tmp/stored"
check "every acknowledged message is stored" 0 "$(cat "$tmp/acked2k" "$tmp/acked2o" | sort | grep . | comm -23 - "$tmp/stored" | wc -l)"
check "nothing stored twice" 0 "$(sql "SELECT count(*) FROM (SELECT sha256 FROM raw_messages WHERE outcome <> 'duplicate' GROUP BY sha256 HAVING count(*) > 1) x")"
check "one report per distinct report-id" "$(sql "SELECT count(DISTINCT report_id) FROM reports")" "$(sql "SELECT count(*) FROM reports")"
echo "killed under load: $acked_k acknowledged by the killed server, $acked_o by the other"
# The survivor takes the maintenance over once the killed server's connection is gone.
took=""
for i in $(seq 60); do
  sizes_from "$other_http" && { took=$i; break; }
  sleep 1
done
check "the other server takes the maintenance over" 1 "$([ -n "$took" ] && echo 1)"
echo "maintenance taken over after ${took:-?} s"
pkill -TERM -f "tlsrpt serve.*$tmp"; wait "$pid_a" "$pid_b" 2>/dev/null
echo "e2e.instances: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
