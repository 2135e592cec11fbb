#!/usr/bin/env bash
# Installs what is missing, builds tlsrpt into build/, and runs it.
# Without arguments it stores the bundled sample reports in the embedded database (a private
# PostgreSQL cluster under data/, or TLSRPT_DATABASE_URL when set); with arguments they go to
# tlsrpt (for example: scripts/run.sh parse --pretty /path/to/report.eml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build -G Ninja >/dev/null
cmake --build build --target tlsrpt
if [ $# -eq 0 ]; then
  set -- ingest tests/fixtures/corpus
fi
exec build/tlsrpt "$@"
