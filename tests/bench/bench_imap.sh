#!/usr/bin/env bash
# Draining a mailbox: COUNT typical report emails in a Dovecot INBOX, stored by `tlsrpt serve`'s
# IMAP poller into PostgreSQL with durable settings (fsync and synchronous_commit on) and moved
# to tlsrpt/processed. Baseline in the same run: fetching the same messages with Python's
# imaplib (one UID FETCH for all, nothing stored) - the IMAP floor. Goal (issue 5): >= 500/s.
# Usage: tests/bench/bench_imap.sh [build/tlsrpt] [COUNT (10000)]
set -euo pipefail
# A benchmark run as root: serve stays root (it gives up root only for a deployment, server.user).
export TLSRPT_SERVER_ALLOW_ROOT=${TLSRPT_SERVER_ALLOW_ROOT:-true}
tlsrpt=$(realpath "${1:-build/tlsrpt}")
count=${2:-10000}
cd "$(dirname "$0")/../.."
PG_FSYNC=on PG_SYNC=on
. tests/integration/pg.sh
. tests/e2e/dovecot.sh
tmp=$(mktemp -d)
trap 'set +e; kill $server 2>/dev/null; wait 2>/dev/null; [ -n "${BENCH_LOG:-}" ] && cp "$tmp/serve.log" "$BENCH_LOG"; dovecot_stop; pg_stop; rm -rf "$tmp"' EXIT
server=
pg_start
dovecot_start "$tmp/dovecot"
dovecot_user bench pw-bench
# The messages go straight into the Maildir (much faster than APPEND); Dovecot indexes them.
mkdir -p "$DOVECOT_DIR/mail/bench/"{cur,new,tmp}
PYTHONPATH=tests/bench python3 - "$DOVECOT_DIR/mail/bench/new" "$count" <<'PY'
import sys
from synth import email, report
out, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    msg = email(i, report(f"imap-{i}", f"customer{i % 500}.example", 2, ok=100 + i))
    with open(f"{out}/{1700000000 + i}.M{i}P1.bench", "w") as f:
        f.write(msg.split("\r\n", 1)[1])  # without the mbox "From " line
PY
chown -R 65534:65534 "$DOVECOT_DIR/mail/bench"
python3 - "$IMAP_PORT" "$count" "$tmp/baseline" <<'PY'
import imaplib, sys, time
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1])); m.login("bench", "pw-bench")
assert int(m.select("INBOX")[1][0]) == int(sys.argv[2])  # also builds Dovecot's index
t0 = time.time()
typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
n = sum(1 for d in data if isinstance(d, tuple))
t = time.time() - t0
print(f"baseline: imaplib fetched {n} messages in {t:.2f} s = {n / t:.0f} messages/s (nothing stored)")
open(sys.argv[3], "w").write(f"{n / t:.1f}")
PY
cat >"$tmp/tlsrpt.toml" <<CONF
[[imap]]
name = "bench"
host = "127.0.0.1"
port = $IMAP_PORT
tls = "plain"
username = "bench"
password = "pw-bench"
poll_interval = 60
CONF
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null
t0=$(date +%s.%N)
"$tlsrpt" --config "$tmp/tlsrpt.toml" serve --database-url "$PG_URL" --no-migrate --smtp-listen "" --http-listen "" \
  >"$tmp/serve.log" 2>&1 &
server=$!
until [ "$(psql -qAt "$PG_URL" -c 'SELECT count(*) FROM reports')" -ge "$count" ]; do
  kill -0 $server 2>/dev/null || { cat "$tmp/serve.log"; exit 1; }
  sleep 0.2
done
# ... and every message filed (moved after its batch committed).
inbox() { python3 -c "
import imaplib; m = imaplib.IMAP4('127.0.0.1', $IMAP_PORT); m.login('bench', 'pw-bench')
print(m.select('INBOX', readonly=True)[1][0].decode(), m.select('\"tlsrpt/processed\"', readonly=True)[1][0].decode())"; }
until [ "$(inbox | cut -d' ' -f1)" = 0 ]; do sleep 0.2; done
t1=$(date +%s.%N)
left=$(inbox)
echo "PostgreSQL fsync=$(psql -qAt "$PG_ADMIN" -c 'SHOW fsync') synchronous_commit=$(psql -qAt "$PG_ADMIN" -c 'SHOW synchronous_commit')"
awk -v n="$count" -v a="$t0" -v b="$t1" -v left="$left" -v base="$(cat "$tmp/baseline")" 'BEGIN {
  split(left, f, " "); rate = n / (b - a); met = (rate >= 500) ? "met" : "NOT met";
  printf "tlsrpt: %d messages from IMAP stored and filed in %.2f s = %.0f messages/s (INBOX %s left, %s in tlsrpt/processed)\n",
    n, b - a, rate, f[1], f[2];
  printf "ratio to the imaplib fetch floor: %.3f; goal >= 500 messages/s: %s\n", rate / base, met }'
