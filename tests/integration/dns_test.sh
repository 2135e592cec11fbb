#!/usr/bin/env bash
# server/dns against a real authoritative server: nsd on loopback serving a DNSSEC-signed zone
# (signed now: signatures are valid for weeks only), a zone signed and then tampered with (bogus),
# an unsigned zone (insecure), and a server that never answers (timeout). Then the MTA-STS policy
# fetch (server/posture) against HTTPS servers on loopback addresses with a test CA: a good
# policy, a redirect, a 404, a body over 64 KiB, a wrong content type, a certificate for another
# name, no listener, and no address.
# Usage: tests/integration/dns_test.sh path/to/dns_probe path/to/fetch_probe
set -u
probe=$(realpath "$1")
fetch=$(realpath "$2")
passed=0 failed=0
check() { if [ "$2" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected [$2] got [$3]"; fi; }
has() { if grep -qF -- "$2" <<<"$3"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: [$2] not in [$3]"; fi; }
for tool in nsd ldns-keygen ldns-signzone; do
  command -v $tool >/dev/null || { echo "skipped: $tool is not installed (scripts/install-deps.sh test installs it)"; exit 77; }
done
source tests/integration/nsd.sh
source tests/integration/ports.sh
tmp=$(mktemp -d)
drop_pid=
https_pid=
trap '[ -n "$nsd_pid" ] && kill $nsd_pid 2>/dev/null; [ -n "$drop_pid" ] && kill $drop_pid 2>/dev/null; [ -n "$https_pid" ] && kill $https_pid 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp"
test_ports dns 3 || exit 1; port=$PORT

cat >example.net.zone <<ZONE
\$ORIGIN example.net.
\$TTL 300
@ SOA ns.example.net. admin.example.net. 1 3600 600 86400 300
@ NS ns.example.net.
ns A 127.0.0.1
_mta-sts TXT "v=STSv1; id=20261201"
_smtp._tls TXT "v=TLSRPTv1; " "rua=mailto:tls@example.net"
@ MX 10 mx1.example.net.
@ MX 20 MX2.Example.net.
mx1 A 127.0.2.1
mx1 AAAA ::1
mx2 A 127.0.2.2
_25._tcp.mx1 TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
alias CNAME mx1.example.net.
mta-sts.good A 127.0.1.1
mta-sts.redirect A 127.0.1.2
mta-sts.notfound A 127.0.1.3
mta-sts.big A 127.0.1.4
mta-sts.ctype A 127.0.1.5
mta-sts.wrongname A 127.0.1.6
mta-sts.closed A 127.0.1.7
mta-sts.alias CNAME mta-sts.good.example.net.
ZONE
cat >bogus.net.zone <<ZONE
\$ORIGIN bogus.net.
\$TTL 300
@ SOA ns.bogus.net. admin.bogus.net. 1 3600 600 86400 300
@ NS ns.bogus.net.
ns A 127.0.0.1
@ TXT "genuine"
ZONE
cat >plain.net.zone <<ZONE
\$ORIGIN plain.net.
\$TTL 300
@ SOA ns.plain.net. admin.plain.net. 1 3600 600 86400 300
@ NS ns.plain.net.
@ TXT "unsigned"
ZONE
for zone in example.net bogus.net; do sign_zone $zone $zone.zone || exit 1; done
# A record changed after signing: its RRSIG no longer matches.
sed -i 's/"genuine"/"forged"/' bogus.net.zone.signed
nsd_start $port example.net=example.net.zone.signed bogus.net=bogus.net.zone.signed plain.net=plain.net.zone || exit 1

out=$("$probe" "127.0.0.1:$port" anchors.ds 10000 \
  _mta-sts.example.net TXT _smtp._tls.example.net TXT example.net MX mx1.example.net A mx1.example.net AAAA \
  _25._tcp.mx1.example.net TLSA alias.example.net A missing.example.net TXT mx1.example.net TXT \
  bogus.net TXT plain.net TXT)
line() { grep "^$1 $2 " <<<"$out"; }
has "TXT, signed" '_mta-sts.example.net TXT answer secure "v=STSv1; id=20261201"' "$(line _mta-sts.example.net TXT)"
has "TXT of two strings, joined" '"v=TLSRPTv1; rua=mailto:tls@example.net"' "$(line _smtp._tls.example.net TXT)"
has "MX, signed" 'example.net MX answer secure' "$(line example.net MX)"
has "MX 10" ' 10:mx1.example.net' "$(line example.net MX)"
has "MX 20, lower-cased" ' 20:mx2.example.net' "$(line example.net MX)"
has "A" 'mx1.example.net A answer secure 127.0.2.1' "$(line mx1.example.net A)"
has "AAAA" 'mx1.example.net AAAA answer secure ::1' "$(line mx1.example.net AAAA)"
has "TLSA" 'answer secure 3/1/1/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef' "$(line _25._tcp.mx1.example.net TLSA)"
has "CNAME followed" 'alias.example.net A answer secure canonical=mx1.example.net. 127.0.2.1' "$(line alias.example.net A)"
has "NXDOMAIN, proven" 'missing.example.net TXT nxdomain secure' "$(line missing.example.net TXT)"
has "no data, proven" 'mx1.example.net TXT nodata secure' "$(line mx1.example.net TXT)"
has "tampered zone: bogus" 'bogus.net TXT bogus insecure' "$(line bogus.net TXT)"
has "unsigned zone: insecure" 'plain.net TXT answer insecure "unsigned"' "$(line plain.net TXT)"

# A server that takes queries and never answers: every query ends as a timeout, on time.
drop_port=$((port + 1))
python3 -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', $drop_port))
while True: s.recv(4096)" &
drop_pid=$!
sleep 0.3
# The deadline is judged net of what the same queries cost from a server that answers, measured
# just before (starting the probe, which under ASan on a busy machine takes a good part of a second).
start=$(date +%s%N)
"$probe" "127.0.0.1:$port" anchors.ds 1000 silent.example.net TXT other.example.net MX >/dev/null
baseline=$((($(date +%s%N) - start) / 1000000))
start=$(date +%s%N)
out=$("$probe" "127.0.0.1:$drop_port" anchors.ds 1000 silent.example.net TXT other.example.net MX)
elapsed=$((($(date +%s%N) - start) / 1000000))
has "silent server: timeout" 'silent.example.net TXT timeout insecure' "$(line silent.example.net TXT)"
has "silent server: every query" 'other.example.net MX timeout insecure' "$(line other.example.net MX)"
check "silent server: answered within the 1 s deadline (+ 0.5 s over a server that answers)" 1 \
  "$([ $((elapsed - baseline)) -lt 1500 ] && echo 1 || echo 0)"
# The policy fetch. A test CA; one certificate for the five good names, one for another name
# (valid 30 days: longer than checks.expiry_warning_days, so no sts-policy-cert-expiring here;
# tests/e2e/check_test.sh has that warning).
test_ca
leaf good 30 mta-sts.good.example.net mta-sts.redirect.example.net mta-sts.notfound.example.net \
  mta-sts.big.example.net mta-sts.ctype.example.net
leaf other 30 mta-sts.other.example.net
https_port=$((port + 2))
python3 - "$https_port" >https.log 2>&1 <<'PY' &
import http.server, ssl, sys, threading
port = int(sys.argv[1])
policy = b"version: STSv1\nmode: enforce\nmx: mx1.example.net\nmx: *.example.net\nmax_age: 604800\n"
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        where = self.server.server_address[0]
        if self.path != "/.well-known/mta-sts.txt" or where == "127.0.1.3":
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        if where == "127.0.1.2":
            self.send_response(301); self.send_header("Location", "https://elsewhere.example.net/x")
            self.send_header("Content-Length", "0"); self.end_headers(); return
        body = policy + (b"x-pad: " + b"y" * 70000 + b"\n" if where == "127.0.1.4" else b"")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream" if where == "127.0.1.5" else "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
for i, cert in [(1, "good"), (2, "good"), (3, "good"), (4, "good"), (5, "good"), (6, "other")]:
    server = http.server.ThreadingHTTPServer((f"127.0.1.{i}", port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(f"{cert}.pem", f"{cert}.key")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
PY
https_pid=$!
for _ in $(seq 50); do grep -q ready https.log && break; sleep 0.1; done
out=$("$fetch" "127.0.0.1:$port" anchors.ds ca.pem "$https_port" 10000 good.example.net redirect.example.net \
  notfound.example.net big.example.net ctype.example.net wrongname.example.net closed.example.net nodns.example.net \
  alias.example.net)
fetched() { grep "^$1 " <<<"$out"; }
has "policy fetched and parsed" 'good.example.net findings= bytes=83 mode=enforce mx=mx1.example.net,*.example.net' "$(fetched good.example.net)"
has "redirect not followed" 'redirect.example.net findings=sts-policy-redirect | 127.0.1.2: status 301 to https://elsewhere.example.net/x' "$(fetched redirect.example.net)"
has "404" 'notfound.example.net findings=sts-policy-http-status | 127.0.1.3: status 404' "$(fetched notfound.example.net)"
has "over 64 KiB" 'big.example.net findings=sts-policy-too-large' "$(fetched big.example.net)"
has "wrong content type: a warning, the policy still read" 'ctype.example.net findings=sts-policy-content-type bytes=83 mode=enforce' "$(fetched ctype.example.net)"
has "certificate for another name" 'wrongname.example.net findings=sts-policy-tls-failed | 127.0.1.6: hostname mismatch' "$(fetched wrongname.example.net)"
has "no listener" 'closed.example.net findings=sts-policy-connect-failed' "$(fetched closed.example.net)"
has "no address" 'nodns.example.net findings=sts-policy-dns-failed | mta-sts.nodns.example.net: nxdomain' "$(fetched nodns.example.net)"
has "policy host behind a CNAME (certificate of the name asked for)" 'alias.example.net findings=sts-policy-tls-failed' "$(fetched alias.example.net)"
# The DNS server gone: the fetch cannot complete, and says so.
out=$("$fetch" "127.0.0.1:$drop_port" anchors.ds ca.pem "$https_port" 1000 good.example.net)
has "silent DNS: check incomplete, not clear" 'good.example.net findings=check-incomplete' "$(fetched good.example.net)"
echo "dns: $passed passed, $failed failed (silent server answered in $elapsed ms, a live one in $baseline ms)"
[ "$failed" -eq 0 ]
