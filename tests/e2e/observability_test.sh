#!/usr/bin/env bash
# End-to-end test of what dashboards/ ships (ctest e2e.observability): the rules, Prometheus and
# Alertmanager configs and the dashboards, with real PostgreSQL, tlsrpt, Prometheus and
# Alertmanager from Debian packages on loopback. The checks are in observability_test.py.
# Usage: tests/e2e/observability_test.sh path/to/tlsrpt
set -uo pipefail
cd "$(dirname "$0")/../.."
for tool in prometheus promtool prometheus-alertmanager amtool docker-compose; do
  command -v "$tool" >/dev/null || { echo "observability_test: $tool is missing (scripts/install-deps.sh test)" >&2; exit 1; }
done
source tests/integration/pg.sh
tmp=$(mktemp -d)
trap 'pkill -f "$tmp" 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
pg_start || exit 1
TLSRPT="$1" PG_URL="$PG_URL" PG_ADMIN="$PG_ADMIN" TMP="$tmp" python3 tests/e2e/observability_test.py
