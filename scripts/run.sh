#!/usr/bin/env bash
# Installs what is missing, builds tlsrpt into build/, and runs it.
# Without arguments: stores the bundled real reports and sample reports dated relative to today
# (scripts/samples.py) in the embedded database (a private
# PostgreSQL cluster under data/, or TLSRPT_DATABASE_URL when set), then runs the server
# (SMTP on 127.0.0.1:2525 for tls-reports@localhost unless TLSRPT_SMTP_* say otherwise; HTTP
# API, intake and /metrics on 127.0.0.1:8080 unless TLSRPT_HTTP_LISTEN says otherwise) until
# Ctrl-C. With arguments they go to tlsrpt (e.g. scripts/run.sh parse --pretty report.eml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build -G Ninja >/dev/null
cmake --build build --target tlsrpt
if [ $# -gt 0 ]; then
  exec build/tlsrpt "$@"
fi
# The bundled real reports are months or years old (their DKIM keys are gone), so the first page
# would show no sessions for the last 30 days: sample reports dated relative to today join them
# (scripts/samples.py: *.sample.example, "Sample Reporter A/B"). Both are stored without DKIM
# verification, as files given on the command line are.
python3 scripts/samples.py build/samples >/dev/null
TLSRPT_DKIM_MODE=off build/tlsrpt ingest --no-progress tests/fixtures/corpus build/samples
export TLSRPT_SMTP_RECIPIENTS=${TLSRPT_SMTP_RECIPIENTS:-tls-reports@localhost}
# A quick start on loopback from a clone, often as root: serve may stay root here. Installed from
# the package it runs as the user tlsrpt (server.user; see the README).
export TLSRPT_SERVER_ALLOW_ROOT=${TLSRPT_SERVER_ALLOW_ROOT:-true}
exec build/tlsrpt serve
