# Helpers for tests that need DNS and certificates of their own (source this file):
#   zone_head ZONE            the start of a zone file: $ORIGIN, $TTL, SOA, NS, and ns at 127.0.0.1
#   sign_zone ZONE FILE       signs FILE into FILE.signed (keys made now), appends the DS to anchors.ds
#   nsd_start PORT ZONE=FILE...   starts nsd on 127.0.0.1:PORT serving each zone (sets nsd_pid)
#   test_ca                   makes ca.pem / ca.key, a test CA
#   leaf NAME DAYS SAN...     makes NAME.pem / NAME.key signed by the test CA (DAYS 0: expires now);
#                             an ECDSA P-256 key, or RSA 2048 with LEAF_KEY=rsa
#   spki_sha256 CERT          the TLSA 3 1 1 data of a certificate
# All files go to the current directory.
nsd_pid=
zone_head() {
  printf '$ORIGIN %s.\n$TTL 300\n@ SOA ns.%s. admin.%s. 1 3600 600 86400 300\n@ NS ns.%s.\nns A 127.0.0.1\n' "$1" "$1" "$1" "$1"
}
sign_zone() {
  local zone=$1 file=$2 ksk zsk
  ksk=$(ldns-keygen -a ECDSAP256SHA256 -k "$zone") && zsk=$(ldns-keygen -a ECDSAP256SHA256 "$zone") &&
    ldns-signzone -f "$file.signed" "$file" "$zsk" "$ksk" || { echo "FAIL signing $zone"; return 1; }
  cat "$ksk.ds" >>anchors.ds
}
nsd_start() {
  local port=$1; shift
  {
    printf 'server:\n  ip-address: 127.0.0.1@%s\n  username: ""\n  chroot: ""\n  database: ""\n' "$port"
    printf '  zonesdir: "%s"\n  zonelistfile: "%s/zone.list"\n  xfrdfile: "%s/xfrd.state"\n' "$PWD" "$PWD" "$PWD"
    printf '  pidfile: "%s/nsd.pid"\n  logfile: "%s/nsd.log"\n  verbosity: 1\n' "$PWD" "$PWD"
    # No response rate limiting: every query comes from 127.0.0.1, many at once.
    printf '  rrl-ratelimit: 0\n'
    # No remote control: its fixed port (8952) would keep two tests from running at once.
    printf 'remote-control:\n  control-enable: no\n'
    for z in "$@"; do printf 'zone:\n  name: %s\n  zonefile: %s\n' "${z%%=*}" "${z#*=}"; done
  } >nsd.conf
  nsd -d -c nsd.conf >nsd.out 2>&1 &
  nsd_pid=$!
  for _ in $(seq 50); do grep -q "nsd started" nsd.log 2>/dev/null && return 0; sleep 0.1; done
  echo "FAIL nsd did not start: $(cat nsd.out nsd.log 2>/dev/null)"; return 1
}
test_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=tlsrpt-test-ca \
    -keyout ca.key -out ca.pem >/dev/null 2>&1
}
leaf() {
  local name=$1 days=$2; shift 2
  local san; san=$(printf 'DNS:%s,' "$@"); san=${san%,}
  local key=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
  [ "${LEAF_KEY:-}" = rsa ] && key=(-newkey rsa:2048)
  openssl req "${key[@]}" -nodes -subj "/CN=$1" -keyout "$name.key" -out "$name.csr" >/dev/null 2>&1
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" -out "$name.pem" \
    -extfile <(printf 'subjectAltName=%s' "$san") >/dev/null 2>&1
}
spki_sha256() { openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }
