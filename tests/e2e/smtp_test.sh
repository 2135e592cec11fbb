#!/usr/bin/env bash
# `tlsrpt serve` with real SMTP peers: swaks delivering the corpus byte for byte (plain and
# STARTTLS), protocol edge cases at the socket level, and a database outage while mail flows.
# Usage: smtp_test.sh PATH/TO/tlsrpt   (from the repository root)
set -u
tlsrpt=$(realpath "$1")
. tests/integration/pg.sh
. tests/integration/ports.sh
passed=0 failed=0
check() { if [ "$2" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected [$2] got [$3]"; fi; }
tmp=$(mktemp -d)
serve_pid=
trap '[ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
pg_start || exit 1

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 1 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1
test_ports smtp 1 || exit 1; port=$PORT
# (the per-client message rate is off here: it has its own test in e2e.hostile)
TLSRPT_SMTP_MESSAGE_BURST=1000000 TLSRPT_SMTP_COMMAND_TIMEOUT=2 TLSRPT_SMTP_RECIPIENTS_PER_MESSAGE=3 TLSRPT_SMTP_HOSTNAME=mx.test TLSRPT_SMTP_MAX_SESSIONS_PER_CLIENT=4 \
TLSRPT_SMTP_TLS_CERT="$tmp/cert.pem" TLSRPT_SMTP_TLS_KEY="$tmp/key.pem" \
  "$tlsrpt" serve --database-url "$PG_URL" --http-listen "" --smtp-listen "127.0.0.1:$port" --smtp-listen "[::1]:$port" \
  --smtp-recipients "tls@example.net,@reports.example.org" --limit message_size=100K >"$tmp/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 300); do grep -q "listening on \[::1\]" "$tmp/serve.log" && break; sleep 0.1; done  # up to 30 s: a sanitizer build under load starts slowly
check "serve started" 1 "$(grep -c "listening on 127.0.0.1:$port" "$tmp/serve.log")"

# 1. swaks delivers every report email byte for byte, alternating plain and STARTTLS, IPv4 and IPv6.
emails=$(ls tests/fixtures/corpus/*.eml tests/fixtures/quirks/*.eml tests/fixtures/messages/*.eml)
[ -d ../shared/corpus ] && emails="$emails $(ls ../shared/corpus/*.eml)"
n=0 ok=0
for f in $emails; do
  n=$((n + 1))
  extra=""; server="127.0.0.1"
  [ $((n % 2)) = 0 ] && extra="--tls --tls-verify --tls-ca-path $tmp/cert.pem --tls-sni localhost" && server="localhost"
  [ $((n % 3)) = 0 ] && server="::1"
  swaks --server "$server" --port "$port" --from noreply@reporter.example --to tls@example.net --data @"$f" \
    $extra >"$tmp/swaks.log" 2>&1 && grep -q "^<[-~]  250 2.0.0 Ok: stored as" "$tmp/swaks.log" && ok=$((ok + 1)) || {
    echo "swaks failed for $f:"; tail -5 "$tmp/swaks.log"; }
done
check "every email got 250 after it was stored" "$n" "$ok"
check "every email stored with transport smtp" "$n" "$(sql "SELECT count(*) FROM raw_messages WHERE transport = 'smtp'")"
# swaks sends a file's lines with CRLF and one more CRLF before the final dot; what arrived is
# stored byte for byte.
check "bytes stored exactly as sent (first one)" "$(python3 -c 'import sys,hashlib; d=open(sys.argv[1],"rb").read().replace(b"\r\n",b"\n").replace(b"\n",b"\r\n"); print(hashlib.sha256(d+b"\r\n").hexdigest())' "$(echo $emails | cut -d' ' -f1)")" \
  "$(sql "SELECT encode(sha256, 'hex') FROM raw_messages ORDER BY id LIMIT 1")"
check "reports stored" t "$(sql 'SELECT count(*) > 0 FROM reports')"
check "STARTTLS recorded in the source" t "$(sql "SELECT count(*) > 0 FROM raw_messages WHERE source->>'tls' = 'true'")"
check "not-a-report mail kept as rejected" t "$(sql "SELECT count(*) > 0 FROM raw_messages WHERE transport = 'smtp' AND outcome = 'rejected'")"

# 2. Protocol edge cases at the socket level.
python3 tests/e2e/smtp_edge.py "$port" "$tmp/cert.pem" >"$tmp/edge.log" 2>&1
check "socket-level edge cases" 0 $?
grep -v "passed, .* failed" "$tmp/edge.log"; tail -1 "$tmp/edge.log"

# 3. Outage: PostgreSQL stops while mail flows: 451 (the sender retries), nothing acknowledged;
#    PostgreSQL back: delivery resumes.
before=$(sql "SELECT count(*) FROM raw_messages")
pg_down
swaks --server 127.0.0.1 --port "$port" --from a@reporter.example --to tls@example.net \
  --data @tests/fixtures/corpus/google_2022-09-15_mox.eml >"$tmp/swaks.log" 2>&1
check "database down: 451 4.3.0" 1 "$(grep -c '^<\*\* 451 4.3.0' "$tmp/swaks.log")"
pg_up
check "database down: nothing stored" "$before" "$(sql "SELECT count(*) FROM raw_messages")"
swaks --server 127.0.0.1 --port "$port" --from a@reporter.example --to tls@example.net \
  --data @tests/fixtures/corpus/google_2022-09-15_mox.eml >"$tmp/swaks.log" 2>&1
check "database back: 250" 1 "$(grep -c '^<-  250 2.0.0 Ok: stored as' "$tmp/swaks.log")"
check "database back: stored" "$((before + 1))" "$(sql "SELECT count(*) FROM raw_messages")"

# 4. One log line per session and per message, with the session id.
check "log: message lines carry a session id" 0 "$(grep 'event=message' "$tmp/serve.log" | grep -vc 'session=[0-9a-f]\{16\}')"

kill -TERM "$serve_pid"; wait "$serve_pid"; status=$?; serve_pid=
check "SIGTERM: clean exit" 0 "$status"
[ "$status" = 0 ] || grep -vE "^smtp session" "$tmp/serve.log" | tail -40
# The counters the exporter will read, as printed at exit.
check "stats: one deferred message (the outage)" 1 "$(grep -c 'serve: smtp sessions=.* refused=1 .*timeouts=1 .*deferred=1 failed=0' "$tmp/serve.log")"
check "stats: TLS sessions counted" 1 "$(grep -o ' tls=[0-9]*' "$tmp/serve.log" | tail -1 | awk -F= '{print ($2 > 0)}')"

# 5. SIGKILL under load: every message that got 250 is in the database.
pg_newdb killed
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null
TLSRPT_SMTP_MESSAGE_BURST=1000000 \
  "$tlsrpt" serve --database-url "$PG_URL" --http-listen "" --smtp-listen "127.0.0.1:$port" --smtp-recipients tls@example.net >"$tmp/serve2.log" 2>&1 &
serve_pid=$!
for _ in $(seq 300); do grep -q "listening" "$tmp/serve2.log" && break; sleep 0.1; done
python3 tests/e2e/smtp_load.py "$port" 8 100000 "$tmp/acked" >"$tmp/load.log" &
load_pid=$!
# Killed mid-flow: once more than 50 messages were acknowledged (at most 30 s; a loaded machine
# is slower to get there, the property is the same).
for _ in $(seq 300); do [ "$(grep -c . "$tmp/acked" 2>/dev/null)" -gt 50 ] && break; sleep 0.1; done
kill -KILL "$serve_pid"; wait "$serve_pid" 2>/dev/null; serve_pid=
wait "$load_pid"
acked=$(grep -c . "$tmp/acked")
check "SIGKILL: messages were acknowledged before the kill" 1 "$([ "$acked" -gt 50 ] && echo 1)"
psql -qAt "$PG_URL" -c "SELECT encode(sha256, 'hex') FROM raw_messages" | sort >"$tmp/stored"
check "SIGKILL: every acknowledged message is stored" 0 "$(sort "$tmp/acked" | grep . | comm -23 - "$tmp/stored" | wc -l)"
echo "SIGKILL under load: $acked acknowledged, $(grep -c . "$tmp/stored") stored"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
