#!/usr/bin/env bash
# End-to-end test of the IMAP poller with a real Dovecot (ctest e2e.imap); the checks are in
# imap_test.py. Usage: tests/e2e/imap_test.sh path/to/tlsrpt
set -uo pipefail
cd "$(dirname "$0")/../.."
command -v dovecot >/dev/null || { echo "imap_test: dovecot is missing (scripts/install-deps.sh test)" >&2; exit 1; }
source tests/integration/pg.sh
source tests/e2e/dovecot.sh
tmp=$(mktemp -d)
trap 'pkill -f "serve --database-url $PG_URL" 2>/dev/null; dovecot_stop; pg_stop; rm -rf "$tmp"' EXIT
pg_start || exit 1
dovecot_start "$tmp/dovecot" || exit 1
for u in plain tls kill flag; do dovecot_user "$u" "pw-$u"; done
corpus=(tests/fixtures)
[ -d ../shared/corpus ] && corpus+=(../shared/corpus) || echo "skipped: ../shared/corpus is absent (only this repository's fixtures are used)"
TLSRPT="$1" PG_URL="$PG_URL" PG_DIR="$PG_DIR" PG_BIN="$PG_BIN" TMP="$tmp" CORPUS="${corpus[*]}" IMAP_PORT="$IMAP_PORT" \
  IMAPS_PORT="$IMAPS_PORT" DOVECOT_DIR="$DOVECOT_DIR" python3 tests/e2e/imap_test.py
