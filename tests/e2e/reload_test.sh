#!/usr/bin/env bash
# End-to-end test of SIGHUP (ctest e2e.reload): serve with STARTTLS and HTTPS from certificate
# files that are then replaced, tokens and monitored domains that change, log.level and
# log.format. The checks are in reload_test.py.
# Usage: tests/e2e/reload_test.sh path/to/tlsrpt
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/integration/pg.sh
tmp=$(mktemp -d)
trap 'pkill -f "tlsrpt serve.*$tmp" 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
pg_start || exit 1
for name in old new; do
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$name.reload.test" \
    -addext "subjectAltName=DNS:$name.reload.test,IP:127.0.0.1" \
    -keyout "$tmp/$name-key.pem" -out "$tmp/$name-cert.pem" >/dev/null 2>&1 || exit 1
done
TLSRPT="$1" PG_URL="$PG_URL" TMP="$tmp" python3 tests/e2e/reload_test.py
