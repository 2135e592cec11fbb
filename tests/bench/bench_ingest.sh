#!/usr/bin/env bash
# Backfill throughput of `tlsrpt ingest` into PostgreSQL with durable settings (fsync and
# synchronous_commit on), against the floor of COPYing the same rows straight into the same
# tables (same indexes), in the same run. Prints reports/s and the ratio.
# Usage: tests/bench/bench_ingest.sh [build/tlsrpt] [typical-count (5000)] [large-count (20)] [details-per-large (5000)]
set -euo pipefail
tlsrpt=$(realpath "${1:-build/tlsrpt}")
typical=${2:-5000} large=${3:-20} details=${4:-5000}
cd "$(dirname "$0")/../.."
PG_FSYNC=on PG_SYNC=on
. tests/integration/pg.sh
tmp=$(mktemp -d)
trap 'pg_stop; [ -n "${BENCH_KEEP:-}" ] && cp "$tmp"/*.mbox "$BENCH_KEEP"/; rm -rf "$tmp"' EXIT
pg_start

python3 - "$tmp" "$typical" "$large" "$details" <<'PY'
import base64, gzip, json, sys
out, typical, large, details = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
types = ["certificate-expired", "certificate-host-mismatch", "starttls-not-supported", "validation-failure"]
def report(i, n):
    fd = [{"result-type": types[k % 4], "sending-mta-ip": f"192.0.{k % 250}.{(k * 7) % 250}",
           "receiving-mx-hostname": f"mx{k % 5}.customer{i}.example", "receiving-ip": f"198.51.100.{k % 250}",
           "failed-session-count": 1 + k % 9, "failure-reason-code": f"X509_ERR_{k % 30}"} for k in range(n)]
    return {"organization-name": "Bench Reporter", "date-range": {"start-datetime": "2026-03-01T00:00:00Z",
            "end-datetime": "2026-03-01T23:59:59Z"}, "contact-info": "tlsrpt@bench.example",
            "report-id": f"bench-{n}-{i}", "policies": [{"policy": {"policy-type": "sts",
            "policy-string": ["version: STSv1", "mode: enforce", f"mx: mx.customer{i}.example", "max_age: 86400"],
            "policy-domain": f"customer{i}.example", "mx-host": [f"mx.customer{i}.example"]},
            "summary": {"total-successful-session-count": 100 + i, "total-failure-session-count": sum(d["failed-session-count"] for d in fd)},
            "failure-details": fd}]}
def email(i, rep):
    gz = base64.encodebytes(gzip.compress(json.dumps(rep).encode(), mtime=0)).decode().replace("\n", "\r\n")
    dom = rep["policies"][0]["policy"]["policy-domain"]
    return (f"From bench@example Sun Mar  2 00:00:00 2026\r\nFrom: noreply@bench.example\r\nTo: tls@{dom}\r\n"
            f"Subject: Report Domain: {dom} Submitter: bench.example Report-ID: <{rep['report-id']}>\r\n"
            f"Message-ID: <{rep['report-id']}@bench.example>\r\nTLS-Report-Domain: {dom}\r\nTLS-Report-Submitter: bench.example\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b{i}\"\r\n\r\n"
            f"--b{i}\r\nContent-Type: text/plain\r\n\r\nThis is an aggregate TLS report from bench.example\r\n"
            f"--b{i}\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Disposition: attachment; "
            f"filename=\"bench.example!{dom}!1772323200!1772409599!{i}.json.gz\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            f"{gz}--b{i}--\r\n")
with open(f"{out}/typical.mbox", "w") as f:
    for i in range(typical): f.write(email(i, report(i, 2)))
with open(f"{out}/large.mbox", "w") as f:
    for i in range(large): f.write(email(i, report(i, details)))
PY

tables="raw_messages reports report_quirks policies failure_details"
measure() {  # measure NAME FILE COUNT
  pg_newdb "bench_$1"
  "$tlsrpt" migrate --database-url "$PG_URL" >/dev/null
  local t0 t1 t2 t3
  t0=$(date +%s.%N)
  "$tlsrpt" ingest --database-url "$PG_URL" --no-progress --no-migrate "$2" 2>"$tmp/$1.log" >/dev/null
  t1=$(date +%s.%N)
  for t in $tables; do psql -q "$PG_URL" -c "\\copy $t TO '$tmp/$1.$t'"; done
  psql -q "$PG_URL" -c "TRUNCATE ${tables// /, }"
  t2=$(date +%s.%N)
  { echo "BEGIN;"; for t in $tables; do echo "\\copy $t FROM '$tmp/$1.$t'"; done; echo "COMMIT;"; } | psql -q "$PG_URL"
  t3=$(date +%s.%N)
  local rows
  rows=$(psql -qAt "$PG_URL" -c "SELECT (SELECT count(*) FROM reports) || ' reports, ' || (SELECT count(*) FROM failure_details) || ' failure-details'")
  awk -v n="$3" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v name="$1" -v rows="$rows" 'BEGIN {
    ingest = n / (b - a); floor = n / (d - c);
    printf "%-8s %s: ingest %.2f s = %.0f reports/s; COPY floor %.2f s = %.0f reports/s; ratio %.2f\n",
      name, rows, b - a, ingest, d - c, floor, ingest / floor }'
  tail -1 "$tmp/$1.log" | sed 's/^/         /'
}
echo "PostgreSQL $(psql -qAt "$PG_ADMIN" -c 'SHOW server_version'), fsync=$(psql -qAt "$PG_ADMIN" -c 'SHOW fsync'), synchronous_commit=$(psql -qAt "$PG_ADMIN" -c 'SHOW synchronous_commit')"
measure typical "$tmp/typical.mbox" "$typical"
measure large "$tmp/large.mbox" "$large"
