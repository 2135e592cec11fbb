#!/usr/bin/env bash
# The web pages in a real browser (ctest e2e.web): Debian's chromium, headless, driven through
# chromium-driver by python3-selenium, against a real PostgreSQL holding the corpus, fresh
# reports, a hostile report and posture checks. The checks are in web_test.py; screenshots of
# every page go to build/test-output/web/ for a person to look at.
# Usage: tests/e2e/web_test.sh path/to/tlsrpt
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/integration/pg.sh
tmp=$(mktemp -d)
trap 'pkill -f "tlsrpt serve.*$tmp" 2>/dev/null; pkill -f "chromedriver.*$tmp" 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
pg_start || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1
corpus=(tests/fixtures)
[ -d ../shared/corpus ] && corpus+=(../shared/corpus) || echo "skipped: ../shared/corpus is absent (only this repository's fixtures are used)"
out="$(cd "$(dirname "$1")" && pwd)/test-output/web"
rm -rf "$out" && mkdir -p "$out"
# Debian's python3: python3-selenium is a Debian package (another python3 on PATH may lack it).
TLSRPT="$1" PG_URL="$PG_URL" PG_DIR="$PG_DIR" PG_BIN="$PG_BIN" TMP="$tmp" OUT="$out" CORPUS="${corpus[*]}" /usr/bin/python3 tests/e2e/web_test.py
