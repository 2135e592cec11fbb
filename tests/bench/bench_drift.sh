#!/usr/bin/env bash
# Cost of drift (policy_drift(), migration 0007) over many stored policies, in one run:
#   - baseline: the policies' sessions by policy type (one scan of the same rows);
#   - drift: the same sessions by policy type and drift state, as GET /api/v1/summary computes
#     them (the SQL functions inlined by PostgreSQL);
#   - row by row: the same lookup in a function PostgreSQL cannot inline (OUT parameters), the
#     design it replaced.
# Synthetic rows straight into a throwaway cluster: N reports of one sts policy each over 40
# domains (20 monitored, 10 with a published policy that matches), 160 reports a day.
# Prints the median of 5 runs of each and the ratios.
# Usage: tests/bench/bench_drift.sh [build/tlsrpt] [policies (24000)]
set -euo pipefail
tlsrpt=$(realpath "${1:-build/tlsrpt}")
n=${2:-24000}
cd "$(dirname "$0")/../.."
. tests/integration/pg.sh
trap pg_stop EXIT
pg_start >/dev/null
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null
psql -qAt -v ON_ERROR_STOP=1 "$PG_URL" >/dev/null <<SQL
INSERT INTO raw_messages (id, transport, sha256, size, body, outcome) VALUES (1, 'cli', sha256(''), 0, '', 'stored');
INSERT INTO reports (raw_message_id, dedup_key, organization_name, report_id, start_datetime, end_datetime,
                     successful_sessions, failed_sessions)
  SELECT 1, int8send(g), 'org' || (g % 4), 'r' || g, '2026-01-01Z'::timestamptz + (g / 160) * interval '1 day',
         '2026-01-01Z'::timestamptz + (g / 160 + 1) * interval '1 day', 10, 0 FROM generate_series(1, $n) g;
INSERT INTO policies (report_id, position, policy_type, policy_string, policy_domain, mx_host,
                      total_successful_session_count, total_failure_session_count, start_datetime, organization_name)
  SELECT id, 0, 'sts', ARRAY['version: STSv1', 'mode: testing', 'mx: mx.customer' || (id % 40) || '.example', 'max_age: 86400'],
         'customer' || (id % 40) || '.example', '{}', 10, 0, start_datetime, organization_name FROM reports;
INSERT INTO posture_checks (domain, checked_at, duration_ms, complete, errors, warnings, result)
  SELECT 'customer' || g || '.example', now(), 1, true, 0, 0, '{}' FROM generate_series(0, 19) g;
INSERT INTO published_policies (domain, sts_id, sha256, mode, max_age, mx, text, first_seen, last_seen, normalized)
  SELECT 'customer' || g || '.example', '1', 'x', 'testing', 86400, '{}', '', '2026-01-01Z', '2026-03-01Z',
         normalized_policy(ARRAY['version: STSv1', 'mode: testing', 'mx: mx.customer' || g || '.example', 'max_age: 86400'])
  FROM generate_series(0, 9) g;
-- The row-by-row form: the same body, but OUT parameters instead of RETURNS TABLE (not inlined).
CREATE FUNCTION drift_row(policy_type text, domain text, mx_host text[], policy_string text[], start timestamptz,
                          OUT state text, OUT beyond_max_age boolean) LANGUAGE sql STABLE
  AS \$\$ SELECT state, beyond_max_age FROM policy_drift(\$1, \$2, \$3, \$4, \$5) \$\$;
ANALYZE;
SQL
median() {  # SQL: the median of 5 timed runs, in ms
  for _ in 1 2 3 4 5; do
    psql -qAt "$PG_URL" -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
  done | sort -g | sed -n 3p
}
base=$(median "SELECT policy_type, sum(total_successful_session_count + total_failure_session_count) FROM policies GROUP BY 1")
drift=$(median "SELECT p.policy_type, d.state, sum(p.total_successful_session_count + p.total_failure_session_count)
  FROM policies p, policy_drift(p.policy_type, p.policy_domain, p.mx_host, p.policy_string, p.start_datetime) d GROUP BY 1, 2")
row=$(median "SELECT p.policy_type, d.state, sum(p.total_successful_session_count + p.total_failure_session_count)
  FROM policies p, drift_row(p.policy_type, p.policy_domain, p.mx_host, p.policy_string, p.start_datetime) d GROUP BY 1, 2")
echo "policies: $n"
echo "baseline (sessions by policy type): $base ms"
echo "drift (by policy type and state, inlined): $drift ms"
echo "drift row by row (not inlined): $row ms"
python3 -c "print(f'ratio drift / baseline: {$drift / $base:.2f}; row by row / inlined: {$row / $drift:.1f}')"
