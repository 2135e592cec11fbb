#!/bin/sh
# postgres image entry hook (/docker-entrypoint-initdb.d): the read-only grafana role.
set -eu
psql -v ON_ERROR_STOP=1 -v grafana_password="$GRAFANA_DB_PASSWORD" --username "$POSTGRES_USER" \
  --dbname "$POSTGRES_DB" -f /etc/tlsrpt/grafana-role.sql
