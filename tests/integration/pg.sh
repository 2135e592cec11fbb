# Throwaway PostgreSQL for tests: source this file, then `pg_start`, and `pg_stop` at the end.
# The cluster listens on a Unix socket in its own /tmp directory only; $PG_URL connects to it.
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_start() {
  PG_DIR=$(mktemp -d /tmp/tlsrpt-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
  PG_USER=$([ "$(id -u)" = 0 ] && echo postgres || id -un)
  as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -E UTF8 -U "$PG_USER" --no-sync >"$PG_DIR/initdb.log" 2>&1 || {
    cat "$PG_DIR/initdb.log"; return 1; }
  pg_up
  PG_ADMIN="host=$PG_DIR port=5432 user=$PG_USER dbname=postgres"
  pg_newdb tlsrpt
}
# pg_newdb NAME: a fresh, empty database; sets PG_URL to it.
pg_newdb() {
  PGOPTIONS="-c client_min_messages=warning" psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
  PG_URL="host=$PG_DIR port=5432 user=$PG_USER dbname=$1"
}
pg_stop() { [ -n "${PG_DIR:-}" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -m fast stop >/dev/null 2>&1; rm -rf "$PG_DIR"; }
# pg_down / pg_up: the server stops at once (as in a crash) and comes back with the same data.
pg_down() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -m immediate stop >/dev/null; }
pg_up() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -o "-k $PG_DIR -c listen_addresses='' -c fsync=${PG_FSYNC:-off} -c synchronous_commit=${PG_SYNC:-off} -c shared_buffers=${PG_SHARED_BUFFERS:-128MB}" start >/dev/null; }
sql() { psql -qAt "$PG_URL" -c "$1"; }
