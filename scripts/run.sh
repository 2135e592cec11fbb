#!/usr/bin/env bash
# Installs what is missing, builds tlsrpt into build/, and runs it.
# Without arguments it parses the bundled sample reports; with arguments they go to tlsrpt
# (for example: scripts/run.sh parse --pretty /path/to/report.eml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTLSRPT_BUILD_TESTS=OFF >/dev/null
cmake --build build --target tlsrpt
if [ $# -eq 0 ]; then
  set -- parse --summary tests/fixtures/corpus
fi
exec build/tlsrpt "$@"
