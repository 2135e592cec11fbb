#!/usr/bin/env bash
# A real MTA in front of tlsrpt: a private Postfix instance (configured here) relays report mail
# to `tlsrpt serve` through a transport map, with Postfix's own client behaviour (PIPELINING,
# ESMTP) and its retries when tlsrpt answers 451 because the database is down.
# Usage: postfix_test.sh PATH/TO/tlsrpt   (from the repository root; needs root for Postfix)
set -u
tlsrpt=$(realpath "$1")
. tests/integration/pg.sh
. tests/integration/ports.sh
. tests/e2e/postfix.sh
passed=0 failed=0
check() { if [ "$2" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected [$2] got [$3]"; return 1; fi; }
if [ "$(id -u)" != 0 ] || ! command -v postfix >/dev/null; then echo "skipped: needs root and postfix"; exit 77; fi
tmp=$(mktemp -d)
chmod 755 "$tmp"
pfx="$tmp/postfix"
serve_pid=
cleanup() {
  postfix_stop
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null
  pg_stop
  [ -n "${KEEP:-}" ] && cp -r "$pfx" /tmp/pfx-keep; rm -rf "$tmp"
}
trap cleanup EXIT
pg_start || exit 1

# Ports checked free can still be taken before serve binds them (by something outside the test
# suite): then another pair. (Two fresh-clone runs failed here once, when e2e.smtp's serve held
# the default HTTP port 8080.)
for _ in 1 2 3 4 5; do
  test_ports postfix 2 || exit 1; port=$PORT relay_port=$((PORT + 1))
  # No HTTP listener: the default, 127.0.0.1:8080, is one address for every test running at once.
  "$tlsrpt" serve --database-url "$PG_URL" --http-listen "" --smtp-listen "127.0.0.1:$port" --smtp-recipients tls@example.net >"$tmp/serve.log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 100); do grep -q listening "$tmp/serve.log" && break; kill -0 $serve_pid 2>/dev/null || break; sleep 0.1; done
  grep -q listening "$tmp/serve.log" && break
  kill $serve_pid 2>/dev/null; wait $serve_pid 2>/dev/null; serve_pid=
done
check "serve listening" 1 "$(grep -c "smtp listening on 127.0.0.1:$port" "$tmp/serve.log")" || cat "$tmp/serve.log"

postfix_start "$pfx" "$relay_port" "$port"
check "postfix started" 0 $?

wait_for() {  # wait_for COUNT: until tlsrpt has COUNT raw messages (30 s at most)
  for _ in $(seq 300); do [ "$(sql 'SELECT count(*) FROM raw_messages')" -ge "$1" ] && return 0; sleep 0.1; done
  return 1
}

# 1. Report emails relayed by Postfix arrive and are stored.
n=0
for f in tests/fixtures/corpus/*.eml; do
  n=$((n + 1))
  swaks --server 127.0.0.1 --port "$relay_port" --from noreply@reporter.example --to tls@example.net --data @"$f" >/dev/null 2>&1
done
wait_for "$n"; check "relayed by postfix: all stored" "$n" "$(sql 'SELECT count(*) FROM raw_messages')"
check "relayed by postfix: the peer is postfix's client" "relay.test" "$(sql "SELECT DISTINCT source->>'helo' FROM raw_messages")"
check "relayed by postfix: reports stored" t "$(sql 'SELECT count(*) > 0 FROM reports')"

# 2. Database down: tlsrpt answers 451, Postfix keeps the mail and retries; nothing is lost.
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -m fast stop >/dev/null
swaks --server 127.0.0.1 --port "$relay_port" --from noreply@reporter.example --to tls@example.net \
  --data @tests/fixtures/quirks/forwarded-message.eml >/dev/null 2>&1
for _ in $(seq 100); do grep -q "451 4.3.0" "$pfx/maillog" 2>/dev/null && break; sleep 0.1; done
check "postfix saw 451 and deferred" 1 "$(grep -c 'status=deferred.*451 4.3.0' "$pfx/maillog" | awk '{print ($1 > 0)}')"
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -o "-k $PG_DIR -c listen_addresses='' -c fsync=off" start >/dev/null
postqueue -c "$pfx/etc" -f
wait_for $((n + 1)); check "after the outage postfix's retry is stored" $((n + 1)) "$(sql 'SELECT count(*) FROM raw_messages')"
check "postfix queue empty" 0 "$(find "$pfx/queue/deferred" "$pfx/queue/active" -type f 2>/dev/null | wc -l)"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
