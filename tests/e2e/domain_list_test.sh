#!/usr/bin/env bash
# End-to-end test of the paged domain list (ctest e2e.domain_list): a real PostgreSQL, reports
# posted to serve's intake, every sort of /api/v1/overview and / checked page by page against
# the order of what was sent. The checks are in domain_list_test.py.
# Usage: tests/e2e/domain_list_test.sh path/to/tlsrpt
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/integration/pg.sh
tmp=$(mktemp -d)
trap 'pkill -f "tlsrpt serve.*$tmp" 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
pg_start || exit 1
TLSRPT="$1" PG_URL="$PG_URL" TMP="$tmp" python3 tests/e2e/domain_list_test.py
