#!/usr/bin/env bash
# `tlsrpt check` against a small world on loopback: nsd serving a DNSSEC-signed zone (signed now)
# and an unsigned one, HTTPS policy hosts with a test CA, and MX hosts that are tlsrpt's own SMTP
# listeners with STARTTLS certificates made for each case: good, expired, expiring, wrong name,
# self-signed, none, RSA beside ECDSA, TLS 1.1 only; TLSA matching and not; a zone signed then
# tampered with. One domain per finding; every finding asserted; a
# healthy domain has no error finding; a silent DNS server ends as "check incomplete" in time.
# Usage: tests/e2e/check_test.sh path/to/tlsrpt
set -u
tlsrpt=$(realpath "$1")
passed=0 failed=0
check() { if [ "$2" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected [$2] got [$3]"; return 1; fi; }
for tool in nsd ldns-keygen ldns-signzone; do
  command -v $tool >/dev/null || { echo "skipped: $tool is not installed (scripts/install-deps.sh test installs it)"; exit 77; }
done
source tests/integration/pg.sh
source tests/integration/nsd.sh
source tests/integration/ports.sh
root=$PWD
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null; done; [ -n "$nsd_pid" ] && kill $nsd_pid 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
pg_start >/dev/null || exit 1
cd "$tmp"
test_ports check 5 || exit 1
dns_port=$PORT smtp_port=$((dns_port + 1)) https_port=$((dns_port + 2))

test_ca
leaf mx-good 30 mx.good.example.net
leaf mx-good2 30 mx2.good.example.net
leaf mx-expired 0 mx.expired.example.net
leaf mx-expiring 5 mx.expiring.example.net
leaf mx-wrongname 30 mail.elsewhere.example.org
leaf mx-dane 30 mx.dane.example.net
leaf mx-dual-ec 30 mx.dual.example.net
LEAF_KEY=rsa leaf mx-dual-rsa 0 mx.dual.example.net
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=mx.selfsigned.example.net \
  -addext subjectAltName=DNS:mx.selfsigned.example.net -keyout mx-selfsigned.key -out mx-selfsigned.pem >/dev/null 2>&1
leaf policy 30 mta-sts.good.example.net mta-sts.testing.example.net mta-sts.uncovered.example.net \
  mta-sts.dane.example.net mta-sts.modenone.example.net mta-sts.badpolicy.example.net
leaf mx-oldtls 30 mx.oldtls.example.net
sleep 1  # the 0-day certificate is now expired

# MX hosts: name, address, certificates (a+b: two side by side; none: no STARTTLS).
files() { local f out=; for f in ${1//+/ }; do out+="${out:+,}$PWD/$f.$2"; done; echo "$out"; }
mxs="good:127.0.2.1:mx-good good2:127.0.2.2:mx-good2 expired:127.0.2.3:mx-expired expiring:127.0.2.4:mx-expiring
wrongname:127.0.2.5:mx-wrongname selfsigned:127.0.2.6:mx-selfsigned plain:127.0.2.7: dane:127.0.2.8:mx-dane
dual:127.0.2.9:mx-dual-ec+mx-dual-rsa"
for m in $mxs; do
  IFS=: read -r name addr cert <<<"$m"
  # (every probe comes from 127.0.0.1, several at once: no per-client session limit here)
  env TLSRPT_DATABASE_URL="$PG_URL" TLSRPT_HTTP_LISTEN= TLSRPT_SMTP_RECIPIENTS=tls@example.net TLSRPT_SMTP_HOSTNAME="mx.$name" \
    TLSRPT_SMTP_MAX_SESSIONS_PER_CLIENT=100 \
    ${cert:+TLSRPT_SMTP_TLS_CERT=$(files "$cert" pem) TLSRPT_SMTP_TLS_KEY=$(files "$cert" key)} \
    "$tlsrpt" serve --smtp-listen "$addr:$smtp_port" >"serve-$name.log" 2>&1 &
  pids+=($!)
done

dane_hash=$(spki_sha256 mx-dane.pem)
rua='"v=TLSRPTv1; rua=mailto:tls@example.net"'
sts='"v=STSv1; id=2026120101"'
cat >example.net.zone <<ZONE
\$ORIGIN example.net.
\$TTL 300
@ SOA ns.example.net. admin.example.net. 1 3600 600 86400 300
@ NS ns.example.net.
ns A 127.0.0.1
; good: everything right, two MX hosts under one pattern
_mta-sts.good TXT $sts
mta-sts.good A 127.0.1.1
_smtp._tls.good TXT $rua
good MX 10 mx.good.example.net.
good MX 20 mx2.good.example.net.
mx.good A 127.0.2.1
mx2.good A 127.0.2.2
; one finding each
expired MX 10 mx.expired.example.net.
mx.expired A 127.0.2.3
_smtp._tls.expired TXT $rua
expiring MX 10 mx.expiring.example.net.
mx.expiring A 127.0.2.4
_smtp._tls.expiring TXT $rua
wrongname MX 10 mx.wrongname.example.net.
mx.wrongname A 127.0.2.5
_smtp._tls.wrongname TXT $rua
selfsigned MX 10 mx.selfsigned.example.net.
mx.selfsigned A 127.0.2.6
_smtp._tls.selfsigned TXT $rua
nostarttls MX 10 mx.nostarttls.example.net.
mx.nostarttls A 127.0.2.7
_smtp._tls.nostarttls TXT $rua
testing MX 10 mx.good.example.net.
_mta-sts.testing TXT $sts
mta-sts.testing A 127.0.1.2
_smtp._tls.testing TXT $rua
uncovered MX 10 mx.good.example.net.
_mta-sts.uncovered TXT $sts
mta-sts.uncovered A 127.0.1.3
_smtp._tls.uncovered TXT $rua
notfirst MX 10 mx.good.example.net.
_smtp._tls.notfirst TXT "v=TLSRPTv1; rua=mailto:other@example.org,mailto:tls@example.net"
norua MX 10 mx.good.example.net.
_smtp._tls.norua TXT "v=TLSRPTv1; rua=mailto:other@example.org"
norecord MX 10 mx.good.example.net.
twosts MX 10 mx.good.example.net.
_mta-sts.twosts TXT "v=STSv1; id=a"
_mta-sts.twosts TXT "v=STSv1; id=b"
_smtp._tls.twosts TXT $rua
nomx TXT "no mail here"
_smtp._tls.nomx TXT $rua
dane MX 10 mx.dane.example.net.
mx.dane A 127.0.2.8
_25._tcp.mx.dane TLSA 3 1 1 $dane_hash
_25._tcp.mx.dane TLSA 3 1 1 $(printf '%064d' 0)
_smtp._tls.dane TXT $rua
danebad MX 10 mx.dane.example.net.
_25._tcp.mx.danebad TLSA 3 1 1 $(printf '%064d' 0)
_smtp._tls.danebad TXT $rua
danebad MX 20 mx.danebad.example.net.
mx.danebad A 127.0.2.8
badid MX 10 mx.good.example.net.
_mta-sts.badid TXT "v=STSv1; id=not_valid!"
_smtp._tls.badid TXT $rua
modenone MX 10 mx.good.example.net.
_mta-sts.modenone TXT $sts
mta-sts.modenone A 127.0.1.4
_smtp._tls.modenone TXT $rua
badpolicy MX 10 mx.good.example.net.
_mta-sts.badpolicy TXT $sts
mta-sts.badpolicy A 127.0.1.5
_smtp._tls.badpolicy TXT $rua
tworua MX 10 mx.good.example.net.
_smtp._tls.tworua TXT $rua
_smtp._tls.tworua TXT "v=TLSRPTv1; rua=mailto:other@example.org"
oldtls MX 10 mx.oldtls.example.net.
mx.oldtls A 127.0.2.10
_smtp._tls.oldtls TXT $rua
dual MX 10 mx.dual.example.net.
mx.dual A 127.0.2.9
_smtp._tls.dual TXT $rua
daneonly MX 10 mx.daneonly.example.net.
mx.daneonly A 127.0.2.6
_25._tcp.mx.daneonly TLSA 3 1 1 $(spki_sha256 mx-selfsigned.pem)
_25._tcp.mx.daneonly TLSA 3 1 1 $(printf '%064d' 1)
_smtp._tls.daneonly TXT $rua
ZONE
cat >plain.org.zone <<ZONE
\$ORIGIN plain.org.
\$TTL 300
@ SOA ns.plain.org. admin.plain.org. 1 3600 600 86400 300
@ NS ns.plain.org.
@ MX 10 mx.plain.org.
mx A 127.0.2.8
_25._tcp.mx TLSA 3 1 1 $dane_hash
_smtp._tls TXT $rua
ZONE
cat >bogus.org.zone <<ZONE
\$ORIGIN bogus.org.
\$TTL 300
@ SOA ns.bogus.org. admin.bogus.org. 1 3600 600 86400 300
@ NS ns.bogus.org.
@ MX 10 mx.good.example.net.
_mta-sts TXT "v=STSv1; id=genuine"
_smtp._tls TXT $rua
ZONE
sign_zone example.net example.net.zone || exit 1
sign_zone bogus.org bogus.org.zone || exit 1
sed -i 's/id=genuine/id=forged/' bogus.org.zone.signed  # changed after signing: its RRSIG no longer matches
nsd_start $dns_port example.net=example.net.zone.signed plain.org=plain.org.zone bogus.org=bogus.org.zone.signed || exit 1

printf 'testing\nmx: mx.good.example.net' >testing.mode
python3 - "$https_port" >https.log 2>&1 <<'PY' &
import http.server, ssl, sys, threading
port = int(sys.argv[1])
policies = {"127.0.1.1": "enforce\nmx: *.good.example.net", "127.0.1.2": "testing\nmx: mx.good.example.net",
            "127.0.1.3": "enforce\nmx: mx.elsewhere.example.net", "127.0.1.4": "none",
            "127.0.1.5": "sometimes\nmx: mx.good.example.net"}
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        where = self.server.server_address[0]
        mode = open("testing.mode").read() if where == "127.0.1.2" else policies[where]  # the test changes it
        body = ("version: STSv1\nmode: " + mode + "\nmax_age: 86400\n").encode()
        self.send_response(200); self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
for address in policies:
    server = http.server.ThreadingHTTPServer((address, port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain("policy.pem", "policy.key")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
PY
pids+=($!)
# An MX that negotiates TLS 1.1 at most: a few lines of SMTP, then STARTTLS.
python3 - "$smtp_port" >oldtls.log 2>&1 <<'PY' &
import socket, ssl, sys, threading
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain("mx-oldtls.pem", "mx-oldtls.key")
ctx.minimum_version = ssl.TLSVersion.TLSv1; ctx.maximum_version = ssl.TLSVersion.TLSv1_1
ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
def session(c):
    try:
        f = c.makefile("rb"); c.sendall(b"220 mx.oldtls.example.net ESMTP\r\n")
        while True:
            line = f.readline().upper()
            if not line: return
            if line.startswith((b"EHLO", b"HELO")): c.sendall(b"250-mx.oldtls.example.net\r\n250 STARTTLS\r\n")
            elif line.startswith(b"STARTTLS"):
                c.sendall(b"220 go ahead\r\n"); t = ctx.wrap_socket(c, server_side=True); t.recv(100); t.close(); return
            else: c.sendall(b"221 bye\r\n"); return
    except OSError: pass
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.2.10", int(sys.argv[1]))); s.listen(50)
print("ready", flush=True)
while True: threading.Thread(target=session, args=(s.accept()[0],), daemon=True).start()
PY
pids+=($!)
for _ in $(seq 50); do grep -q ready https.log && grep -q ready oldtls.log && break; sleep 0.1; done
for m in $mxs; do
  IFS=: read -r name addr cert <<<"$m"
  for _ in $(seq 100); do grep -q "listening on" "serve-$name.log" 2>/dev/null && break; sleep 0.1; done
done

export TLSRPT_DNS_SERVER="127.0.0.1:$dns_port" TLSRPT_DNS_TRUST_ANCHOR_FILE=$PWD/anchors.ds TLSRPT_CHECKS_CA_FILE=$PWD/ca.pem \
  TLSRPT_CHECKS_SMTP_PORT=$smtp_port TLSRPT_CHECKS_HTTPS_PORT=$https_port TLSRPT_CHECKS_TIMEOUT=10 TLSRPT_DNS_TIMEOUT=10 \
  TLSRPT_SMTP_RECIPIENTS=tls@example.net
domains="good expired expiring wrongname selfsigned nostarttls testing uncovered notfirst norua norecord twosts nomx dane danebad
  daneonly dual badid modenone badpolicy tworua oldtls"
"$tlsrpt" check --json $(for d in $domains; do echo $d.example.net; done) plain.org bogus.org >check.json 2>check.err
check_exit=$?
# The findings of each domain, sorted: "finding@subject ...".
findings() {
  python3 -c "
import json, sys
for line in open('check.json'):
    r = json.loads(line)
    if r['domain'] == sys.argv[1]:
        print(' '.join(sorted(f['finding'] + '@' + f['subject'] for f in r['findings'])))" "$1"
}
check "good: no finding" "" "$(findings good.example.net)"
# The policy host's certificate (30 days) within a 40-day warning: a warning on the policy host,
# as on each MX (their certificates last 30 days too).
TLSRPT_CHECKS_EXPIRY_WARNING_DAYS=40 "$tlsrpt" check --json good.example.net >check.json 2>/dev/null
check "a policy host certificate expiring: sts-policy-cert-expiring" \
  "mx-cert-expiring@mx.good.example.net mx-cert-expiring@mx2.good.example.net sts-policy-cert-expiring@mta-sts.good.example.net" \
  "$(findings good.example.net)"
"$tlsrpt" check --json $(for d in $domains; do echo $d.example.net; done) plain.org bogus.org >check.json 2>check.err
check "expired certificate" "mx-cert-expired@mx.expired.example.net sts-record-missing@expired.example.net" "$(findings expired.example.net)"
check "expiring certificate" "mx-cert-expiring@mx.expiring.example.net sts-record-missing@expiring.example.net" "$(findings expiring.example.net)"
check "wrong name" "mx-cert-name-mismatch@mx.wrongname.example.net sts-record-missing@wrongname.example.net" "$(findings wrongname.example.net)"
check "self-signed" "mx-cert-untrusted@mx.selfsigned.example.net sts-record-missing@selfsigned.example.net" "$(findings selfsigned.example.net)"
check "no STARTTLS" "mx-no-starttls@mx.nostarttls.example.net sts-record-missing@nostarttls.example.net" "$(findings nostarttls.example.net)"
check "mode testing" "sts-mode-testing@testing.example.net" "$(findings testing.example.net)"
check "an MX the policy does not cover, a pattern that matches none" \
  "sts-mx-not-covered@mx.good.example.net sts-pattern-unused@uncovered.example.net" "$(findings uncovered.example.net)"
check "own rua not first" "sts-record-missing@notfirst.example.net tlsrpt-rua-not-first@notfirst.example.net" "$(findings notfirst.example.net)"
check "own rua missing" "sts-record-missing@norua.example.net tlsrpt-rua-missing@norua.example.net" "$(findings norua.example.net)"
check "no TLS-RPT record" "sts-record-missing@norecord.example.net tlsrpt-record-missing@norecord.example.net" "$(findings norecord.example.net)"
check "two STS records" "sts-record-multiple@twosts.example.net" "$(findings twosts.example.net)"
check "no MX" "mx-missing@nomx.example.net sts-record-missing@nomx.example.net" "$(findings nomx.example.net)"
check "DANE matching, with a second record for a rollover" "sts-record-missing@dane.example.net" "$(findings dane.example.net)"
# mx.danebad and mx.plain.org present mx.dane's certificate: without DANE its name is wrong.
check "DANE: no TLSA record matches" \
  "mx-cert-name-mismatch@mx.danebad.example.net sts-record-missing@danebad.example.net tlsa-no-match@mx.danebad.example.net tlsa-no-rollover@mx.danebad.example.net" \
  "$(findings danebad.example.net)"
check "DANE-EE alone: a self-signed certificate for another name is fine" "sts-record-missing@daneonly.example.net" \
  "$(findings daneonly.example.net)"
check "TLSA in an unsigned zone is ignored" "mx-cert-name-mismatch@mx.plain.org sts-record-missing@plain.org tlsa-not-secure@mx.plain.org" \
  "$(findings plain.org)"
check "RSA and ECDSA certificates: the expired RSA one found behind the good ECDSA one" \
  "mx-cert-expired@mx.dual.example.net sts-record-missing@dual.example.net" "$(findings dual.example.net)"
check "RSA and ECDSA certificates: both probed, the finding names the RSA one" "ECDSA RSA | (127.0.2.9, RSA): expired" \
  "$(python3 -c "
import json
for l in open('check.json'):
    r = json.loads(l)
    if r['domain'] == 'dual.example.net':
        print(*[p['certificate']['key_type'] for p in r['mx'][0]['probes']], '|',
              *[f['detail'].split(': ')[0].split(' ', 1)[1] + ': ' + f['detail'].split(': ')[1].split(' ')[0]
                for f in r['findings'] if f['finding'] == 'mx-cert-expired'])")"
check "an invalid record id" "sts-record-invalid@badid.example.net" "$(findings badid.example.net)"
check "mode none" "sts-mode-none@modenone.example.net" "$(findings modenone.example.net)"
check "an invalid policy" "sts-policy-invalid@mta-sts.badpolicy.example.net" "$(findings badpolicy.example.net)"
check "two TLS-RPT records" "sts-record-missing@tworua.example.net tlsrpt-record-invalid@tworua.example.net" \
  "$(findings tworua.example.net)"
check "an MX negotiating TLS 1.1" "mx-tls-version@mx.oldtls.example.net sts-record-missing@oldtls.example.net" \
  "$(findings oldtls.example.net)"
check "a DNSSEC answer that does not validate (the rest of the check stops there)" "dnssec-bogus@_mta-sts.bogus.org" \
  "$(findings bogus.org)"
check "exit status: error findings" 1 "$check_exit"
check "the good domain's policy in the JSON" "enforce *.good.example.net" \
  "$(python3 -c "
import json
for l in open('check.json'):
    r = json.loads(l)
    if r['domain'] == 'good.example.net': print(r['mta_sts']['mode'], *r['mta_sts']['mx'])")"
check "the good MX's certificate in the JSON" "True True" \
  "$(python3 -c "
import json
for l in open('check.json'):
    r = json.loads(l)
    if r['domain'] == 'good.example.net': c = r['mx'][0]['probes'][0]['certificate']; print(c['trusted'], c['name_matches'])")"
"$tlsrpt" check expiring.example.net >expiring.txt 2>&1
check "readable output, as the README shows it" "expiring.example.net: 0 errors, 2 warnings, 0 notes; 1 MX
  warning  sts-record-missing       expiring.example.net: no TXT record starts with v=STSv1
  warning  mx-cert-expiring         mx.expiring.example.net: mx.expiring.example.net (127.0.2.4): expires in 4 days" \
  "$(cat expiring.txt)"
"$tlsrpt" check good.example.net >good.txt 2>&1
check "a healthy domain: exit 0" 0 $? || cat good.txt
check "readable output" "good.example.net: 0 errors, 0 warnings, 0 notes; MTA-STS enforce; 2 MX" "$(head -1 good.txt)"
# checks.public_addresses_only: a domain whose DNS names loopback addresses (all of this world's
# hosts) is not connected to; each refusal is a finding naming the address.
TLSRPT_CHECKS_PUBLIC_ADDRESSES_ONLY=true "$tlsrpt" check --json good.example.net >public.json 2>&1
check "public addresses only: the policy host and both MX hosts refused, nothing else said" \
  "address-refused@mta-sts.good.example.net address-refused@mx.good.example.net address-refused@mx2.good.example.net" \
  "$(python3 -c "
import json
r = json.loads(open('public.json').readline())
print(' '.join(sorted(f['finding'] + '@' + f['subject'] for f in r['findings'])))")"
check "public addresses only: the refusal names the address and the setting" yes \
  "$(grep -q '127\.[0-9.]* (checks.public_addresses_only)' public.json && echo yes || echo no)"

# Scheduled checks in serve: five monitored domains (one with a rua of its own, one with DANE),
# checked every 2 s; the latest check in the API, the published-policy and TLSA history, the
# drift of a report against them, the metrics.
http_port=$((dns_port + 4))
env TLSRPT_DATABASE_URL="$PG_URL" TLSRPT_SMTP_LISTEN= TLSRPT_HTTP_LISTEN="127.0.0.1:$http_port" TLSRPT_CHECKS_INTERVAL=2 \
  TLSRPT_CHECKS_DOMAINS="good.example.net expiring.example.net,Testing.Example.NET.,notfirst.example.net=other@example.org dane.example.net" \
  "$tlsrpt" serve >serve-monitor.log 2>&1 &
pids+=($!)
api() { curl -s -o "$2" -w '%{http_code}' "http://127.0.0.1:$http_port$1"; }
for _ in $(seq 600); do
  n=0
  for d in good expiring testing notfirst dane; do [ "$(api /api/v1/domains/$d.example.net/posture p.json)" = 200 ] && n=$((n + 1)); done
  [ $n = 5 ] && break
  sleep 0.1
done
check "serve: every monitored domain checked" 5 "$n" || tail -5 serve-monitor.log
posture() {  # "complete finding@subject(since?)..." of the latest check
  api "/api/v1/domains/$1/posture" p.json >/dev/null
  python3 -c "
import json
p = json.load(open('p.json'))
print(p['complete'], ' '.join(sorted(f['finding'] + '@' + f['subject'] + ('+since' if f['since'] else '') for f in p['findings'])))"
}
conforms() { (cd "$root" && python3 tests/e2e/openapi_conforms.py "$1" GET "$2" "$tmp/$3"); }
api /api/v1/domains/expiring.example.net/posture p.json >/dev/null
check "OpenAPI: the posture answer" 0 "$(conforms /api/v1/domains/{domain}/posture 200 p.json >&2; echo $?)"
check "serve: a healthy domain" "True " "$(posture good.example.net)"
check "serve: an expiring certificate, with when it was first seen" \
  "True mx-cert-expiring@mx.expiring.example.net+since sts-record-missing@expiring.example.net+since" "$(posture expiring.example.net)"
check "serve: a domain with a rua of its own" "True sts-record-missing@notfirst.example.net+since" "$(posture notfirst.example.net)"
check "serve: a domain not monitored" 404 "$(api /api/v1/domains/wrongname.example.net/posture p.json)"
check "OpenAPI: 404" 0 "$(conforms /api/v1/domains/{domain}/posture 404 p.json >&2; echo $?)"
check "serve: not a domain name" 400 "$(api /api/v1/domains/bad..example/posture p.json)"
check "serve: not a domain name (policies)" 400 "$(api /api/v1/domains/-/policies p.json)"
check "OpenAPI: 400" 0 "$(conforms /api/v1/domains/{domain}/policies 400 p.json >&2; echo $?)"
api /metrics metrics.txt >/dev/null
metric() { grep -v '^#' metrics.txt | grep -F "$1" | head -1 | awk '{print $NF}'; }
check "metrics: a finding" 1 "$(metric 'tlsrpt_posture_findings{domain="expiring.example.net",finding="mx-cert-expiring",severity="warning"}')"
check "metrics: no series for a domain without findings" "" "$(metric 'tlsrpt_posture_findings{domain="good.example.net"')"
check "metrics: the published mode" 1 "$(metric 'tlsrpt_posture_sts_mode{domain="good.example.net",mode="enforce"}')"
check "metrics: readiness of an enforcing domain" 1 "$(metric 'tlsrpt_readiness{domain="good.example.net",verdict="enforced"}')"
check "metrics: readiness of a domain in testing without reports" 1 \
  "$(metric 'tlsrpt_readiness{domain="testing.example.net",verdict="insufficient-data"}')"
check "metrics: the monitored domains" 5 "$(metric 'tlsrpt_posture_monitored_domains ')"
expiry=$(metric 'tlsrpt_posture_mx_cert_expiry_timestamp_seconds{domain="expiring.example.net",mx="mx.expiring.example.net"}')
check "metrics: the certificate expires in 4 to 5 days" 1 \
  "$(python3 -c "import time; d = (float('${expiry:-0}') - time.time()) / 86400; print(int(4 <= d <= 5))")"
# The testing domain switches to enforce (same record id, new text): a second policy in the
# history, the mode metric follows, the testing finding's series goes.
printf 'enforce\nmx: mx.good.example.net' >testing.mode
for _ in $(seq 300); do
  api /api/v1/domains/testing.example.net/policies pol.json >/dev/null
  [ "$(python3 -c "import json; print(len(json.load(open('pol.json'))['policies']))")" = 2 ] && break
  sleep 0.1
done
check "policy history: both policies, newest first, with first and last seen" "enforce testing 2026120101 True" \
  "$(python3 -c "
import json
p = json.load(open('pol.json'))['policies']
print(*[x['mode'] for x in p], p[0]['sts_id'], all(x['first_seen'] <= x['last_seen'] for x in p))")"
check "OpenAPI: the policy history" 0 "$(conforms /api/v1/domains/{domain}/policies 200 pol.json >&2; echo $?)"
sleep 3  # a further check of every domain
api /metrics metrics.txt >/dev/null
check "metrics: the mode now published" "1 " \
  "$(metric 'tlsrpt_posture_sts_mode{domain="testing.example.net",mode="enforce"}') $(metric 'tlsrpt_posture_sts_mode{domain="testing.example.net",mode="testing"}')"
check "metrics: the testing finding is gone" "" "$(metric 'tlsrpt_posture_findings{domain="testing.example.net",finding="sts-mode-testing"')"
check "storage: an unchanged result is stored once, each check recorded" "1 1" \
  "$(psql -qAt "$PG_URL" -c "SELECT (count(*) FILTER (WHERE result IS NOT NULL) = 1)::int, (count(*) >= 2)::int
     FROM posture_checks WHERE domain = 'good.example.net'" | tr '|' ' ')"
check "metrics: checks counted" 1 "$(python3 -c "print(int(float('$(metric 'tlsrpt_posture_checks_total{domain="good.example.net",outcome="complete"}')' or 0) >= 2))")"

# The TLSA records the checks saw, and a report's tlsa policy held against them: the records as
# published (in the report's order and case) are current, another record never published.
check "storage: the TLSA records of the MX" "mx.dane.example.net 3 1 1 $(printf '%064d' 0),3 1 1 $dane_hash" \
  "$(psql -qAt "$PG_URL" -c "SELECT mx_host || ' ' || array_to_string(records, ',') FROM published_tlsa WHERE domain = 'dane.example.net'")"
python3 - "$dane_hash" <<'PY'
import datetime, json, sys
day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
for name, records in (("current", [f"3 1 1 {sys.argv[1].upper()}", "3 1 1 " + "0" * 64]), ("forged", ["3 1 1 " + "ab" * 32])):
    json.dump({"organization-name": "Google Inc.", "contact-info": "smtp-tls-reporting@google.com", "report-id": f"dane-{name}",
               "date-range": {"start-datetime": f"{day}T00:00:00Z", "end-datetime": f"{day}T23:59:59Z"},
               "policies": [{"policy": {"policy-type": "tlsa", "policy-string": records, "policy-domain": "dane.example.net",
                                        "mx-host": ["mx.dane.example.net"]},
                             "summary": {"total-successful-session-count": 5, "total-failure-session-count": 0}}]},
              open(f"dane-{name}.json", "w"))
PY
"$tlsrpt" ingest --database-url "$PG_URL" --no-progress dane-current.json dane-forged.json >/dev/null 2>&1
drift() { api "/api/v1/reports/$(psql -qAt "$PG_URL" -c "SELECT id FROM reports WHERE report_id = '$1'")" r.json >/dev/null
  python3 -c "import json; d = json.load(open('r.json'))['policy_drift'][0]; print(d['state'], d['matched'])"; }
check "drift: today's report with the TLSA records the checks see" "current mx.dane.example.net" "$(drift dane-current)"
check "drift: TLSA records never published" "never-published None" "$(drift dane-forged)"

# A DNS server that never answers: incomplete (exit 3), within the deadline.
python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', $((dns_port + 3))))
while True: s.recv(4096)" &
pids+=($!)
sleep 0.3
start=$(date +%s)
TLSRPT_DNS_SERVER="127.0.0.1:$((dns_port + 3))" TLSRPT_DNS_TIMEOUT=1 "$tlsrpt" check --json good.example.net >silent.json 2>&1
check "silent DNS: exit 3" 3 $?
check "silent DNS: never all clear" "false" "$(python3 -c "import json; print(str(json.load(open('silent.json'))['complete']).lower())")"
elapsed=$(($(date +%s) - start))
check "silent DNS: done within 10 s" 1 "$([ $elapsed -le 10 ] && echo 1 || echo 0)"
if [ "$failed" -gt 0 ]; then  # say why: every finding with its detail
  python3 -c "
import json
for line in open('check.json'):
    r = json.loads(line)
    for f in r['findings']: print(r['domain'], f['finding'], f['subject'], f['detail'])"
fi
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
