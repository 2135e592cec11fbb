#!/usr/bin/env bash
# Giving up root (ctest e2e.privileges): `tlsrpt serve` started as root on ports below 1024 with
# server.user = nobody binds, becomes nobody before it reads anything (uid, gid, groups and
# capabilities read from /proc), creates the embedded database as that user, and receives a
# report over SMTP. As root with no user to become it refuses, unless told to stay root.
# Usage: tests/e2e/privileges_test.sh path/to/tlsrpt
set -uo pipefail
cd "$(dirname "$0")/../.."
tlsrpt=$1
[ "$(id -u)" = 0 ] || { echo "skipped: e2e.privileges needs root"; exit 77; }
tmp=$(mktemp -d)
chmod 755 "$tmp"  # the user nobody reaches its data directory in here
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
pass=0 fail=0
check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $1: expected [$2] got [$3]"; fi
}
free_low_port() {  # a free TCP port below 1024
  local p
  for _ in $(seq 50); do
    p=$((600 + RANDOM % 400))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  return 1
}
unset TLSRPT_SERVER_ALLOW_ROOT TLSRPT_DATABASE_URL
nobody_uid=$(id -u nobody) nobody_gid=$(id -g nobody)
smtp=$(free_low_port) http=$(free_low_port)

# (an intake token in the environment: a secret that must not stay readable in /proc/PID/environ)
TLSRPT_HTTP_INTAKE_TOKENS="submitter:privileges-test-secret-0123456789" \
TLSRPT_SERVER_USER=nobody TLSRPT_DKIM_MODE=off "$tlsrpt" serve --data-dir "$tmp/data" --smtp-listen "127.0.0.1:$smtp" \
  --http-listen "127.0.0.1:$http" --smtp-recipients tls@example.net >"$tmp/serve.log" 2>&1 &
pid=$!
for _ in $(seq 150); do
  (exec 3<>"/dev/tcp/127.0.0.1/$http") 2>/dev/null && break
  sleep 0.2
done
check "serve started as root listens on SMTP port $smtp and HTTP port $http (below 1024)" "220" \
  "$(exec 3<>"/dev/tcp/127.0.0.1/$smtp"; timeout 5 head -c 3 <&3)"
status=/proc/$pid/status
check "uid: nobody (real, effective, saved, fs)" "$nobody_uid $nobody_uid $nobody_uid $nobody_uid" \
  "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "$status")"
check "gid: nobody's group" "$nobody_gid $nobody_gid $nobody_gid $nobody_gid" "$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "$status")"
check "supplementary groups: nobody's only" "$(id -G nobody | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')" \
  "$(awk '/^Groups:/ { $1 = ""; print }' "$status" | tr ' ' '\n' | sed '/^$/d' | sort -n | tr '\n' ' ' | sed 's/ $//')"
check "no capability left (permitted, effective, ambient)" "0000000000000000 0000000000000000 0000000000000000" \
  "$(awk '/^CapPrm:/ { p = $2 } /^CapEff:/ { e = $2 } /^CapAmb:/ { a = $2 } END { print p, e, a }' "$status")"
check "no new privileges (setuid programs cannot regain any)" 1 "$(awk '/^NoNewPrivs:/ { print $2 }' "$status")"
# Capabilities are per thread: every thread, not only the main one, has none left.
threads=0 capable=0
for t in /proc/$pid/task/*/status; do
  threads=$((threads + 1))
  awk '/^CapPrm:/ { p = $2 } /^CapEff:/ { e = $2 } END { exit !(p == "0000000000000000" && e == "0000000000000000") }' "$t" ||
    capable=$((capable + 1))
done
check "no thread keeps a capability ($threads threads)" "0" "$capable"
check "serve runs more than one thread (the check above means something)" yes "$([ "$threads" -gt 1 ] && echo yes || echo no)"
check "the secret is gone from the environment" 0 "$(tr '\0' '\n' <"/proc/$pid/environ" | grep -c '^TLSRPT_HTTP_INTAKE_TOKENS')"
if [ -z "${TLSRPT_SANITIZED:-}" ]; then
  check "not dumpable: another process of the same user cannot read its environment" refused \
    "$(runuser -u nobody -- cat "/proc/$pid/environ" >/dev/null 2>&1 && echo read || echo refused)"
else
  echo "skipped (a ${TLSRPT_SANITIZED} sanitizer build stays dumpable): not dumpable"
fi
check "the data directory belongs to nobody" "nobody" "$(stat -c %U "$tmp/data")"
check "the embedded database belongs to nobody" "nobody" "$(stat -c %U "$tmp/data/postgres")"
pg_users=$(ps -o user= -p "$(pgrep -d, -f "$tmp/data/postgres")" 2>/dev/null | sort -u | tr '\n' ' ')
check "the embedded PostgreSQL runs as nobody" "nobody " "$pg_users"
check "serve says whom it runs as" yes "$(grep -q "serve: running as nobody (uid $nobody_uid" "$tmp/serve.log" && echo yes || echo no)"
swaks --server "127.0.0.1:$smtp" --from r@reporter.example --to tls@example.net \
  --data "$(sed 's/\r$//' tests/fixtures/messages/8bit-json.eml)" >"$tmp/swaks.log" 2>&1
check "a report over SMTP is stored (250)" yes "$(grep -q '<-  250 2.0.0 Ok: stored as' "$tmp/swaks.log" && echo yes || echo no)"
check "and is in the database" 1 \
  "$(curl -s "http://127.0.0.1:$http/api/v1/reports" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["reports"]))')"
kill -TERM "$pid"
wait "$pid"
check "stops cleanly on SIGTERM" 0 "$?"
pid=
check "the embedded PostgreSQL stopped with it" "" "$(pgrep -f "$tmp/data/postgres")"

# As root with no user to become: refused, unless told to stay root. (Each would otherwise start:
# a listener and its recipients are given.)
listen=(--smtp-listen "127.0.0.1:$smtp" --http-listen "" --smtp-recipients tls@example.net)
if getent passwd tlsrpt >/dev/null; then
  echo "skipped: a user tlsrpt exists here, so serve would become it (the refusal is not tested)"
else
  "$tlsrpt" serve --data-dir "$tmp/data2" "${listen[@]}" >"$tmp/refused.log" 2>&1
  check "as root without a user to become: exit 2" 2 "$?"
  check "and says what to set" yes "$(grep -q 'server.user' "$tmp/refused.log" && echo yes || echo no)"
  check "nothing was created" no "$([ -e "$tmp/data2" ] && echo yes || echo no)"
fi
TLSRPT_SERVER_USER=root "$tlsrpt" serve --data-dir "$tmp/data2" "${listen[@]}" >"$tmp/root.log" 2>&1
check "server.user = root is refused" 2 "$?"
TLSRPT_SERVER_USER=no-such-user-here "$tlsrpt" serve --data-dir "$tmp/data2" "${listen[@]}" >"$tmp/nouser.log" 2>&1
check "an unknown server.user is refused, naming it" "2 yes" "$? $(grep -q 'no-such-user-here' "$tmp/nouser.log" && echo yes || echo no)"
mkdir -p "$tmp/other" && chown "$(id -u daemon):$(id -g daemon)" "$tmp/other"
TLSRPT_SERVER_USER=nobody "$tlsrpt" serve --data-dir "$tmp/other" "${listen[@]}" >"$tmp/other.log" 2>&1
check "a data directory of another user is refused, saying so" "2 yes" \
  "$? $(grep -q 'belongs to another user' "$tmp/other.log" && echo yes || echo no)"
"$tlsrpt" serve --allow-root --data-dir "$tmp/data3" "${listen[@]}" >"$tmp/allowed.log" 2>&1 &
pid=$!
for _ in $(seq 150); do grep -q 'smtp listening' "$tmp/allowed.log" && break; sleep 0.2; done
check "--allow-root: stays root, saying so" "0 yes" \
  "$(awk '/^Uid:/ { print $3 }' "/proc/$pid/status") $(grep -q 'running as root (server.allow_root)' "$tmp/allowed.log" && echo yes || echo no)"
# Root staying root with the embedded cluster (the quick start from a clone, ./scripts/run.sh):
# the cluster is postgres's, and the store threads' connections reach it: a report is stored
# (250, not 451), and the cluster is stopped when serve stops.
check "--allow-root, embedded cluster: a report over SMTP is stored (250)" 250 "$(python3 - "$smtp" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.ehlo("root.example")
code, _ = s.docmd("MAIL FROM:<noreply@reporter.example>")
s.docmd("RCPT TO:<tls@example.net>")
body = ('{"organization-name":"Root","date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":'
        '"2026-03-01T23:59:59Z"},"contact-info":"a@b.example","report-id":"root-1","policies":[{"policy":'
        '{"policy-type":"no-policy-found","policy-domain":"example.net"},"summary":'
        '{"total-successful-session-count":1,"total-failure-session-count":0}}]}')
code, _ = s.data("From: noreply@reporter.example\r\nSubject: Report Domain: example.net\r\n"
                 "Content-Type: application/tlsrpt+json\r\n\r\n" + body + "\r\n")
print(code)
PY
)"
kill -TERM "$pid"; wait "$pid"; pid=
check "--allow-root, embedded cluster: stopped with serve" no \
  "$([ -e "$tmp/data3/postgres/postmaster.pid" ] && echo yes || echo no)"

TLSRPT_SERVER_USER=nobody "$tlsrpt" serve --allow-root --data-dir "$tmp/data4" "${listen[@]}" >"$tmp/named.log" 2>&1 &
pid=$!
for _ in $(seq 150); do grep -q 'smtp listening' "$tmp/named.log" && break; sleep 0.2; done
check "--allow-root with server.user set: becomes that user all the same" "$nobody_uid" \
  "$(awk '/^Uid:/ { print $3 }' "/proc/$pid/status")"
kill -TERM "$pid"; wait "$pid"; pid=

echo "e2e.privileges: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
