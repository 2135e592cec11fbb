#!/usr/bin/env bash
# Hostile clients (ctest e2e.hostile): `tlsrpt serve` with a real PostgreSQL and a real haproxy,
# attacked from loopback addresses only; every attack is bounded in time and its outcome is
# asserted (slots freed, 4xx instead of 200/500, RSS under the documented bound, other clients
# served, nothing acknowledged lost). The checks are in hostile_test.py.
# Usage: tests/e2e/hostile_test.sh path/to/tlsrpt [path/to/an/older/tlsrpt]
#   With a second binary, every attack is also run against it first and its figures printed
#   (not asserted): the "before" column of a change.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/integration/pg.sh
tmp=$(mktemp -d)
trap 'pkill -f "tlsrpt.*serve.*$tmp" 2>/dev/null; pkill -f "haproxy -f $tmp" 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
pg_start || exit 1
TLSRPT=$(realpath "$1") BEFORE=${2:+$(realpath "$2")} PG_ADMIN="$PG_ADMIN" PG_DIR="$PG_DIR" PG_USER="$PG_USER" TMP="$tmp" \
  python3 tests/e2e/hostile_test.py
