#!/usr/bin/env bash
# server/dns against a real authoritative server: nsd on loopback serving a DNSSEC-signed zone
# (signed now: signatures are valid for weeks only), a zone signed and then tampered with (bogus),
# an unsigned zone (insecure), and a server that never answers (timeout).
# Usage: tests/integration/dns_test.sh path/to/dns_probe
set -u
probe=$(realpath "$1")
passed=0 failed=0
check() { if [ "$2" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected [$2] got [$3]"; fi; }
has() { if grep -qF -- "$2" <<<"$3"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: [$2] not in [$3]"; fi; }
for tool in nsd ldns-keygen ldns-signzone; do
  command -v $tool >/dev/null || { echo "skipped: $tool is not installed (scripts/install-deps.sh test installs it)"; exit 77; }
done
tmp=$(mktemp -d)
nsd_pid= drop_pid=
trap '[ -n "$nsd_pid" ] && kill $nsd_pid 2>/dev/null; [ -n "$drop_pid" ] && kill $drop_pid 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp"
port=$((20000 + RANDOM % 20000))

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
for zone in example.net bogus.net; do
  ksk=$(ldns-keygen -a ECDSAP256SHA256 -k $zone) && zsk=$(ldns-keygen -a ECDSAP256SHA256 $zone) &&
    ldns-signzone -f $zone.signed $zone.zone "$zsk" "$ksk" || { echo "FAIL signing $zone"; exit 1; }
  cat "$ksk.ds" >>anchors.ds
done
# A record changed after signing: its RRSIG no longer matches.
sed -i 's/"genuine"/"forged"/' bogus.net.signed
cat >nsd.conf <<CONF
server:
  ip-address: 127.0.0.1@$port
  username: ""
  chroot: ""
  database: ""
  zonesdir: "$tmp"
  zonelistfile: "$tmp/zone.list"
  xfrdfile: "$tmp/xfrd.state"
  pidfile: "$tmp/nsd.pid"
  logfile: "$tmp/nsd.log"
  verbosity: 1
zone:
  name: example.net
  zonefile: example.net.signed
zone:
  name: bogus.net
  zonefile: bogus.net.signed
zone:
  name: plain.net
  zonefile: plain.net.zone
CONF
nsd -d -c nsd.conf >nsd.out 2>&1 &
nsd_pid=$!
for _ in $(seq 50); do grep -q "nsd started" nsd.log 2>/dev/null && break; sleep 0.1; done

out=$("$probe" "127.0.0.1:$port" anchors.ds 3000 \
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
start=$(date +%s%N)
out=$("$probe" "127.0.0.1:$drop_port" anchors.ds 1000 silent.example.net TXT other.example.net MX)
elapsed=$((($(date +%s%N) - start) / 1000000))
has "silent server: timeout" 'silent.example.net TXT timeout insecure' "$(line silent.example.net TXT)"
has "silent server: every query" 'other.example.net MX timeout insecure' "$(line other.example.net MX)"
check "silent server: answered within the 1 s deadline (+ 1 s)" 1 "$([ "$elapsed" -lt 2000 ] && echo 1 || echo 0)"
echo "dns: $passed passed, $failed failed (silent server answered in $elapsed ms)"
[ "$failed" -eq 0 ]
