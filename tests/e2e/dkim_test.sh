#!/usr/bin/env bash
# DKIM verification (server/dkim, `tlsrpt dkim`) against keys published by a real authoritative
# DNS server (nsd on loopback, one zone DNSSEC-signed) and messages signed here with test keys
# made now (python3-dkim): pass (relaxed, simple), tampered body and header, expiry judged at
# arrival, l=, s=tlsrpt, key sizes, alignment exact, organisational and none, unsigned, two
# signatures, missing and revoked keys, a server that refuses (temperror) and one that never
# answers (temperror within the deadline), and the real corpus mails (keys not reachable here).
# Usage: tests/e2e/dkim_test.sh path/to/tlsrpt
set -u
tlsrpt=$(realpath "$1")
root=$PWD
passed=0 failed=0
check() { if [ "$2" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected [$2] got [$3]"; return 1; fi; }
command -v nsd >/dev/null && command -v ldns-signzone >/dev/null || { echo "SKIP: nsd or ldnsutils missing"; exit 77; }
/usr/bin/python3 -c "import dkim" 2>/dev/null || { echo "SKIP: python3-dkim missing"; exit 77; }
source tests/integration/nsd.sh
source tests/integration/ports.sh
source tests/e2e/dkim_keys.sh
tmp=$(mktemp -d)
silent_pid=
trap 'kill $nsd_pid $silent_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp"

# Keys (made now) and their records.
for k in k2048 k1024 k512 ktlsrpt kcorp kother; do
  bits=2048; [ $k = k1024 ] && bits=1024; [ $k = k512 ] && bits=512
  dkim_key $k $bits
done
# A real 8192-bit key: its record (1,434 characters) is over libopendkim's 1,024-byte buffer.
dkim_key k8192 8192
# A 2048-bit key whose record is long only because of its notes (n=): cut to what libopendkim reads.
notes_record() {
  printf '"v=DKIM1; k=rsa; n="'
  for _ in 1 2 3 4 5; do printf ' "%s"' "$(printf 'n%.0s' $(seq 200))"; done
  dkim_record "$1" | sed 's/^"v=DKIM1; k=rsa; /" ; /'
}
test_ports dkim 7 || exit 1; port=$PORT
{ zone_head reporter.example; cat; } >reporter.example.zone <<ZONE
s2048._domainkey TXT $(dkim_record k2048)
s1024._domainkey TXT $(dkim_record k1024)
s512._domainkey TXT $(dkim_record k512)
tlsrpt._domainkey TXT $(dkim_record ktlsrpt "s=tlsrpt;")
notemail._domainkey TXT $(dkim_record ktlsrpt "s=other;")
revoked._domainkey TXT "v=DKIM1; k=rsa; p="
s8192._domainkey TXT $(dkim_record k8192)
notes._domainkey TXT $(notes_record k2048)
fresh._domainkey TXT $(dkim_record k2048)
ZONE
{ zone_head mail.example; cat; } >mail.example.zone <<ZONE
s._domainkey.corp TXT $(dkim_record kcorp)
ZONE
{ zone_head other.example; cat; } >other.example.zone <<ZONE
s._domainkey TXT $(dkim_record kother)
ZONE
sign_zone reporter.example reporter.example.zone || exit 1
nsd_start "$port" reporter.example=reporter.example.zone.signed mail.example=mail.example.zone other.example=other.example.zone || exit 1
export TLSRPT_DNS_SERVER="127.0.0.1:$port" TLSRPT_DNS_TRUST_ANCHOR_FILE="$tmp/anchors.ds"

# A report message from FROM with report-id ID (a gzip attachment, as Google sends them), CRLF
# line ends; TYPE: a failure-detail result type (certificate-expired) or none.
message() {
  /usr/bin/python3 - "$1" "${2:-r1}" "${3:-}" <<'PY'
import gzip, json, sys
from email.message import EmailMessage
from email.policy import SMTP
m = EmailMessage(policy=SMTP)
m["From"] = f"TLS reports <tls-reports@{sys.argv[1]}>"
m["To"] = "tlsrpt@example.net"
m["Subject"] = "Report Domain: example.net Submitter: " + sys.argv[1] + " Report-ID: <" + sys.argv[2] + ">"
m["Date"] = "Mon, 30 Nov 2026 10:00:00 +0000"
m["Message-ID"] = "<" + sys.argv[2] + "@" + sys.argv[1] + ">"
m["TLS-Report-Domain"] = "example.net"
m.set_content("This is an aggregate TLS report.")
failures = [{"result-type": sys.argv[3], "sending-mta-ip": "192.0.2.1", "receiving-mx-hostname": "mx.example.net",
             "failed-session-count": 7}] if sys.argv[3] else []
report = {"organization-name": sys.argv[1], "date-range": {"start-datetime": "2026-11-29T00:00:00Z",
          "end-datetime": "2026-11-29T23:59:59Z"}, "contact-info": "tls@" + sys.argv[1], "report-id": sys.argv[2],
          "policies": [{"policy": {"policy-type": "no-policy-found", "policy-domain": "example.net"},
                        "summary": {"total-successful-session-count": 1, "total-failure-session-count": len(failures) * 7},
                        "failure-details": failures}]}
m.add_attachment(gzip.compress(json.dumps(report).encode(), mtime=0), maintype="application", subtype="tlsrpt+gzip",
                 filename="report.json.gz")
sys.stdout.buffer.write(m.as_bytes())
PY
}
sign() { dkim_sign "$@"; }
# new NAME FROM [TYPE]: a fresh message (report-id NAME) on stdout
new() { message "$2" "$1" "${3:-}"; }
new relaxed reporter.example | sign k2048.pem s2048 reporter.example >relaxed.eml
new simple reporter.example | sign k2048.pem s2048 reporter.example --simple >simple.eml
sed 's/This is an aggregate TLS report./This is an aggregate TLS report!/' relaxed.eml >tampered-body.eml
sed 's/^ Report Domain: example.net/ Report Domain: example.org/' relaxed.eml >tampered-header.eml  # Subject is folded
cmp -s relaxed.eml tampered-header.eml && echo "FAIL the header was not changed"  # the test changes what it means to
now=$(date +%s)
new expired reporter.example | sign k2048.pem s2048 reporter.example --time $((now - 10 * 86400)) --expire $((now - 3 * 86400)) >expired.eml
new length reporter.example | sign k2048.pem s2048 reporter.example --length >length.eml
new tlsrpt-key reporter.example | sign ktlsrpt.pem tlsrpt reporter.example >tlsrpt-key.eml
new notemail-key reporter.example | sign ktlsrpt.pem notemail reporter.example >notemail-key.eml
new k1024 reporter.example | sign k1024.pem s1024 reporter.example >k1024.eml
new k512 reporter.example | sign k512.pem s512 reporter.example >k512.eml
new organisational mail.example | sign kcorp.pem s corp.mail.example >organisational.eml
new unaligned reporter.example | sign kother.pem s other.example >unaligned.eml
new nokey reporter.example | sign k2048.pem nosuchkey reporter.example >nokey.eml
new revoked reporter.example | sign k2048.pem revoked reporter.example >revoked.eml
new two reporter.example | sign k2048.pem s2048 reporter.example | sign k2048.pem nosuchkey reporter.example >two.eml
new refused reporter.example | sign k2048.pem s2048 elsewhere.example >refused.eml
new unsigned reporter.example >unsigned.eml
new big-key reporter.example | sign k8192.pem s8192 reporter.example >big-key.eml
new big-and-good reporter.example | sign k2048.pem s2048 reporter.example | sign k8192.pem s8192 reporter.example >big-and-good.eml
new notes reporter.example | sign k2048.pem notes reporter.example >notes.eml

verdict() {  # FILE [ARGS]: "result error:alignment:bits ..." (ok for a signature that authenticates)
  "$tlsrpt" dkim --json "$@" | /usr/bin/python3 -c "
import json, sys
v = json.loads(sys.stdin.readline())
print(v['result'], *[f\"{s['error'] or 'ok'}:{s['alignment']}:{json.dumps(s['key_bits'])}\" for s in v['signatures']])"
}
check "pass, relaxed canonicalisation, DNSSEC-signed key" "pass ok:exact:2048" "$(verdict relaxed.eml)"
check "the key's answer was DNSSEC-secure" "True" "$("$tlsrpt" dkim --json relaxed.eml | /usr/bin/python3 -c "
import json, sys; print(json.load(sys.stdin)['signatures'][0]['key_secure'])")"
check "pass, simple canonicalisation" "pass ok:exact:2048" "$(verdict simple.eml)"
check "tampered body" "fail body-hash-mismatch:exact:2048" "$(verdict tampered-body.eml)"
check "tampered signed header" "fail bad-signature:exact:2048" "$(verdict tampered-header.eml)"
check "expired 3 days ago, arriving in time (5 days ago)" "pass ok:exact:2048" \
  "$(verdict expired.eml --arrival $((now - 5 * 86400)))"
check "expired 3 days ago, arriving now" "fail expired:exact:2048" "$(verdict expired.eml)"
{ printf 'Received: from mx.reporter.example by mx.example.net; %s\r\n' "$(date -u -R -d @$((now - 4 * 86400)))"; cat expired.eml; } >received.eml
check "arrival from the topmost Received header (4 days ago)" "pass ok:exact:2048" "$(verdict received.eml)"
check "l= tag" "fail body-length-limit:exact:2048" "$(verdict length.eml)"
check "key restricted to s=tlsrpt: accepted" "pass ok:exact:2048 True" "$(verdict tlsrpt-key.eml) $("$tlsrpt" dkim --json tlsrpt-key.eml |
  /usr/bin/python3 -c "import json, sys; print(json.load(sys.stdin)['signatures'][0]['key_tlsrpt'])")"
check "key for another service" "permerror key-not-for-email:exact:null" "$(verdict notemail-key.eml)"
check "1024-bit key (as Microsoft signs)" "pass ok:exact:1024" "$(verdict k1024.eml)"
check "512-bit key" "fail key-too-small:exact:512" "$(verdict k512.eml | sed 's/:null$/:512/')"
check "d= in the From domain's organisational domain (corp.mail.example for mail.example)" \
  "pass ok:organizational:2048" "$(verdict organisational.eml)"
check "d= unrelated to the From domain" "fail not-aligned:none:2048" "$(verdict unaligned.eml)"
check "unsigned" "none" "$(verdict unsigned.eml)"
check "two signatures, one good" "pass no-key:exact:null ok:exact:2048" "$(verdict two.eml)"
check "a key that does not exist" "permerror no-key:exact:null" "$(verdict nokey.eml)"
check "an 8192-bit key (record over libopendkim's buffer): named, not verified" "permerror key-too-large:exact:null" \
  "$(verdict big-key.eml)"
check "...beside a good signature (a relay's large-key signature on top): judged on its own, the message passes" \
  "pass key-too-large:exact:null ok:exact:2048" "$(verdict big-and-good.eml)"
check "a key record long only for its notes (n=): verified" "pass ok:exact:2048" "$(verdict notes.eml)"
check "a revoked key" "permerror key-revoked:exact:null" "$(verdict revoked.eml)"
check "a zone the server refuses (SERVFAIL): temperror" "temperror key-lookup-temperror:none:null" "$(verdict refused.eml)"
# A forwarding gateway that inserts a banner (the body hash breaks) and says what it verified.
{ printf 'Authentication-Results: gw.example.net; dkim=pass (2048-bit key) header.d=reporter.example header.s=s2048\r\n'
  sed 's/This is an aggregate TLS report./[EXTERNAL] This is an aggregate TLS report./' relaxed.eml; } >banner.eml
{ printf 'Authentication-Results: gw.example.net; dkim=fail header.d=reporter.example\r\n'; cat banner.eml; } >banner-forged.eml
check "a banner breaks the body hash" "fail body-hash-mismatch:exact:2048" "$(verdict banner.eml)"
check "...unless the gateway that verified it first is trusted" "pass body-hash-mismatch:exact:2048" \
  "$(TLSRPT_DKIM_TRUSTED_AUTHSERV_IDS=gw.example.net verdict banner.eml)"
check "the gateway named as the authority" "gw.example.net reporter.example" \
  "$(TLSRPT_DKIM_TRUSTED_AUTHSERV_IDS=gw.example.net "$tlsrpt" dkim --json banner.eml | /usr/bin/python3 -c "
import json, sys; v = json.load(sys.stdin); print(v['authserv_id'], v['authserv_domain'])")"
check "an untrusted gateway's word counts for nothing" "fail body-hash-mismatch:exact:2048" \
  "$(TLSRPT_DKIM_TRUSTED_AUTHSERV_IDS=other.example.net verdict banner.eml)"
check "the topmost trusted header decides (a lower dkim=pass is ignored)" "fail body-hash-mismatch:exact:2048" \
  "$(TLSRPT_DKIM_TRUSTED_AUTHSERV_IDS=gw.example.net verdict banner-forged.eml)"
"$tlsrpt" dkim relaxed.eml >/dev/null; check "exit status 0 when every message passes" 0 $?
"$tlsrpt" dkim relaxed.eml tampered-body.eml >/dev/null; check "exit status 1 when one fails" 1 $?
"$tlsrpt" dkim refused.eml >/dev/null; check "exit status 3 on a temperror" 3 $?
check "readable output" "relaxed.eml: pass (From domain reporter.example)
  d=reporter.example s=s2048: authenticates, 2048-bit key (DNSSEC), alignment exact" "$("$tlsrpt" dkim relaxed.eml)"

# A server that never answers: temperror within dkim.timeout (1 s; 3 signatures share it).
/usr/bin/python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', $((port + 1))))
while True: s.recv(4096)" &
silent_pid=$!
sleep 0.3
new three reporter.example | sign k2048.pem a reporter.example | sign k2048.pem b reporter.example | sign k2048.pem s2048 reporter.example >three.eml
# The deadline is judged net of what the same command costs when the server answers (measured
# just before: starting the program, which under ASan on a busy machine is most of a second,
# reading the mail, the three lookups), not of a fixed allowance for it.
ms() { echo $(($(date +%s%N) / 1000000)); }
start=$(ms)
out=$(TLSRPT_DKIM_TIMEOUT=1 verdict three.eml)
baseline=$(($(ms) - start))
check "the same mail with a server that answers" "pass ok:exact:2048 no-key:exact:null no-key:exact:null" "$out"
start=$(ms)
out=$(TLSRPT_DNS_SERVER="127.0.0.1:$((port + 1))" TLSRPT_DKIM_TIMEOUT=1 verdict three.eml)
elapsed=$(($(ms) - start))
check "a key lookup that times out: temperror" "temperror key-lookup-temperror:exact:null key-lookup-temperror:exact:null key-lookup-temperror:exact:null" "$out"
echo "deadline: $elapsed ms with a silent server, $baseline ms with one that answers"
check "within the deadline (1 s, + 0.5 s over the same command with a server that answers)" 1 \
  "$([ $((elapsed - baseline)) -lt 1500 ] && echo 1 || echo 0)"

# Too many signatures: only dkim.max_signatures are verified.
check "signatures beyond dkim.max_signatures are not verified" "pass ok:exact:2048 too-many-signatures:exact:null too-many-signatures:exact:null" \
  "$(TLSRPT_DKIM_MAX_SIGNATURES=1 verdict three.eml)"

# One domain's silence must not take DKIM down for the others (hostile clients, round 2): through a
# forwarder that relays everything to nsd but never answers for stall.example, eight mails whose
# five signatures each name selectors under stall.example, then honest signed reports.
stall_port=$((port + 6))
/usr/bin/python3 "$root/tests/e2e/stalling_forwarder.py" "$stall_port" "$port" stall "$tmp/stall.stats" \
  >"$tmp/stall.log" 2>&1 &
silent_pid="$silent_pid $!"
for _ in $(seq 50); do grep -q ready "$tmp/stall.log" && break; sleep 0.1; done
for m in 1 2 3 4 5 6 7 8; do
  new "stall$m" stall.example >"stall$m.plain"
  for s in 1 2 3 4 5; do sign k2048.pem "m${m}s$s" stall.example <"stall$m.plain" >"stall$m.tmp"; mv "stall$m.tmp" "stall$m.plain"; done
  mv "stall$m.plain" "stall$m.eml"
done
# (after the stall, keys no lookup has fetched yet: each needs the forwarder again; each answer
# fits in UDP, the only transport the forwarder relays)
new honest1 reporter.example | sign k2048.pem s2048 reporter.example >honest1.eml
new honest2 reporter.example | sign k1024.pem s1024 reporter.example >honest2.eml
new honest3 reporter.example | sign ktlsrpt.pem tlsrpt reporter.example >honest3.eml
new honest4 reporter.example | sign k2048.pem fresh reporter.example >honest4.eml
new honest5 mail.example | sign kcorp.pem s corp.mail.example >honest5.eml
new honest6 other.example | sign kother.pem s other.example >honest6.eml
start=$(ms)
stall_out=$(TLSRPT_DNS_SERVER="127.0.0.1:$stall_port" TLSRPT_DNS_TIMEOUT=1s TLSRPT_DKIM_TIMEOUT=2 \
  "$tlsrpt" dkim --json honest1.eml stall{1,2,3,4,5,6,7,8}.eml honest{2,3,4,5,6}.eml | /usr/bin/python3 -c "
import json, sys
print(' '.join(json.loads(l)['result'] for l in sys.stdin))")
echo "stall: $(($(ms) - start)) ms for 14 mails; forwarder dropped and relayed: $(cat "$tmp/stall.stats")"
check "a silent domain's mails are temperror, and honest mail before and after them passes" \
  "pass temperror temperror temperror temperror temperror temperror temperror temperror pass pass pass pass pass" "$stall_out"

# The real corpus mails: their keys cannot be fetched here (the server refuses those zones).
corpus=("$root"/tests/fixtures/corpus/*.eml)
[ -d "$root/../shared/corpus" ] && corpus+=("$root"/../shared/corpus/*.eml)
results=$("$tlsrpt" dkim --json "${corpus[@]}" | /usr/bin/python3 -c "
import json, sys
print(' '.join(sorted({json.loads(l)['result'] for l in sys.stdin})))")
status=$?
check "corpus mails: none crash" 0 "$status"
check "corpus mails: temperror, none or permerror only, never pass" "" \
  "$(echo "$results" | tr ' ' '\n' | grep -vE '^(temperror|none|permerror|fail)$')"
echo "corpus: ${#corpus[@]} mails, results: $results"

# --- Intake: CLI ingest and serve (SMTP) with a real PostgreSQL, in each mode ------------------
cd "$root"
source tests/integration/pg.sh
pg_start >/dev/null || exit 1
trap 'kill $nsd_pid $silent_pid $serve_pid 2>/dev/null; wait 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
serve_pid=
sql() { psql -qAt "$PG_URL" -c "$1"; }
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null
stored() {  # REPORT-ID: "outcome reason dkim domain selector bits alignment" of the raw message that carried it
  sql "SELECT concat_ws(' ', m.outcome, coalesce(m.reason, '-'), coalesce(m.dkim, '-'), m.dkim_detail->>'domain',
       m.dkim_detail->>'selector', m.dkim_detail->>'key_bits', m.dkim_detail->>'alignment') FROM raw_messages m
       WHERE m.source->>'path' LIKE '%/$1.eml' OR m.source->>'path' LIKE '%/$1' ORDER BY m.id DESC LIMIT 1"
}
# record (the default): every report stored, with its result.
TLSRPT_DKIM_MODE=record "$tlsrpt" ingest --database-url "$PG_URL" --no-progress "$tmp"/{relaxed,tampered-body,unsigned,refused,organisational}.eml >/dev/null 2>&1
check "ingest, record: a pass" "stored - pass reporter.example s2048 2048 exact" "$(stored relaxed)"
check "ingest, record: a tampered copy (a duplicate report), kept with its result" "duplicate - fail reporter.example s2048 2048 exact" "$(stored tampered-body)"
check "ingest, record: unsigned" "stored - none" "$(stored unsigned)"
check "ingest, record: temperror" "stored - temperror elsewhere.example s2048 none" "$(stored refused)"
check "ingest, record: organisational alignment" "stored - pass corp.mail.example s 2048 organizational" "$(stored organisational)"
check "ingest, record: the failing signature's error kept" "body-hash-mismatch" \
  "$(sql "SELECT dkim_detail->'signatures'->0->>'error' FROM raw_messages WHERE source->>'path' LIKE '%/tampered-body.eml'")"
# require: kept as rejected with the reason; nothing lost.
TLSRPT_DKIM_MODE=require "$tlsrpt" ingest --database-url "$PG_URL" --no-progress "$tmp"/{simple,unaligned,nokey,revoked}.eml >/dev/null 2>"$tmp/require.err"
check "ingest, require: a pass is stored" "stored - pass reporter.example s2048 2048 exact" "$(stored simple)"
check "ingest, require: unaligned, rejected with the reason" "rejected dkim-not-authenticated fail other.example s 2048 none" "$(stored unaligned)"
check "ingest, require: the reason on stderr" 1 "$(grep -c "unaligned.eml: rejected: dkim-not-authenticated: DKIM fail (d='other.example': not-aligned)" "$tmp/require.err")"
check "ingest, require: no key" "rejected dkim-not-authenticated permerror" "$(stored nokey | cut -d' ' -f1-3)"
check "ingest, require: the rejected bytes are kept" "$(wc -c <"$tmp/unaligned.eml")" \
  "$(sql "SELECT length(body) FROM raw_messages WHERE source->>'path' LIKE '%/unaligned.eml'")"
new rtemp reporter.example | sign "$tmp/k2048.pem" s2048 elsewhere.example >"$tmp/rtemp.eml"
TLSRPT_DKIM_MODE=require "$tlsrpt" ingest --database-url "$PG_URL" --no-progress "$tmp/rtemp.eml" >/dev/null 2>&1
check "ingest, require: temperror kept as rejected (dkim-temperror)" "rejected dkim-temperror temperror" "$(stored rtemp | cut -d' ' -f1-3)"
check "reports stored only from what require let through" 0 \
  "$(sql "SELECT count(*) FROM reports WHERE report_id IN ('unaligned', 'nokey', 'revoked', 'rtemp')")"
# A bare report file on the command line is the operator's own input: not verified.
/usr/bin/python3 -c "
import json; print(json.dumps({'organization-name': 'x', 'date-range': {'start-datetime': '2026-11-29T00:00:00Z',
  'end-datetime': '2026-11-29T23:59:59Z'}, 'contact-info': 'x', 'report-id': 'bare', 'policies': [{'policy':
  {'policy-type': 'no-policy-found', 'policy-domain': 'example.net'}, 'summary': {'total-successful-session-count': 1,
  'total-failure-session-count': 0}}]}))" >"$tmp/bare.json"
TLSRPT_DKIM_MODE=require "$tlsrpt" ingest --database-url "$PG_URL" --no-progress "$tmp/bare.json" >/dev/null 2>&1
check "ingest, require: a bare JSON file is stored, not verified" "stored - -" "$(stored bare.json)"

# The real corpus mails in record mode: none lost (every one stored, as a report, duplicate or
# rejected input), each verified one with a result.
before=$(sql "SELECT count(*) FROM raw_messages") last=$(sql "SELECT coalesce(max(id), 0) FROM raw_messages")
TLSRPT_DKIM_MODE=record TLSRPT_DKIM_TIMEOUT=2 "$tlsrpt" ingest --database-url "$PG_URL" --no-progress "${corpus[@]}" >/dev/null 2>&1
check "corpus mails, record: none lost" "${#corpus[@]}" "$(( $(sql "SELECT count(*) FROM raw_messages") - before ))"
check "corpus mails, record: every stored report's message has a result" 0 \
  "$(sql "SELECT count(*) FROM raw_messages WHERE id > $last AND outcome <> 'rejected' AND dkim IS NULL")"

# serve, SMTP: require answers 550 to a forgery (kept), 451 on a temperror (nothing kept), 250 to
# a signed report; record stores everything and counts only authenticated reports in the
# series that alerts use.
port=$((port + 2))
serve() {  # MODE: starts serve on $port
  TLSRPT_DKIM_MODE=$1 TLSRPT_SMTP_MESSAGE_BURST=1000 "$tlsrpt" serve --database-url "$PG_URL" --smtp-listen "127.0.0.1:$port" \
    --http-listen "127.0.0.1:$((port + 1))" --smtp-recipients tlsrpt@example.net >"$tmp/serve-$1.log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 300); do grep -q "smtp listening" "$tmp/serve-$1.log" && return 0; sleep 0.1; done
  echo "FAIL serve did not start: $(tail -3 "$tmp/serve-$1.log")"
}
deliver() {  # FILE: the server's reply code to the message (after 354)
  swaks --server 127.0.0.1 --port "$port" --from tls-reports@reporter.example --to tlsrpt@example.net \
    --data @"$1" 2>&1 | awk '/^<[-~*]+ +354/ { data = 1; next } data && /^<[-~*]+ +[0-9]/ { print $2; exit }'
}
serve require
new smtp-pass reporter.example | sign "$tmp/k2048.pem" s2048 reporter.example >"$tmp/smtp-pass.eml"
new smtp-forged reporter.example certificate-expired | sign "$tmp/kother.pem" s other.example >"$tmp/smtp-forged.eml"
new smtp-temp reporter.example | sign "$tmp/k2048.pem" s2048 elsewhere.example >"$tmp/smtp-temp.eml"
check "SMTP, require: a signed report: 250" 250 "$(deliver "$tmp/smtp-pass.eml")"
check "SMTP, require: a forgery: 550" 550 "$(deliver "$tmp/smtp-forged.eml")"
check "SMTP, require: the 550 names the reason" 1 "$(swaks --server 127.0.0.1 --port "$port" --from a@reporter.example \
  --to tlsrpt@example.net --data @"$tmp/smtp-forged.eml" 2>&1 | grep -c '550 5.7.20 No DKIM signature authenticates')"
check "SMTP, require: the forgery is kept as rejected" "rejected dkim-not-authenticated fail" \
  "$(sql "SELECT concat_ws(' ', outcome, reason, dkim) FROM raw_messages WHERE transport = 'smtp' AND dkim_detail->>'domain' = 'other.example' LIMIT 1")"
before=$(sql "SELECT count(*) FROM raw_messages")
check "SMTP, require: a temperror: 451" 451 "$(deliver "$tmp/smtp-temp.eml")"
check "SMTP, require: nothing kept on a 451 (the sender retries)" "$before" "$(sql "SELECT count(*) FROM raw_messages")"
# Through a real MTA: Postfix relays a signed report (stored) and a forgery (550: Postfix bounces
# it; tlsrpt kept it as rejected).
if command -v postfix >/dev/null && [ "$(id -u)" = 0 ]; then
  source tests/e2e/postfix.sh
  chmod 755 "$tmp"
  postfix_start "$tmp/postfix" $((port + 6)) "$port"
  check "postfix started" 0 $?
  trap 'kill $nsd_pid $silent_pid $serve_pid 2>/dev/null; wait 2>/dev/null; postfix_stop; pg_stop; rm -rf "$tmp"' EXIT
  new pf-pass reporter.example | sign "$tmp/k2048.pem" s2048 reporter.example >"$tmp/pf-pass.eml"
  new pf-forged reporter.example certificate-expired | sign "$tmp/kother.pem" s other.example >"$tmp/pf-forged.eml"
  for f in pf-pass pf-forged; do
    swaks --server 127.0.0.1 --port $((port + 6)) --from tls-reports@reporter.example --to tlsrpt@example.net \
      --data @"$tmp/$f.eml" >/dev/null 2>&1
  done
  for _ in $(seq 300); do grep -q "status=bounced" "$tmp/postfix/maillog" 2>/dev/null && break; sleep 0.1; done
  check "Postfix, require: the signed report stored, relayed by Postfix" "stored pass relay.test" \
    "$(sql "SELECT m.outcome || ' ' || m.dkim || ' ' || (m.source->>'helo') FROM raw_messages m JOIN reports r ON r.raw_message_id = m.id WHERE r.report_id = 'pf-pass'")"
  check "Postfix, require: the forgery refused with 550 5.7.20 (Postfix bounces it)" 1 \
    "$(grep -c 'status=bounced.*550 5.7.20' "$tmp/postfix/maillog")"
  check "Postfix, require: ...and kept as rejected" "rejected dkim-not-authenticated relay.test" \
    "$(sql "SELECT outcome || ' ' || reason || ' ' || (source->>'helo') FROM raw_messages WHERE transport = 'smtp' AND source->>'helo' = 'relay.test' AND outcome = 'rejected'")"
else
  echo "skipped: Postfix (needs root and postfix)"
fi

# The API: the result in a report's answer and in the rejected list, as documented.
api() { curl -s "http://127.0.0.1:$((port + 1))$1" >"$tmp/$2"; }
api "/api/v1/reports/$(sql "SELECT id FROM reports WHERE report_id = 'smtp-pass'")" report.json
check "API: a report's DKIM result" "pass reporter.example s2048 2048 exact" "$(/usr/bin/python3 -c "
import json; d = json.load(open('$tmp/report.json'))['raw_message']['dkim']
print(d['result'], d['domain'], d['selector'], d['key_bits'], d['alignment'])")"
check "OpenAPI: the report answer" 0 "$(python3 tests/e2e/openapi_conforms.py /api/v1/reports/{id} GET 200 "$tmp/report.json" >&2; echo $?)"
api "/api/v1/rejected?reason=dkim-not-authenticated" rejected.json
check "API: the rejected list shows the DKIM result" "fail other.example not-aligned" "$(/usr/bin/python3 -c "
import json; d = [r for r in json.load(open('$tmp/rejected.json'))['rejected'] if r['transport'] == 'smtp'][0]['dkim']
print(d['result'], d['domain'], d['signatures'][0]['error'])")"
check "OpenAPI: the rejected list" 0 "$(python3 tests/e2e/openapi_conforms.py /api/v1/rejected GET 200 "$tmp/rejected.json" >&2; echo $?)"
kill $serve_pid; wait $serve_pid 2>/dev/null
serve record
new flood-forged reporter.example certificate-expired | sign "$tmp/kother.pem" s other.example >"$tmp/flood-forged.eml"
new flood-signed reporter.example certificate-expired | sign "$tmp/k2048.pem" s2048 reporter.example >"$tmp/flood-signed.eml"
metric() { curl -s "http://127.0.0.1:$((port + 1))/metrics" | grep "^$1" | sed 's/^[^ ]* //' | paste -sd' '; }
check "SMTP, record: a forgery is stored (250)" 250 "$(deliver "$tmp/flood-forged.eml")"
check "SMTP, record: a forged certificate-expired report feeds no alert series" "" \
  "$(metric 'tlsrpt_report_sessions_total{policy_domain="example.net",policy_type="no-policy-found",result="certificate-expired"}')"
check "SMTP, record: ...and is counted as unauthenticated" 1 "$(metric 'tlsrpt_reports_unauthenticated_total{transport="smtp"}')"
check "SMTP, record: a signed one does" 250 "$(deliver "$tmp/flood-signed.eml")"
# A message whose first line is empty (no header section) and whose body is a report: libopendkim's
# dkim_chunk() aborted the process on it (found by fuzz_dkim); verified field by field now.
{ printf '\r\n'; cat "$tmp/bare.json"; } | sed 's/"bare"/"headless"/' >"$tmp/headless.eml"
check "SMTP, record: a message without a header section is stored (none)" "250 none" \
  "$(deliver "$tmp/headless.eml") $(sql "SELECT m.dkim FROM raw_messages m JOIN reports r ON r.raw_message_id = m.id WHERE r.report_id = 'headless'")"
check "SMTP, record: ...and the server still runs" 0 "$(kill -0 $serve_pid; echo $?)"
check "SMTP, record: its sessions in the alert series" 7 \
  "$(metric 'tlsrpt_report_sessions_total{policy_domain="example.net",policy_type="no-policy-found",result="certificate-expired"}')"
# The API's DKIM filter: the figures of the reports stored from messages with that result,
# against SQL over the base tables.
for r in pass fail none temperror; do
  check "API: summary?dkim=$r against SQL" "$(sql "SELECT coalesce(sum(p.total_successful_session_count), 0) || ' ' ||
    coalesce(sum(p.total_failure_session_count), 0) FROM policies p JOIN reports r ON r.id = p.report_id
    JOIN raw_messages m ON m.id = r.raw_message_id WHERE m.dkim = '$r'")" \
    "$(curl -s "http://127.0.0.1:$((port + 1))/api/v1/summary?dkim=$r" | /usr/bin/python3 -c "
import json, sys; d = json.load(sys.stdin); print(d['successful_sessions'], d['failed_sessions'])")"
done
check "API: summary?dkim=fail: the forged certificate-expired failures" "certificate-expired 7" \
  "$(curl -s "http://127.0.0.1:$((port + 1))/api/v1/summary?dkim=fail" | /usr/bin/python3 -c "
import json, sys; print(*[f\"{r['result_type']} {r['sessions']}\" for r in json.load(sys.stdin)['by_result_type']])")"
check "API: timeseries?dkim=pass (daily) against SQL" "$(sql "SELECT coalesce(sum(p.total_successful_session_count), 0)
    FROM policies p JOIN reports r ON r.id = p.report_id JOIN raw_messages m ON m.id = r.raw_message_id WHERE m.dkim = 'pass'")" \
  "$(curl -s "http://127.0.0.1:$((port + 1))/api/v1/timeseries?dkim=pass" | /usr/bin/python3 -c "
import json, sys; print(sum(p['successful_sessions'] for p in json.load(sys.stdin)['points']))")"
check "API: reports?dkim=fail" "flood-forged" "$(curl -s "http://127.0.0.1:$((port + 1))/api/v1/reports?dkim=fail" |
  /usr/bin/python3 -c "import json, sys; print(*sorted(r['report_id'] for r in json.load(sys.stdin)['reports']))" | tr ' ' '\n' | grep flood)"
check "API: an unknown dkim value is refused" 400 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((port + 1))/api/v1/summary?dkim=maybe")"
curl -s "http://127.0.0.1:$((port + 1))/api/v1/summary?dkim=pass" >"$tmp/summary.json"
python3 tests/e2e/openapi_conforms.py /api/v1/summary GET 200 "$tmp/summary.json" >"$tmp/conforms.out" 2>&1
check "OpenAPI: the summary with a DKIM filter" 0 $? || cat "$tmp/conforms.out"
check "metrics: messages by transport, result and reporter" "1 1" \
  "$(metric 'tlsrpt_dkim_messages_total{reporter="_other",result="fail",transport="smtp"}') $(metric 'tlsrpt_dkim_messages_total{reporter="_other",result="pass",transport="smtp"}')"
check "metrics: signature errors by error" 1 "$(metric 'tlsrpt_dkim_signature_errors_total{error="not-aligned"}')"
# Bounded labels: mail from many domains (and one in google.com's name) adds no reporter values
# beyond dkim.known_reporters and _other.
for d in a1.example a2.example a3.example google.com; do
  new "bound-$d" "$d" >"$tmp/bound.eml"
  deliver "$tmp/bound.eml" >/dev/null
done
check "metrics: reporter values stay within dkim.known_reporters and _other" "_other google.com" \
  "$(curl -s "http://127.0.0.1:$((port + 1))/metrics" | grep '^tlsrpt_dkim_messages_total' | sed 's/.*reporter="\([^"]*\)".*/\1/' | sort -u | paste -sd' ')"
check "metrics: key lookups (one per key, then the cache)" "2 0" \
  "$(metric 'tlsrpt_dkim_key_lookups_total ') $(metric 'tlsrpt_dkim_key_temperrors_total ')"

kill $serve_pid; wait $serve_pid 2>/dev/null; serve_pid=

# off: nothing verified, everything stored as before this feature.
serve off
new smtp-off reporter.example certificate-expired | sign "$tmp/kother.pem" s other.example >"$tmp/smtp-off.eml"
check "SMTP, off: a forgery is stored (250), not verified" "250 stored -" \
  "$(deliver "$tmp/smtp-off.eml") $(sql "SELECT m.outcome || ' ' || coalesce(m.dkim, '-') FROM raw_messages m JOIN reports r ON r.raw_message_id = m.id WHERE r.report_id = 'smtp-off'")"
check "SMTP, off: no DKIM series" "" "$(metric 'tlsrpt_dkim_messages_total')"
kill $serve_pid; wait $serve_pid 2>/dev/null; serve_pid=

# Slow key lookups do not hold the store threads (hostile clients, round 2): one address with 10
# sessions sends mail signed under domains whose servers never answer (a new organisational
# domain each time, so none is silenced), while another sends signed reports. The keys are looked
# up before a message takes a store thread: the honest sender's latency (to the 250) during the
# attack stays within twice that of a quiet run in the same test, where the same 10 sessions send
# mail whose keys answer (the same load, without the silence).
for n in $(seq 30); do
  new "slow$n" "stall$n.example" | sign "$tmp/k2048.pem" s "stall$n.example" >"$tmp/slow$n.eml"
done
for n in $(seq 12); do new "steady$n" reporter.example | sign "$tmp/k2048.pem" s2048 reporter.example >"$tmp/steady$n.eml"; done
# (20 sessions per client: a session just closed may still count when the next opens)
TLSRPT_DNS_SERVER="127.0.0.1:$stall_port" TLSRPT_DKIM_TIMEOUT=3 TLSRPT_SMTP_MAX_SESSIONS_PER_CLIENT=20 serve record
latency=$(/usr/bin/python3 - "$port" "$tmp" <<'PY'
import smtplib, statistics, sys, threading, time
port, tmp = int(sys.argv[1]), sys.argv[2]
def send(path, source):
    t0 = time.monotonic()
    with smtplib.SMTP("127.0.0.1", port, source_address=(source, 0), timeout=60) as s:
        s.sendmail("tls-reports@x.example", ["tlsrpt@example.net"], open(path, "rb").read())
    return time.monotonic() - t0
def honest(first):  # six signed reports, 0.3 s apart, while the load runs
    out = []
    for n in range(first, first + 6):
        out.append(send(f"{tmp}/steady{n}.eml", "127.0.0.2"))
        time.sleep(0.3)
    return out
def under(load):  # the honest sender's latencies while 10 sessions run `load`
    stop, sent = threading.Event(), [0]
    threads = [threading.Thread(target=load, args=(k, stop, sent)) for k in range(1, 11)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    out = honest(1 if load is control else 7)
    stop.set()
    for t in threads:
        t.join()
    return out, sent[0]
def control(k, stop, sent):  # 10 sessions at a time whose keys answer (duplicates), from another address
    while not stop.is_set():
        send(f"{tmp}/steady{k}.eml", "127.0.0.3")
        sent[0] += 1
        time.sleep(0.2)
def attack(k, stop, sent):  # mail whose keys never come, a new organisational domain each time
    for n in range(k, 31, 10):
        send(f"{tmp}/slow{n}.eml", "127.0.0.1")
        sent[0] += 1
quiet, _ = under(control)
attacked, accepted = under(attack)
print(f"{statistics.median(quiet):.3f} {statistics.median(attacked):.3f} {accepted}")
PY
)
echo "honest sender's median latency (s) under a load whose keys answer and under the slow-key attack, attack mails accepted: $latency"
check "slow keys: the honest sender's latency under attack is at most twice that under the same load whose keys answer" yes \
  "$(echo "$latency" | awk '{ print ($2 <= 2 * $1) ? "yes" : "no" }')"
check "slow keys: every attack mail accepted (250) and stored, as temperror" "30 30" \
  "$(echo "$latency" | awk '{ print $3 }') $(sql "SELECT count(*) FROM raw_messages m JOIN reports r ON r.raw_message_id = m.id WHERE r.report_id LIKE 'slow%' AND m.dkim = 'temperror'")"
kill $serve_pid; wait $serve_pid 2>/dev/null; serve_pid=

# HTTPS has no DKIM: its reports are stored with result none; with http.intake_tokens only the
# listed submitters may post, and each report records who did.
TLSRPT_DKIM_MODE=record TLSRPT_HTTP_INTAKE_TOKENS="google:0123456789abcdef0123,other:fedcba9876543210fedc" \
  "$tlsrpt" serve --database-url "$PG_URL" --smtp-listen "" --http-listen "127.0.0.1:$((port + 4))" >"$tmp/serve-https.log" 2>&1 &
serve_pid=$!
for _ in $(seq 300); do grep -q "http listening" "$tmp/serve-https.log" && break; sleep 0.1; done
post() {  # TOKEN: the status of a POST of bare.json
  curl -s -o "$tmp/post.json" -w '%{http_code}' -H "Content-Type: application/tlsrpt+json" ${1:+-H "Authorization: Bearer $1"} \
    --data-binary @"$tmp/bare-https.json" "http://127.0.0.1:$((port + 4))/tlsrpt"
}
sed 's/"report-id": "bare"/"report-id": "bare-https"/' "$tmp/bare.json" >"$tmp/bare-https.json"
check "HTTPS with intake tokens: none given, 401" 401 "$(post)"
check "HTTPS with intake tokens: an unknown one, 401" 401 "$(post 0123456789abcdef0124)"
check "HTTPS with intake tokens: a submitter's token, 201" 201 "$(post 0123456789abcdef0123)"
check "HTTPS: stored with DKIM result none and its submitter" "none google" \
  "$(sql "SELECT dkim || ' ' || (source->>'submitter') FROM raw_messages WHERE transport = 'https'")"
kill $serve_pid; wait $serve_pid 2>/dev/null; serve_pid=
TLSRPT_HTTP_INTAKE_TOKENS="google:short" "$tlsrpt" serve --database-url "$PG_URL" --smtp-listen "" \
  --http-listen "127.0.0.1:$((port + 4))" >"$tmp/serve-bad.log" 2>&1
check "http.intake_tokens: a short token is a usage error" "2 1" "$? $(grep -c "http.intake_tokens" "$tmp/serve-bad.log")"

# IMAP: Dovecot holds Google-like mail (a 7-day x=) that the poller fetches three weeks later:
# expiry is judged at its arrival (the topmost Received header), so it still passes. In require
# mode a forgery is filed into the invalid folder.
if command -v dovecot >/dev/null && [ "$(id -u)" = 0 ]; then
  source tests/e2e/dovecot.sh
  trap 'kill $nsd_pid $silent_pid $serve_pid 2>/dev/null; wait 2>/dev/null; dovecot_stop; pg_stop; rm -rf "$tmp"' EXIT
  dovecot_start "$tmp/dovecot" >/dev/null || exit 1
  dovecot_user dk pw-dk
  signed_at=$((now - 21 * 86400))
  { printf 'Received: from mx.reporter.example by mx.example.net; %s\r\n' "$(date -u -R -d @$((signed_at + 3600)))"
    new imap-late reporter.example | sign "$tmp/k2048.pem" s2048 reporter.example --time $signed_at --expire $((signed_at + 7 * 86400)); } >"$tmp/imap-late.eml"
  new imap-forged reporter.example | sign "$tmp/kother.pem" s other.example >"$tmp/imap-forged.eml"
  /usr/bin/python3 - "$IMAP_PORT" "$tmp/imap-late.eml" "$tmp/imap-forged.eml" <<'PY'
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login("dk", "pw-dk")
for f in sys.argv[2:]:
    m.append("INBOX", None, None, open(f, "rb").read())
m.logout()
PY
  printf '[[imap]]\nname = "dk"\nhost = "127.0.0.1"\nport = %s\ntls = "plain"\nusername = "dk"\npassword = "pw-dk"\nafter = "move"\npoll_interval = 1\n' \
    "$IMAP_PORT" >"$tmp/imap.toml"
  TLSRPT_DKIM_MODE=require "$tlsrpt" --config "$tmp/imap.toml" serve --database-url "$PG_URL" --smtp-listen "" \
    --http-listen "127.0.0.1:$((port + 5))" >"$tmp/serve-imap.log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 300); do [ "$(sql "SELECT count(*) FROM raw_messages WHERE transport = 'imap'")" -ge 2 ] && break; sleep 0.1; done
  check "IMAP, three weeks late: the 7-day signature judged at arrival passes" "stored pass" \
    "$(sql "SELECT outcome || ' ' || dkim FROM raw_messages WHERE transport = 'imap' AND dkim_detail->>'domain' = 'reporter.example'")"
  check "IMAP, require: a forgery kept as rejected" "rejected dkim-not-authenticated" \
    "$(sql "SELECT outcome || ' ' || reason FROM raw_messages WHERE transport = 'imap' AND dkim_detail->>'domain' = 'other.example'")"
  folder_count() {
    /usr/bin/python3 - "$IMAP_PORT" "$1" <<'PY'
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login("dk", "pw-dk")
typ, data = m.select(f'"{sys.argv[2]}"', readonly=True)
print(int(data[0]) if typ == "OK" else "none")
m.logout()
PY
  }
  for _ in $(seq 50); do [ "$(folder_count tlsrpt/invalid)" = 1 ] && break; sleep 0.1; done
  check "IMAP, require: the forgery filed into the invalid folder, the good one processed" "1 1 0" \
    "$(folder_count tlsrpt/invalid) $(folder_count tlsrpt/processed) $(folder_count INBOX)"
else
  echo "skipped: IMAP (needs root and dovecot)"
fi

echo "dkim: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
