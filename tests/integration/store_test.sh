#!/usr/bin/env bash
# The store against a real PostgreSQL: idempotence, concurrency, rejections kept and
# reprocessed, failures that leave nothing half-written, migrations, the schema snapshot.
# Usage: store_test.sh PATH/TO/tlsrpt   (from the repository root)
set -u
tlsrpt=$(realpath "$1")
. tests/integration/pg.sh
passed=0 failed=0
# pg_dump minus what varies between runs: comments, SET lines, the \restrict token, blank lines.
# (the months of failure_details depend on today's date: left out, the parent and its default kept)
schema_of() { pg_dump --schema-only --no-owner --no-privileges -T 'failure_details_2*' "$1" | grep -vE '^(--|SET |SELECT pg_catalog|\\restrict|\\unrestrict|$)'; }
snapshot() { grep -vE '^(--|$)' schema/schema.sql; }
check() { if [ "$2" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected [$2] got [$3]"; fi; }
tmp=$(mktemp -d)
trap 'pg_stop; rm -rf "$tmp"' EXIT
pg_start || exit 1

corpus=tests/fixtures
[ -d ../shared/corpus ] && corpus="tests/fixtures ../shared/corpus"
# What tlsrpt parse sees: distinct reports (organisation, report-id, range, domains) and their sessions.
"$tlsrpt" parse $corpus 2>/dev/null | python3 -c '
import json, sys
seen = {}
for line in sys.stdin:
    r = json.loads(line)
    key = (r["organization-name"], r["report-id"], r["date-range"]["start-datetime"], r["date-range"]["end-datetime"],
           tuple(sorted({p["policy"]["policy-domain"] for p in r["policies"]})))
    if key not in seen:
        seen[key] = (sum(p["summary"]["total-successful-session-count"] for p in r["policies"]),
                     sum(p["summary"]["total-failure-session-count"] for p in r["policies"]),
                     sum(len(p["failure-details"]) for p in r["policies"]))
print(len(seen), sum(v[0] for v in seen.values()), sum(v[1] for v in seen.values()), sum(v[2] for v in seen.values()))
' >"$tmp/expected"
read -r want_reports want_ok want_failed want_details <"$tmp/expected"
inputs=$(find $corpus -type f | wc -l)  # ingest keeps every file, reports or not
mbox_extra=$(find $corpus -name '*.mbox' | wc -l)  # each test mbox holds two messages
messages=$((inputs + mbox_extra))
rejected=$("$tlsrpt" parse $corpus 2>&1 >/dev/null | grep -c ': rejected: ')
accepted_messages=$((messages - rejected))

# 1. Migrations: from empty, twice at once.
"$tlsrpt" migrate --database-url "$PG_URL" >"$tmp/m1" 2>&1 & "$tlsrpt" migrate --database-url "$PG_URL" >"$tmp/m2" 2>&1; wait
check "concurrent migrate: applied once" 1 "$(cat "$tmp/m1" "$tmp/m2" | grep -c 'applied 0001_initial.sql')"
check "schema_migrations rows" "$(ls migrations/*.sql | wc -l)" "$(sql 'SELECT count(*) FROM schema_migrations')"
"$tlsrpt" migrate --database-url "$PG_URL" --status >"$tmp/st"; check "migrate --status" "up to date" "$(head -1 "$tmp/st")"
check "migrate --status: sizes of the tables and the default partition" "yes yes" \
  "$(grep -q "^raw_messages " "$tmp/st" && echo yes) $(grep -q "^  failure_details_default " "$tmp/st" && echo yes)"

# 2. The schema snapshot in schema/ matches the migrations.
schema_of "$PG_URL" >"$tmp/schema.sql"
if diff -u <(snapshot) "$tmp/schema.sql" >"$tmp/schema.diff"; then check "schema snapshot" 0 0
else check "schema snapshot (see diff)" same different; head -30 "$tmp/schema.diff"; fi

# 3. Ingest everything: every input kept, each distinct report once, counts equal parse's.
"$tlsrpt" ingest --database-url "$PG_URL" --no-progress $corpus >/dev/null 2>"$tmp/i1"
check "ingest exit (some rejected)" 1 $?
check "raw messages kept" "$messages" "$(sql 'SELECT count(*) FROM raw_messages')"
check "rejected kept with reason" "$rejected" "$(sql "SELECT count(*) FROM raw_messages WHERE outcome='rejected' AND reason IS NOT NULL")"
check "every raw message has its bytes" 0 "$(sql "SELECT count(*) FROM raw_messages m LEFT JOIN raw_messages d ON d.id = m.duplicate_of WHERE COALESCE(m.body, d.body) IS NULL")"
check "reports" "$want_reports" "$(sql 'SELECT count(*) FROM reports')"
check "successful sessions" "$want_ok" "$(sql 'SELECT sum(total_successful_session_count) FROM policies')"
check "failed sessions" "$want_failed" "$(sql 'SELECT sum(total_failure_session_count) FROM policies')"
check "failure-details" "$want_details" "$(sql 'SELECT count(*) FROM failure_details')"
check "report totals match their policies" 0 "$(sql 'SELECT count(*) FROM reports r WHERE successful_sessions <> (SELECT sum(total_successful_session_count) FROM policies p WHERE p.report_id = r.id)')"
check "quirks recorded" t "$(sql "SELECT count(*) > 0 FROM report_quirks WHERE quirk = 'datetime-no-timezone'")"

# 4. Twice: the second run only finds duplicates. Its rows are those past the first run's last id
# (ids are not 1..messages: a batch replayed after a deadlock leaves a gap in the sequence).
first_last=$(sql 'SELECT max(id) FROM raw_messages')
"$tlsrpt" ingest --database-url "$PG_URL" --no-progress $corpus >/dev/null 2>"$tmp/i2"
check "second run stores nothing" "stored=0" "$(grep -o 'stored=[0-9]*' "$tmp/i2")"
check "second run: every accepted message a duplicate" "duplicates=$accepted_messages" "$(grep -o ' duplicates=[0-9]*' "$tmp/i2" | tr -d ' ')"
check "reports unchanged" "$want_reports" "$(sql 'SELECT count(*) FROM reports')"
check "second copies keep no second body" "$messages $messages" \
  "$(sql "SELECT count(*), count(*) FILTER (WHERE body IS NULL) FROM raw_messages WHERE id > $first_last" | tr '|' ' ')"

# 5. Two ingests at once over the same files, on a fresh database: each report once.
pg_newdb concurrent
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null
"$tlsrpt" ingest --database-url "$PG_URL" --no-progress --batch 1 $corpus >/dev/null 2>&1 &
"$tlsrpt" ingest --database-url "$PG_URL" --no-progress --batch 1 $corpus >/dev/null 2>&1; wait
check "concurrent ingest: reports once" "$want_reports" "$(sql 'SELECT count(*) FROM reports')"
check "concurrent ingest: every arrival kept" "$((2 * messages))" "$(sql 'SELECT count(*) FROM raw_messages')"
# The rollups the API reads equal a recount from policies and failure-details (both ingests
# compacted at their end: nothing pending).
recount="SELECT date_trunc('hour', p.start_datetime, 'UTC') AS bucket, p.policy_domain, p.organization_name, p.policy_type,
  k.result, k.mx_host, sum(k.n) AS sessions FROM policies p CROSS JOIN LATERAL (SELECT 'success' AS result, '' AS mx_host,
  p.total_successful_session_count AS n UNION ALL SELECT 'failure', '', p.total_failure_session_count UNION ALL
  SELECT d.result_type, coalesce(d.receiving_mx_hostname, ''), d.failed_session_count FROM failure_details d
  WHERE d.policy_id = p.id) k WHERE k.n > 0 GROUP BY 1, 2, 3, 4, 5, 6"
rollup="SELECT bucket, policy_domain, organization_name, policy_type, result, mx_host, sessions FROM session_counts"
check "concurrent ingest: rollup compacted, nothing pending" 0 "$(sql 'SELECT count(*) FROM session_counts_new')"
check "concurrent ingest: session_counts equals a recount" "0 t" \
  "$(sql "SELECT count(*), (SELECT count(*) > 10 FROM session_counts) FROM (($recount EXCEPT $rollup) UNION ALL ($rollup EXCEPT $recount)) x" | tr '|' ' ')"
daily="SELECT policy_domain, date_bin('1 day', bucket, '2000-01-01Z') AS day, sum(sessions) FILTER (WHERE result = 'success') AS ok,
  sum(sessions) FILTER (WHERE result = 'failure') AS failed, sum(sessions) FILTER (WHERE result NOT IN ('success', 'failure')) AS detailed
  FROM ($recount) r GROUP BY 1, 2"
daily_rollup="SELECT policy_domain, day, nullif(successful, 0), nullif(failed, 0),
  (SELECT sum(value::bigint) FROM jsonb_each_text(by_result)) FROM daily_sessions"
check "daily_sessions equals a recount by day" "0 t" \
  "$(sql "SELECT count(*), (SELECT count(*) > 5 FROM daily_sessions) FROM (($daily EXCEPT $daily_rollup) UNION ALL ($daily_rollup EXCEPT $daily)) x" | tr '|' ' ')"
# Rows appended after a compaction are moved by the next one, added to what is there.
before=$(sql "SELECT sum(sessions) FROM session_counts")
sql "INSERT INTO session_counts_new SELECT * FROM session_counts ORDER BY 1, 2 LIMIT 3" >/dev/null
added=$(sql "SELECT sum(sessions) FROM session_counts_new")
check "compaction moves pending rows" "3" "$(sql 'SELECT compact_session_counts()')"
check "compaction adds them up" "$((before + added))" "$(sql 'SELECT sum(sessions) FROM session_counts')"

# 5b. Batches go in as one bulk statement (store.cpp, bulk_sql): what it writes equals what the
# one-message statements write (--batch 1), row for row but the ids, on the same inputs in the
# same order. The inputs hold copies of the same bytes, of the same report in other bytes,
# multi-policy reports and rejections, within one batch (one job keeps the order).
content() {  # every row by content: the ids replaced by what they point at
  sql "SELECT 'raw', transport, encode(sha256, 'hex'), size, body IS NULL, duplicate_of IS NULL, outcome, reason, reports,
         dkim, source::text FROM raw_messages ORDER BY 2, 3, 5, 6, 7, 8, 11" | sort
  sql "SELECT 'report', encode(r.dedup_key, 'hex'), r.organization_name, r.contact_info, r.report_id, r.start_datetime,
         r.end_datetime, r.successful_sessions, r.failed_sessions, r.source_part, r.source_filename, encode(m.sha256, 'hex')
       FROM reports r JOIN raw_messages m ON m.id = r.raw_message_id" | sort
  sql "SELECT 'quirk', encode(r.dedup_key, 'hex'), q.quirk FROM report_quirks q JOIN reports r ON r.id = q.report_id" | sort
  sql "SELECT 'policy', encode(r.dedup_key, 'hex'), p.position, p.policy_type, p.policy_string, p.policy_domain, p.mx_host,
         p.total_successful_session_count, p.total_failure_session_count, p.start_datetime, p.organization_name
       FROM policies p JOIN reports r ON r.id = p.report_id" | sort
  sql "SELECT 'detail', encode(r.dedup_key, 'hex'), p.position, d.result_type, d.sending_mta_ip, d.receiving_mx_hostname,
         d.receiving_mx_helo, d.receiving_ip, d.failed_session_count, d.additional_information, d.failure_reason_code,
         d.policy_domain, d.start_datetime
       FROM failure_details d JOIN policies p ON p.id = d.policy_id JOIN reports r ON r.id = p.report_id" | sort
  sql "SELECT 'hourly', * FROM session_counts" | sort
  sql "SELECT 'daily', * FROM daily_sessions" | sort
}
find $corpus -type f | sort >"$tmp/files"
# The same files twice over (copies of the same bytes) and, for every .eml, the same message
# with one more header line (the same report in other bytes).
mkdir -p "$tmp/variants"
n=0
while read -r f; do
  case "$f" in *.eml) n=$((n + 1)); { echo "X-Variant: $n"; cat "$f"; } >"$tmp/variants/v$n.eml" ;; esac
done <"$tmp/files"
bulk_inputs="$(tr '\n' ' ' <"$tmp/files") $(tr '\n' ' ' <"$tmp/files") $tmp/variants"
for mode in one bulk; do
  pg_newdb "equal_$mode"
  "$tlsrpt" migrate --database-url "$PG_URL" >/dev/null
  [ $mode = one ] && batch=1 || batch=1000
  # shellcheck disable=SC2086
  "$tlsrpt" ingest --database-url "$PG_URL" --no-progress --jobs 1 --batch $batch $bulk_inputs >/dev/null 2>"$tmp/$mode.log"
  content | sed "s|$tmp/variants/||" >"$tmp/$mode.rows"
  tail -1 "$tmp/$mode.log" | sed 's/ seconds=[0-9.]*//' >"$tmp/$mode.summary"
done
check "bulk: the inputs hold duplicates and variants" "t t" \
  "$(sql "SELECT count(*) FILTER (WHERE duplicate_of IS NOT NULL) > 10, count(*) FILTER (WHERE outcome = 'duplicate' AND duplicate_of IS NULL) > 5 FROM raw_messages" | tr '|' ' ')"
check "bulk: a multi-policy report among them" t "$(sql 'SELECT count(*) > 0 FROM policies WHERE position > 0')"
check "bulk: the same summary line as one message a statement" "$(cat "$tmp/one.summary")" "$(cat "$tmp/bulk.summary")"
if diff "$tmp/one.rows" "$tmp/bulk.rows" >"$tmp/rows.diff"; then check "bulk: the same rows as one message a statement" 0 0
else check "bulk: the same rows as one message a statement (diff below)" same different; head -20 "$tmp/rows.diff"; fi
check "bulk: nothing left pending" 0 "$(sql 'SELECT count(*) FROM session_counts_new')"
# Two bulk ingests at once, two jobs each, over the same inputs: each report once, rollups exact.
pg_newdb concurrent_bulk
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null
# shellcheck disable=SC2086
"$tlsrpt" ingest --database-url "$PG_URL" --no-progress $bulk_inputs >/dev/null 2>&1 &
# shellcheck disable=SC2086
"$tlsrpt" ingest --database-url "$PG_URL" --no-progress $bulk_inputs >/dev/null 2>&1; wait
check "concurrent bulk ingest: reports once" "$want_reports" "$(sql 'SELECT count(*) FROM reports')"
check "concurrent bulk ingest: session_counts equals a recount" "0 t" \
  "$(sql "SELECT count(*), (SELECT count(*) > 10 FROM session_counts) FROM (($recount EXCEPT $rollup) UNION ALL ($rollup EXCEPT $recount)) x" | tr '|' ' ')"
check "concurrent bulk ingest: daily_sessions equals a recount" "0 t" \
  "$(sql "SELECT count(*), (SELECT count(*) > 5 FROM daily_sessions) FROM (($daily EXCEPT $daily_rollup) UNION ALL ($daily_rollup EXCEPT $daily)) x" | tr '|' ' ')"

# 6. Reprocess: a message rejected under a tight limit reads after the limit is lifted.
pg_newdb reprocess
"$tlsrpt" ingest --database-url "$PG_URL" --no-progress --limit string_length=10 tests/fixtures/corpus/google_2022-09-15_mox.eml >/dev/null 2>&1
check "rejected under the tight limit" "string-too-long" "$(sql "SELECT reason FROM raw_messages")"
"$tlsrpt" reprocess --database-url "$PG_URL" --reason string-too-long 2>"$tmp/rp"
check "reprocess summary" "reprocess: rejected=1 now-stored=1 now-duplicate=0 still-rejected=0" "$(cat "$tmp/rp")"
check "now stored" "stored 1" "$(sql "SELECT outcome, reports FROM raw_messages" | tr '|' ' ')"
check "its report" 1 "$(sql 'SELECT count(*) FROM reports')"

# 7. The database fails mid-transaction: nothing half-written, a clear error, a rerun completes.
pg_newdb failing
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null
sql "CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'injected failure'; END \$\$"
sql "CREATE TRIGGER fail BEFORE INSERT ON failure_details FOR EACH ROW WHEN (NEW.result_type = 'certificate-expired') EXECUTE FUNCTION fail()"
# Messages go in in batches (up to --batch, or whatever arrived within 50 ms); a failure rolls
# back the batch it hit, while batches committed earlier or by other jobs stay. What must hold:
# no message is half in, the error is shown, the exit status is 3, and a rerun completes.
# The reports whose failure-details the trigger refuses: their report and policy rows were
# written before the failing statement, in the same transaction, so they must be gone too.
failing_ids=$("$tlsrpt" parse $corpus 2>/dev/null | python3 -c '
import json, sys
ids = {r["report-id"] for r in map(json.loads, sys.stdin)
       if any(d["result-type"] == "certificate-expired" for p in r["policies"] for d in p["failure-details"])}
print(",".join("\x27" + i.replace("\x27", "\x27\x27") + "\x27" for i in sorted(ids)))')
check "failure: some reports hit the injected failure" 1 "$([ -n "$failing_ids" ] && echo 1)"
half_written() {
  sql "SELECT (SELECT count(*) FROM raw_messages m WHERE outcome = 'stored' AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.raw_message_id = m.id))
            + (SELECT count(*) FROM reports r WHERE NOT EXISTS (SELECT 1 FROM policies p WHERE p.report_id = r.id))
            + (SELECT count(*) FROM reports WHERE report_id IN ($failing_ids))"
}
for jobs in 1 4; do
  "$tlsrpt" ingest --database-url "$PG_URL" --no-progress --jobs $jobs --batch 5 $corpus >/dev/null 2>"$tmp/fail"
  check "failure, $jobs jobs: exit status 3" 3 $?
  grep -q "injected failure" "$tmp/fail"; check "failure, $jobs jobs: the error is shown" 0 $?
  check "failure, $jobs jobs: nothing half-written" 0 "$(half_written)"
done
sql "DROP TRIGGER fail ON failure_details"
"$tlsrpt" ingest --database-url "$PG_URL" --no-progress $corpus >/dev/null 2>&1
check "failure: the rerun completes" "$want_reports $want_details" "$(sql 'SELECT (SELECT count(*) FROM reports), (SELECT count(*) FROM failure_details)' | tr '|' ' ')"

# 7b. Two jobs do not deadlock: a transaction adds to the rollups (row locks, in key order) only
# once its reports are written, so it never holds a rollup row while it waits for the other job's
# uncommitted copy of a report. When the bulk statement added them itself, about one run in three
# of these deadlocked (each time a batch was rolled back and replayed).
log_from=$(($(wc -c <"$PG_DIR/log") + 1))
for run in 1 2 3 4 5 6 7 8 9 10; do
  pg_newdb concurrent
  TLSRPT_DKIM_MODE=off "$tlsrpt" ingest --database-url "$PG_URL" --no-progress --jobs 2 --batch 20 $corpus >/dev/null 2>&1
done
check "two jobs, ten runs: every message in" "$messages $want_reports" "$(sql 'SELECT (SELECT count(*) FROM raw_messages), (SELECT count(*) FROM reports)' | tr '|' ' ')"
check "two jobs, ten runs: no deadlock" 0 "$(tail -c +"$log_from" "$PG_DIR/log" | grep -c 'deadlock detected')"

# 8. The database from the environment and from the settings file.
pg_newdb fromenv
TLSRPT_DATABASE_URL="$PG_URL" "$tlsrpt" ingest --no-progress tests/fixtures/corpus/google_2022-09-15_mox.eml >/dev/null 2>&1
check "TLSRPT_DATABASE_URL" 1 "$(sql 'SELECT count(*) FROM reports')"
printf '[database]\nurl = "%s"\n' "$PG_URL" >"$tmp/db.toml"
"$tlsrpt" --config "$tmp/db.toml" ingest --no-progress tests/fixtures/corpus/microsoft_2023-01-10_no-tz-datetime_mox.eml >/dev/null 2>&1
check "database.url in the settings file" 2 "$(sql 'SELECT count(*) FROM reports')"

# 9. Standard input; the progress line on a terminal (and none otherwise).
pg_newdb stdin
"$tlsrpt" ingest --database-url "$PG_URL" - <tests/fixtures/corpus/google_2022-09-15_mox.eml >/dev/null 2>"$tmp/plain"
check "stdin" "1 {\"path\": \"-\"}" "$(sql 'SELECT count(*), min(source::text) FROM raw_messages' | tr '|' ' ')"
grep -q "msg/s" "$tmp/plain"; check "no progress line without a terminal" 1 $?
script -qec "$tlsrpt ingest --database-url '$PG_URL' tests/fixtures/corpus" /dev/null >"$tmp/tty" 2>&1
grep -q "ingest: 26 messages .* msg/s" "$tmp/tty"; check "progress line on a terminal" 0 $?

# 10. The embedded default: no URL, a private cluster under the data directory, stopped at exit.
"$tlsrpt" ingest --data-dir "$tmp/data" --no-progress tests/fixtures/corpus >/dev/null 2>"$tmp/emb"
check "embedded: exit" 0 $?
grep -q "^ingest: messages=26 stored=21 duplicates=5 " "$tmp/emb"; check "embedded: stored" 0 $?
check "embedded: cluster under the data directory" 1 "$([ -f "$tmp/data/postgres/PG_VERSION" ] && echo 1)"
pgrep -f "$tmp/data/postgres" >/dev/null; check "embedded: stopped at exit" 1 $?
"$tlsrpt" ingest --data-dir "$tmp/data" --no-progress tests/fixtures/corpus >/dev/null 2>"$tmp/emb2"
grep -q "^ingest: messages=26 stored=0 duplicates=26 " "$tmp/emb2"; check "embedded: data kept across runs" 0 $?

# 11. Unreachable database: a clear error and exit 3.
"$tlsrpt" ingest --database-url "host=$tmp/nowhere port=5432 dbname=x" --no-progress tests/fixtures/corpus >/dev/null 2>"$tmp/down"
check "unreachable: exit 3" 3 $?
grep -q "database error (temporary, retry later)" "$tmp/down"; check "unreachable: says so" 0 $?

# 12. An edited migration is refused; a database from a newer tlsrpt is refused.
sql "UPDATE schema_migrations SET checksum = 'x' WHERE name = '0001_initial.sql'"
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null 2>"$tmp/edited"; check "edited migration refused" 3 $?
grep -q "was edited after it was applied" "$tmp/edited"; check "edited migration named" 0 $?
pg_newdb newer
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null
sql "INSERT INTO schema_migrations (name, checksum) VALUES ('9999_future.sql', 'x')"
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null 2>&1; check "newer database refused" 3 $?

# 13. Upgrades from every earlier version: apply the first k migrations by hand, then migrate.
files=(migrations/*.sql)
for ((k = 0; k < ${#files[@]}; k++)); do
  pg_newdb "upgrade$k"
  sql "CREATE TABLE schema_migrations (name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
  for ((i = 0; i < k; i++)); do
    psql -q "$PG_URL" -v ON_ERROR_STOP=1 -f "${files[$i]}" >/dev/null
    sql "INSERT INTO schema_migrations (name, checksum) VALUES ('$(basename "${files[$i]}")', '$(sha256sum "${files[$i]}" | cut -c1-64)')"
  done
  "$tlsrpt" migrate --database-url "$PG_URL" >/dev/null 2>&1; check "upgrade from version $k" 0 $?
  schema_of "$PG_URL" >"$tmp/up.sql"
  diff -q <(snapshot) "$tmp/up.sql" >/dev/null; check "upgrade from version $k: same schema" 0 $?
done

# 14. Data carried over: the TLSA records in the posture checks stored before 0007 fill
# published_tlsa (first and last seen over the checks holding them or pointing at them).
pg_newdb carry0007
sql "CREATE TABLE schema_migrations (name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
for f in migrations/000[1-6]_*.sql; do
  psql -q "$PG_URL" -v ON_ERROR_STOP=1 -f "$f" >/dev/null
  sql "INSERT INTO schema_migrations (name, checksum) VALUES ('$(basename "$f")', '$(sha256sum "$f" | cut -c1-64)')"
done
sql "INSERT INTO posture_checks (id, domain, checked_at, duration_ms, complete, errors, warnings, result, result_of) VALUES
  (1, 'd.example', '2026-01-01Z', 5, true, 0, 0, '{\"mx\": [{\"host\": \"mx.d.example\", \"tlsa\": {\"secure\": true,
     \"records\": [\"3 1 1 BB\", \"3 1 1 aa\"]}}, {\"host\": \"mx2.d.example\", \"tlsa\": {\"secure\": false, \"records\": []}}]}', NULL),
  (2, 'd.example', '2026-01-02Z', 5, true, 0, 0, NULL, 1),
  (3, 'd.example', '2026-01-03Z', 5, true, 0, 0, '{\"mx\": [{\"host\": \"mx.d.example\", \"tlsa\": {\"secure\": true,
     \"records\": [\"3 1 1 cc\"]}}]}', NULL)" >/dev/null
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null 2>&1
check "0007 carries the TLSA records over" "mx.d.example {\"3 1 1 aa\",\"3 1 1 bb\"} 2026-01-01 2026-01-02
mx.d.example {\"3 1 1 cc\"} 2026-01-03 2026-01-03" \
  "$(sql "SELECT mx_host, records, first_seen::date, last_seen::date FROM published_tlsa ORDER BY first_seen" | tr '|' ' ')"

# 0014: a posture result stored with the old key "mta-sts" is read as "mta_sts" after migrate.
pg_newdb carry0014
sql "CREATE TABLE schema_migrations (name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
for f in migrations/000[1-9]_*.sql migrations/001[0-3]_*.sql; do
  psql -q "$PG_URL" -v ON_ERROR_STOP=1 -f "$f" >/dev/null
  sql "INSERT INTO schema_migrations (name, checksum) VALUES ('$(basename "$f")', '$(sha256sum "$f" | cut -c1-64)')"
done
sql "INSERT INTO posture_checks (id, domain, checked_at, duration_ms, complete, errors, warnings, result, result_of) VALUES
  (1, 'k.example', '2026-01-01Z', 5, true, 0, 0, '{\"domain\": \"k.example\", \"mta-sts\": {\"id\": \"20260101\", \"mode\": \"testing\"}}', NULL),
  (2, 'k.example', '2026-01-02Z', 5, true, 0, 0, '{\"domain\": \"k.example\", \"mta-sts\": null}', NULL)" >/dev/null
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null 2>&1
check "0014 renames the posture result's mta-sts to mta_sts, values kept (null too)" "1 20260101 testing f
2   f" "$(sql "SELECT id, result->'mta_sts'->>'id', result->'mta_sts'->>'mode', result ? 'mta-sts' FROM posture_checks ORDER BY id" | tr '|' ' ')"

check "normalized_tlsa: one form for a whole RR, split data, leading zeros, repeats; other text kept" \
  '{"3 1 1 abcd","not a record"}' \
  "$(sql "SELECT normalized_tlsa(ARRAY['_25._tcp.mx.example. 300 IN TLSA 3 1 1 AB CD', '03 01 001 abcd', '', ' Not  A  Record '])")"
check "normalized_policy: case of keys, spaces, CRs, order" '{"max_age: 86400","mode: enforce","mx: mx.example"}' \
  "$(sql "SELECT normalized_policy(ARRAY['MX:  mx.example ', E'mode: enforce\r', 'max_age:86400', 'no colon here'])")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
