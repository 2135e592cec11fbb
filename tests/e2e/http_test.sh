#!/usr/bin/env bash
# End-to-end test of the HTTP server (ctest e2e.http): a real PostgreSQL, the corpus stored
# through the CLI (messages) and through POST /tlsrpt (bare reports), every API answer checked
# against SQL and against schema/openapi.yaml, access control, TLS, limits, /metrics with
# promtool, and a database outage. The checks are in http_test.py.
# Usage: tests/e2e/http_test.sh path/to/tlsrpt
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/integration/pg.sh
tmp=$(mktemp -d)
trap 'pkill -f "tlsrpt serve.*$tmp" 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
pg_start || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1
corpus=(tests/fixtures)
[ -d ../shared/corpus ] && corpus+=(../shared/corpus) || echo "skipped: ../shared/corpus is absent (only this repository's fixtures are used)"
TLSRPT="$1" PG_URL="$PG_URL" PG_DIR="$PG_DIR" PG_BIN="$PG_BIN" TMP="$tmp" CORPUS="${corpus[*]}" \
  python3 tests/e2e/http_test.py
