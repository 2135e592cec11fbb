#!/usr/bin/env bash
# Readiness (tlsrpt readiness, GET /api/v1/domains/{domain}/readiness): synthetic reports over the
# last 16 days (tests/e2e/readiness_reports.py) and the latest posture check of each monitored
# domain; every verdict and reason, the figures against SQL over the base tables, the CLI as an
# operator runs it and the API answer against schema/openapi.yaml.
# Usage: tests/e2e/readiness_test.sh path/to/tlsrpt
set -u
tlsrpt=$(realpath "$1")
passed=0 failed=0
check() { if [ "$2" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected [$2] got [$3]"; return 1; fi; }
source tests/integration/pg.sh
root=$PWD
tmp=$(mktemp -d)
serve_pid=
trap '[ -n "$serve_pid" ] && kill $serve_pid 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
pg_start >/dev/null || exit 1
sql() { psql -qAt "$PG_URL" -c "$1"; }
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null
python3 tests/e2e/readiness_reports.py "$tmp/reports"
"$tlsrpt" ingest --database-url "$PG_URL" --no-progress "$tmp/reports"/*.json >/dev/null 2>"$tmp/ingest.err" ||
  { echo "FAIL ingest: $(tail -3 "$tmp/ingest.err")"; exit 1; }

# The latest posture check of each monitored domain (what serve's checks store), as fixtures.
posture() {  # DOMAIN MODE|- [FINDING SEVERITY SUBJECT]...   (-: no policy could be read)
  local d=$1 mode="'$2'"; shift 2
  [ "$mode" = "'-'" ] && mode=NULL
  sql "INSERT INTO posture_checks (domain, checked_at, duration_ms, complete, errors, warnings, sts_id, mode, result)
       VALUES ('$d', now(), 10, true, 0, 0, '1', $mode, '{}')" >/dev/null
  while [ $# -gt 0 ]; do
    sql "INSERT INTO posture_findings SELECT max(id), '$1', '$2', '$3', 'fixture' FROM posture_checks WHERE domain = '$d'" >/dev/null
    shift 3
  done
}
for d in ready certfail onereporter young quiet; do posture $d.example testing sts-mode-testing info $d.example; done
posture postureerr.example testing sts-mode-testing info postureerr.example mx-cert-expired error mx.postureerr.example
posture enforcing.example enforce
posture drift.example testing sts-mode-testing info drift.example
# drift.example's published history: the old policy until just before the day 10 days ago, the
# new one since (as the posture checks record it; the text written differently from the reports).
sql "INSERT INTO published_policies (domain, sts_id, sha256, mode, max_age, mx, text, first_seen, last_seen, normalized)
     SELECT 'drift.example', id, md5(t), 'testing', 86400, ARRAY[mx], t, f, l, normalized_policy(string_to_array(t, E'\n'))
     FROM (SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS today) d,
          LATERAL (VALUES ('1', 'mx.old.drift.example', today - interval '40 days', today - interval '10 days' - interval '1 second'),
                          ('2', 'mx.drift.example', today - interval '10 days', now())) AS v (id, mx, f, l),
          LATERAL (SELECT 'version: STSv1' || E'\r\n' || 'MX:  ' || mx || E'\r\nmode: testing\r\nmax_age: 86400\r\n' AS t) x" >/dev/null
posture nopolicy.example - sts-record-missing warning nopolicy.example

verdict() {  # DOMAIN [ARGS]: "verdict reason,reason" from the CLI's JSON
  "$tlsrpt" readiness --database-url "$PG_URL" --json "$@" >"$tmp/r.json"
  python3 -c "
import json
a = json.load(open('$tmp/r.json'))
print(a['verdict'], ','.join(r['reason'] for r in a['reasons']))"
}
check "14 clean days, 2 reporters, in testing: ready" "ready " "$(verdict ready.example)"
check "certificate failures on one MX: not ready" "not-ready blocking-failures" "$(verdict certfail.example)"
check "the failure named: result type, MX, sessions" "certificate-expired on mx2.certfail.example (96 sessions)" \
  "$(python3 -c "import json; print(json.load(open('$tmp/r.json'))['reasons'][0]['detail'].split('most: ')[1])")"
check "a policy fetch error does not count as blocking" 96 \
  "$(python3 -c "import json; print(json.load(open('$tmp/r.json'))['evidence']['blocking_failures']['sessions'])")"
check "blocking sessions against SQL" "$(sql "SELECT sum(d.failed_session_count) FROM failure_details d JOIN policies p ON p.id = d.policy_id
  WHERE p.policy_domain = 'certfail.example' AND p.policy_type = 'sts' AND d.result_type IN ('starttls-not-supported',
  'certificate-host-mismatch', 'certificate-expired', 'certificate-not-trusted', 'validation-failure')")" \
  "$(python3 -c "import json; print(json.load(open('$tmp/r.json'))['evidence']['blocking_failures']['sessions'])")"
check "sts sessions against SQL" "$(sql "SELECT sum(total_successful_session_count) || ' ' || sum(total_failure_session_count)
  FROM policies WHERE policy_domain = 'certfail.example' AND policy_type = 'sts'")" \
  "$(python3 -c "import json; s = json.load(open('$tmp/r.json'))['evidence']['sts_sessions']; print(s['successful'], s['failed'])")"
check "days with reports against SQL" "$(sql "SELECT count(DISTINCT (start_datetime AT TIME ZONE 'UTC')::date) FROM policies
  WHERE policy_domain = 'certfail.example'")" \
  "$(python3 -c "import json; print(json.load(open('$tmp/r.json'))['evidence']['window']['days_with_reports'])")"
check "blocking failures by MX and day" "mx2.certfail.example 16" \
  "$(python3 -c "
import json; b = json.load(open('$tmp/r.json'))['evidence']['blocking_failures']; print(*b['by_mx'], len(b['by_day']))")"
check "posture errors: not ready" "not-ready posture-errors" "$(verdict postureerr.example)"
check "one reporter: insufficient data" "insufficient-data too-few-reporters" "$(verdict onereporter.example)"
check "5 days: insufficient data" "insufficient-data too-few-days" "$(verdict young.example)"
check "the window: 3 days of a ready domain are too few" "insufficient-data too-few-days" "$(verdict ready.example --days 3)"
check "enforcing and losing mail" "enforced mail-refused" "$(verdict enforcing.example)"
check "the refused sessions" "64" \
  "$(python3 -c "import json; print(json.load(open('$tmp/r.json'))['evidence']['blocking_failures']['sessions'])")"
check "modes published and reported" "enforce {'enforce': 3264}" "$(python3 -c "
import json; m = json.load(open('$tmp/r.json'))['evidence']['modes']; print(m['published'], m['reported'])")"
check "senders still applying the policy from before an MX move" "not-ready older-policy-in-use" "$(verdict drift.example)"
check "who, and how much: Microsoft's 9 days since the move" "Microsoft Corporation 1 900 | current 2300 previous 900" \
  "$(python3 -c "
import json; d = json.load(open('$tmp/r.json'))['evidence']['drift']
print(*[(o['organization'], o['sts_id'], o['sessions']) for o in d['older_policies']][0], '|',
      *[f'{k} {v}' for k, v in sorted(d['sessions'].items())])")"
check "not monitored: judged on the reports alone, and said so" "ready not-monitored" "$(verdict notmonitored.example)"
check "a large reporter gone quiet is named" "ready reporter-quiet" "$(verdict quiet.example)"
check "the quiet reporter" "Mail.Ru" "$(python3 -c "
import json; print(*[r['organization'] for r in json.load(open('$tmp/r.json'))['evidence']['reporters'] if r['quiet']])")"
check "monitored, no policy published: not ready" "not-ready no-policy-published,too-few-days,too-few-reporters" \
  "$(verdict nopolicy.example)"
check "nothing known: insufficient data" "insufficient-data not-monitored,too-few-days,too-few-reporters" \
  "$(verdict unknown.example)"
# The readable form and the exit status, as an operator runs it.
"$tlsrpt" readiness --database-url "$PG_URL" certfail.example >"$tmp/out.txt"
check "exit status 1 when not ready" 1 $?
check "readable: the verdict line" "certfail.example: not-ready (16 days with reports in the last 30, 2 reporters, 3200 successful and 256 failed sessions under MTA-STS, 96 that enforce would block)" \
  "$(head -1 "$tmp/out.txt")"
check "readable output, as the README shows it" \
  "$(sed -n '/^\$ tlsrpt readiness certfail.example$/,/^```$/p' "$root/README.md" | sed '1d;$d')" "$(cat "$tmp/out.txt")"
"$tlsrpt" readiness --database-url "$PG_URL" ready.example >/dev/null
check "exit status 0 when ready" 0 $?
"$tlsrpt" readiness --database-url "$PG_URL" --days 0 ready.example >/dev/null 2>&1
check "--days 0: usage error" 2 $?

# The API gives the same JSON; it conforms to the OpenAPI document.
port=$((20000 + RANDOM % 12000))
"$tlsrpt" serve --database-url "$PG_URL" --http-listen "127.0.0.1:$port" --smtp-listen "" >"$tmp/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 300); do grep -q "listening" "$tmp/serve.log" && break; sleep 0.1; done
curl -s "http://127.0.0.1:$port/api/v1/domains/CertFail.Example./readiness" >"$tmp/api.json"
"$tlsrpt" readiness --database-url "$PG_URL" --json certfail.example >"$tmp/cli.json"
check "API and CLI give the same answer" "$(python3 -c "import json; print(json.load(open('$tmp/cli.json')))")" \
  "$(python3 -c "import json; print(json.load(open('$tmp/api.json')))")"
check "OpenAPI: the readiness answer" 0 \
  "$(cd "$root" && python3 tests/e2e/openapi_conforms.py /api/v1/domains/{domain}/readiness GET 200 "$tmp/api.json" >&2; echo $?)"
check "API: ?days=3" "insufficient-data" "$(curl -s "http://127.0.0.1:$port/api/v1/domains/ready.example/readiness?days=3" |
  python3 -c "import json, sys; print(json.load(sys.stdin)['verdict'])")"
check "API: days=0 refused" 400 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/domains/ready.example/readiness?days=0")"
echo "readiness: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
