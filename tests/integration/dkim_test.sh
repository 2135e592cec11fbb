#!/usr/bin/env bash
# DKIM verification (server/dkim, `tlsrpt dkim`) against keys published by a real authoritative
# DNS server (nsd on loopback, one zone DNSSEC-signed) and messages signed here with test keys
# made now (python3-dkim): pass (relaxed, simple), tampered body and header, expiry judged at
# arrival, l=, s=tlsrpt, key sizes, alignment exact, organisational and none, unsigned, two
# signatures, missing and revoked keys, a server that refuses (temperror) and one that never
# answers (temperror within the deadline), and the real corpus mails (keys not reachable here).
# Usage: tests/integration/dkim_test.sh path/to/tlsrpt
set -u
tlsrpt=$(realpath "$1")
root=$PWD
passed=0 failed=0
check() { if [ "$2" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected [$2] got [$3]"; return 1; fi; }
command -v nsd >/dev/null && command -v ldns-signzone >/dev/null || { echo "SKIP: nsd or ldnsutils missing"; exit 77; }
/usr/bin/python3 -c "import dkim" 2>/dev/null || { echo "SKIP: python3-dkim missing"; exit 77; }
source tests/integration/nsd.sh
tmp=$(mktemp -d)
silent_pid=
trap 'kill $nsd_pid $silent_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp"

# Keys, and their records split into TXT strings of at most 200 characters.
for k in k2048 k1024 k512 ktlsrpt kcorp kother; do
  bits=2048; [ $k = k1024 ] && bits=1024; [ $k = k512 ] && bits=512
  openssl genrsa -traditional -out $k.pem $bits 2>/dev/null
done
record() {  # KEY [TAGS]: the zone-file text of a key record
  local p; p=$(openssl rsa -in "$1.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
  printf '"v=DKIM1; k=rsa; %sp="' "${2:-}"
  while [ -n "$p" ]; do printf ' "%s"' "${p:0:200}"; p=${p:200}; done
}
port=$((20000 + RANDOM % 12000))
cat >reporter.example.zone <<ZONE
\$ORIGIN reporter.example.
\$TTL 300
@ SOA ns.reporter.example. admin.reporter.example. 1 3600 600 86400 300
@ NS ns.reporter.example.
ns A 127.0.0.1
s2048._domainkey TXT $(record k2048)
s1024._domainkey TXT $(record k1024)
s512._domainkey TXT $(record k512)
tlsrpt._domainkey TXT $(record ktlsrpt "s=tlsrpt;")
notemail._domainkey TXT $(record ktlsrpt "s=other;")
revoked._domainkey TXT "v=DKIM1; k=rsa; p="
ZONE
cat >mail.example.zone <<ZONE
\$ORIGIN mail.example.
\$TTL 300
@ SOA ns.mail.example. admin.mail.example. 1 3600 600 86400 300
@ NS ns.mail.example.
ns A 127.0.0.1
s._domainkey.corp TXT $(record kcorp)
ZONE
cat >other.example.zone <<ZONE
\$ORIGIN other.example.
\$TTL 300
@ SOA ns.other.example. admin.other.example. 1 3600 600 86400 300
@ NS ns.other.example.
ns A 127.0.0.1
s._domainkey TXT $(record kother)
ZONE
sign_zone reporter.example reporter.example.zone || exit 1
nsd_start "$port" reporter.example=reporter.example.zone.signed mail.example=mail.example.zone other.example=other.example.zone || exit 1
export TLSRPT_DNS_SERVER="127.0.0.1:$port" TLSRPT_DNS_TRUST_ANCHOR_FILE="$tmp/anchors.ds"

# A report message from FROM (a gzip attachment, as Google sends them), CRLF line ends.
message() {
  /usr/bin/python3 - "$1" <<'PY'
import gzip, json, sys
from email.message import EmailMessage
from email.policy import SMTP
m = EmailMessage(policy=SMTP)
m["From"] = f"TLS reports <tls-reports@{sys.argv[1]}>"
m["To"] = "tlsrpt@example.net"
m["Subject"] = "Report Domain: example.net Submitter: " + sys.argv[1] + " Report-ID: <r1>"
m["Date"] = "Mon, 30 Nov 2026 10:00:00 +0000"
m["Message-ID"] = "<r1@" + sys.argv[1] + ">"
m["TLS-Report-Domain"] = "example.net"
m.set_content("This is an aggregate TLS report.")
report = {"organization-name": sys.argv[1], "date-range": {"start-datetime": "2026-11-29T00:00:00Z",
          "end-datetime": "2026-11-29T23:59:59Z"}, "contact-info": "tls@" + sys.argv[1], "report-id": "r1",
          "policies": [{"policy": {"policy-type": "no-policy-found", "policy-domain": "example.net"},
                        "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0}}]}
m.add_attachment(gzip.compress(json.dumps(report).encode(), mtime=0), maintype="application", subtype="tlsrpt+gzip",
                 filename="report.json.gz")
sys.stdout.buffer.write(m.as_bytes())
PY
}
sign() { /usr/bin/python3 "$root/tests/integration/dkim_sign.py" "$@"; }
message reporter.example >base.eml
message mail.example >mailru.eml
sign k2048.pem s2048 reporter.example <base.eml >relaxed.eml
sign k2048.pem s2048 reporter.example --simple <base.eml >simple.eml
sed 's/This is an aggregate TLS report./This is an aggregate TLS report!/' relaxed.eml >tampered-body.eml
sed 's/^ Report Domain: example.net/ Report Domain: example.org/' relaxed.eml >tampered-header.eml  # Subject is folded
cmp -s relaxed.eml tampered-header.eml && echo "FAIL the header was not changed"  # the test changes what it means to
now=$(date +%s)
sign k2048.pem s2048 reporter.example --time $((now - 10 * 86400)) --expire $((now - 3 * 86400)) <base.eml >expired.eml
sign k2048.pem s2048 reporter.example --length <base.eml >length.eml
sign ktlsrpt.pem tlsrpt reporter.example <base.eml >tlsrpt-key.eml
sign ktlsrpt.pem notemail reporter.example <base.eml >notemail-key.eml
sign k1024.pem s1024 reporter.example <base.eml >k1024.eml
sign k512.pem s512 reporter.example <base.eml >k512.eml
sign kcorp.pem s corp.mail.example <mailru.eml >organisational.eml
sign kother.pem s other.example <base.eml >unaligned.eml
sign k2048.pem nosuchkey reporter.example <base.eml >nokey.eml
sign k2048.pem revoked reporter.example <base.eml >revoked.eml
sign k2048.pem s2048 reporter.example <base.eml | sign k2048.pem nosuchkey reporter.example >two.eml
sign k2048.pem s2048 elsewhere.example <base.eml >refused.eml
cp base.eml unsigned.eml

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
check "a revoked key" "permerror key-revoked:exact:null" "$(verdict revoked.eml)"
check "a zone the server refuses (SERVFAIL): temperror" "temperror key-lookup-temperror:none:null" "$(verdict refused.eml)"
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
sign k2048.pem a reporter.example <base.eml | sign k2048.pem b reporter.example | sign k2048.pem s2048 reporter.example >three.eml
start=$(date +%s%N)
out=$(TLSRPT_DNS_SERVER="127.0.0.1:$((port + 1))" TLSRPT_DKIM_TIMEOUT=1 verdict three.eml)
elapsed=$((($(date +%s%N) - start) / 1000000))
check "a key lookup that times out: temperror" "temperror key-lookup-temperror:exact:null key-lookup-temperror:exact:null key-lookup-temperror:exact:null" "$out"
check "within the deadline (1 s + 1 s)" 1 "$([ "$elapsed" -lt 2000 ] && echo 1 || echo 0)"

# Too many signatures: only dkim.max_signatures are verified.
check "signatures beyond dkim.max_signatures are not verified" "pass ok:exact:2048 too-many-signatures:exact:null too-many-signatures:exact:null" \
  "$(TLSRPT_DKIM_MAX_SIGNATURES=1 verdict three.eml)"

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

echo "dkim: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
