#!/usr/bin/env bash
# Partitions and retention (ctest integration.retention): failure_details carried over into
# monthly partitions by migration 0010, months made ahead, the default partition for dates no
# month covers, `tlsrpt prune` (dry run, whole months dropped, batches for the rest) and the
# answers of the API for pruned ranges. The checks are in retention_test.py.
# Usage: tests/integration/retention_test.sh path/to/tlsrpt
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/integration/pg.sh
tmp=$(mktemp -d)
trap 'pkill -f "tlsrpt serve.*$tmp" 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
pg_start || exit 1
TLSRPT="$1" PG_URL="$PG_URL" TMP="$tmp" python3 tests/integration/retention_test.py
