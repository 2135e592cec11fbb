#!/usr/bin/env bash
# The dashboards against Grafana's published TypeScript types (ctest dashboards.types):
# installs @grafana/schema and TypeScript as pinned in dashboards/types/package-lock.json, then
# `tsc --noEmit` over each dashboard as a typed object literal (dashboards/types/check.sh).
set -uo pipefail
cd "$(dirname "$0")/../../dashboards/types"
command -v npm >/dev/null || { echo "skipped: npm is missing (scripts/install-deps.sh test installs it)"; exit 77; }
if ! npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1; then
  cat npm.log; rm -f npm.log
  echo "skipped: npm ci failed (is the npm registry reachable?)"; exit 77
fi
rm -f npm.log
sh check.sh
