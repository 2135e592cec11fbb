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
source tests/integration/ports.sh
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
# Enforced, clean reports, but the MX certificate expired three days ago (the latest check says so).
posture enforcedbroken.example enforce mx-cert-expired error mx.enforcedbroken.example
posture forged.example testing sts-mode-testing info forged.example
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
# dane.example's TLSA history on its MX: a key rollover 5 days ago (the records as the checks
# store them: normalized_tlsa()).
posture dane.example testing sts-mode-testing info dane.example
sql "INSERT INTO published_tlsa (domain, mx_host, records, first_seen, last_seen)
     SELECT 'dane.example', 'mx.dane.example', normalized_tlsa(r), f, l
     FROM (SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS today) d,
          LATERAL (VALUES (ARRAY['3 1 1 1122aabb'], today - interval '40 days', today - interval '5 days'),
                          (ARRAY['3 1 1 AABB CCDD'], today - interval '5 days', now())) AS v (r, f, l)" >/dev/null

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
check "enforced, clean reports, an MX certificate expired: posture-errors" "enforced posture-errors" \
  "$(verdict enforcedbroken.example)"
check "... neither all clear nor quiet: an emergency" "False True" \
  "$(python3 -c "import json; a = json.load(open('$tmp/r.json')); print(a['all_clear'], a['emergency'])")"
"$tlsrpt" readiness --database-url "$PG_URL" enforcedbroken.example >/dev/null
check "enforced with posture errors: exit status 1" 1 $?
check "enforced and losing mail: an emergency too" "False True" \
  "$(verdict enforcing.example >/dev/null; python3 -c "import json; a = json.load(open('$tmp/r.json')); print(a['all_clear'], a['emergency'])")"
# Forged reports: Microsoft's reports about forged.example arrived by SMTP and failed DKIM. With
# dkim.alert_on = authenticated they are not evidence, and the answer says how much was left out.
sql "UPDATE raw_messages m SET transport = 'smtp', dkim = 'fail' FROM reports r WHERE r.raw_message_id = m.id
     AND r.report_id LIKE 'Microsoft Corporation-forged.example-%'" >/dev/null
check "forged reports counted when alerts take all reports" "ready " "$(TLSRPT_DKIM_ALERT_ON=all verdict forged.example)"
check "... nothing left out" "0 0" "$(python3 -c "import json; l = json.load(open('$tmp/r.json'))['evidence']['left_out']; print(l['reports'], l['sessions'])")"
check "forged reports left out under dkim.alert_on = authenticated" "insufficient-data too-few-reporters" \
  "$(TLSRPT_DKIM_ALERT_ON=authenticated verdict forged.example)"
check "... and the evidence says how many" "16 1600" \
  "$(python3 -c "import json; l = json.load(open('$tmp/r.json'))['evidence']['left_out']; print(l['reports'], l['sessions'])")"
check "senders still applying the policy from before an MX move" "not-ready older-policy-in-use" "$(verdict drift.example)"
check "who, and how much: Microsoft's 9 days since the move" "Microsoft Corporation 1 900 | current 2300 previous 900" \
  "$(python3 -c "
import json; d = json.load(open('$tmp/r.json'))['evidence']['drift']
print(*[(o['organization'], o['sts_id'], o['sessions']) for o in d['older_policies']][0], '|',
      *[f'{k} {v}' for k, v in sorted(d['sessions'].items())])")"
check "the older policy went longer ago than its max_age (one day): said so" \
  "Microsoft Corporation applies policy id 1, last published $(sql "SELECT utc_text(last_seen) FROM published_policies
  WHERE domain = 'drift.example' AND sts_id = '1'"), longer ago than its max_age (900 sessions)" \
  "$(python3 -c "import json; print(*[r['detail'] for r in json.load(open('$tmp/r.json'))['reasons']])")"
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
test_ports readiness 2 || exit 1; port=$PORT
# drift.example and dane.example are monitored, against a DNS server that does not answer (the
# checks end incomplete; the drift metrics follow each stored check).
TLSRPT_CHECKS_DOMAINS="drift.example dane.example" TLSRPT_DNS_SERVER="127.0.0.1:$((port + 1))" TLSRPT_DNS_TIMEOUT=1 \
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

# Drift in the report answer: each policy against what its domain published when the report began.
drift_of() {  # REPORT-ID: "state matched last_published max_age beyond_max_age" of its first policy
  curl -s "http://127.0.0.1:$port/api/v1/reports/$(sql "SELECT id FROM reports WHERE report_id = '$1'")" >"$tmp/report.json"
  python3 -c "
import json; d = json.load(open('$tmp/report.json'))['policy_drift'][0]
print(d['state'], d['matched'], d['last_published'], d['max_age'], d['beyond_max_age'])"
}
old1=$(sql "SELECT utc_text(last_seen) FROM published_policies WHERE domain = 'drift.example' AND sts_id = '1'")
check "report: the policy replaced 10 days ago, 3 days ago" "previous 1 $old1 86400 True" "$(drift_of "Microsoft Corporation-drift.example-3")"
check "report: the same policy 10 days ago (the day it was replaced)" "current 1 $old1 86400 False" \
  "$(drift_of "Microsoft Corporation-drift.example-10")"
check "report: the new policy" "current 2" "$(drift_of "Google Inc.-drift.example-3" | cut -d' ' -f1,2)"
check "report: the TLSA records published now (written differently)" "current mx.dane.example" \
  "$(drift_of "Google Inc.-dane.example-2" | cut -d' ' -f1,2)"
check "report: TLSA records from before the rollover (Microsoft's JSON-in-a-string form)" \
  "previous mx.dane.example $(sql "SELECT utc_text(today - interval '5 days') FROM (SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS today) t") None False" \
  "$(drift_of "Microsoft Corporation-dane.example-2")"
check "report: TLSA records never published" "never-published None None None False" "$(drift_of "Mail.Ru-dane.example-2")"
check "report: a domain not monitored" "unknown None None None False" "$(drift_of "Google Inc.-notmonitored.example-2")"
check "OpenAPI: a report with its drift" 0 \
  "$(cd "$root" && python3 tests/e2e/openapi_conforms.py /api/v1/reports/{id} GET 200 "$tmp/report.json" >&2; echo $?)"

# The summary: sessions by drift state; per domain as the scenario says, and in all against SQL.
by_drift() {  # QUERY: "type state sessions" lines
  curl -s "http://127.0.0.1:$port/api/v1/summary?$1" | python3 -c "
import json, sys; print(*[f\"{r['policy_type']} {r['state']} {r['sessions']}\" for r in json.load(sys.stdin)['by_drift_state']], sep=', ')"
}
check "summary: drift.example" "sts current 2300, sts previous 900" "$(by_drift domain=drift.example)"
check "summary: dane.example" "tlsa current 300, tlsa never-published 30, tlsa previous 150" "$(by_drift domain=dane.example)"
check "summary: a domain not monitored" "sts unknown 3200" "$(by_drift domain=notmonitored.example)"
check "summary: one reporter, a range" "sts previous 300" \
  "$(by_drift "domain=drift.example&organization=Microsoft%20Corporation&from=$(sql "SELECT utc_text(now() - interval '4 days')")")"
check "summary: every sts and tlsa session has a drift state (against SQL)" \
  "$(sql "SELECT sum(total_successful_session_count + total_failure_session_count) FROM policies WHERE policy_type IN ('sts', 'tlsa')")" \
  "$(curl -s "http://127.0.0.1:$port/api/v1/summary" | python3 -c "import json, sys; print(sum(r['sessions'] for r in json.load(sys.stdin)['by_drift_state']))")"
check "OpenAPI: the summary with its drift" 0 \
  "$(cd "$root" && curl -s "http://127.0.0.1:$port/api/v1/summary" >"$tmp/summary.json" &&
     python3 tests/e2e/openapi_conforms.py /api/v1/summary GET 200 "$tmp/summary.json" >&2; echo $?)"

# The drift metrics, after the first checks (within 10 s of the start): reports of the last 7 days
# (6 whole days: a day's reports begin at midnight).
metric() { curl -s "http://127.0.0.1:$port/metrics" | grep "^$1" | sed 's/^[^ ]* //' | paste -sd' '; }
for _ in $(seq 300); do [ -n "$(metric 'tlsrpt_policy_drift_beyond_max_age_sessions{domain="dane.example"}')" ] && break; sleep 0.1; done
check "metric: drift.example previous" 600 "$(metric 'tlsrpt_policy_drift_sessions{domain="drift.example",policy_type="sts",state="previous"}')"
check "metric: drift.example current" 600 "$(metric 'tlsrpt_policy_drift_sessions{domain="drift.example",policy_type="sts",state="current"}')"
check "metric: drift.example beyond max_age" 600 "$(metric 'tlsrpt_policy_drift_beyond_max_age_sessions{domain="drift.example"}')"
check "metric: dane.example by state" "300 30 150" "$(for s in current never-published previous; do
  metric "tlsrpt_policy_drift_sessions{domain=\"dane.example\",policy_type=\"tlsa\",state=\"$s\"}"; done | paste -sd' ')"
check "metric: dane.example beyond max_age (TLSA has none)" 0 "$(metric 'tlsrpt_policy_drift_beyond_max_age_sessions{domain="dane.example"}')"
echo "readiness: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
