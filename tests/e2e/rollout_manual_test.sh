#!/usr/bin/env bash
# The roll-out without dynamic updates (no dns.update_server): tlsrpt prints the _mta-sts record
# to publish, and the change stays pending until its own posture check reads the new id from DNS,
# validated by DNSSEC. nsd serves the signed zone; the "operator" edits it, signs it again with
# the same keys and reloads nsd.
# Usage: tests/e2e/rollout_manual_test.sh path/to/tlsrpt
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
tmp=$(mktemp -d)
serve_pid=
trap '[ -n "$serve_pid" ] && kill $serve_pid 2>/dev/null; [ -n "$nsd_pid" ] && kill $nsd_pid 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
pg_start >/dev/null || exit 1
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null || exit 1
test_ports rollout 2 || exit 1
dns_port=$PORT
M=manual.example
cd "$tmp"
zone() {  # ID: the zone file with _mta-sts carrying ID, signed with the same keys each time
  { zone_head $M
    # a 1 s TTL: the posture check's resolver caches the record no longer than that
    printf '@ MX 10 mx.%s.\nmx A 127.0.0.1\n_mta-sts 1 TXT "v=STSv1; id=%s"\n' $M "$1"
    printf '_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tls@%s"\n' $M
  } >$M.zone
  ldns-signzone -f $M.zone.signed $M.zone "$zsk" "$ksk" || echo "FAIL signing"
}
ksk=$(ldns-keygen -a ECDSAP256SHA256 -k $M) zsk=$(ldns-keygen -a ECDSAP256SHA256 $M)
cat "$ksk.ds" >anchors.ds
zone old1
nsd_start "$dns_port" "$M=$M.zone.signed" || exit 1
cat >tlsrpt.toml <<TOML
[smtp]
listen = []
[http]
listen = []
[dns]
server = "127.0.0.1:$dns_port"
trust_anchor_file = "$tmp/anchors.ds"
timeout = "2s"
[checks]
interval = "2s"
timeout = "2s"
smtp_port = $((dns_port + 1))
https_port = $((dns_port + 1))
[policy]
domains = ["$M"]
TOML
TLSRPT_DKIM_MODE=off TLSRPT_SERVER_ALLOW_ROOT=true "$tlsrpt" --config tlsrpt.toml serve --database-url "$PG_URL" >serve.log 2>&1 &
serve_pid=$!
rollout() { "$tlsrpt" --config tlsrpt.toml rollout --database-url "$PG_URL" "$@"; }
json() { python3 -c "import json,sys; d=json.load(open('out.json')); print($1)"; }
for _ in $(seq 300); do [ "$(sql "SELECT count(*) FROM posture_checks WHERE domain = '$M'")" -gt 0 ] && break; sleep 0.1; done
rollout $M testing >out.txt
check "testing: applied" 0 $?
rollout $M status --json >out.json
id=$(json "d['policy']['id']")
check "no update server: pending, tlsrpt writes nothing itself" "pending False" "$(json "d['dns']['state'], d['dns']['update']" | tr -d "(),'")"
check "the exact record to publish is printed" "  publish: _mta-sts.$M. 300 IN TXT \"v=STSv1; id=$id\"" "$(grep '^  publish:' out.txt)"
check "the next step is to publish it" "publish-record dns-pending" "$(json "d['next']['step'], d['next']['blocked_by'][0]['reason']" | tr -d "(),'")"
check "enforce is refused while the id is not in DNS" "1 dns-pending" \
  "$(rollout $M enforce --force --reason "too early" --json >out.json; echo $?) $(json "[b['reason'] for b in d['refused']][0]")"
# Two more checks (2 s apart) read the old id: still pending.
sleep 5
check "still pending while DNS has the old id" pending "$(sql "SELECT dns_state FROM hosted_policies WHERE domain = '$M'")"
# The operator publishes the record; the next check reads it (validated) and the change counts.
zone "$id"
kill -HUP $nsd_pid
for _ in $(seq 300); do [ "$(sql "SELECT dns_state FROM hosted_policies WHERE domain = '$M'")" = confirmed ] && break; sleep 0.1; done
check "confirmed once a posture check read the new id" confirmed "$(sql "SELECT dns_state FROM hosted_policies WHERE domain = '$M'")"
check "... which DNSSEC validated (no bogus finding in that check)" 0 \
  "$(sql "SELECT count(*) FROM posture_findings f JOIN posture_checks c ON c.id = f.check_id WHERE c.domain = '$M' AND c.sts_id = '$id' AND f.finding = 'dnssec-bogus'")"
rollout $M status --json >out.json
check "status: confirmed, by the posture check" "confirmed 1" "$(json "d['dns']['state']") $(json "d['dns']['detail']" | grep -c 'read by the posture check')"
echo "rollout (manual DNS): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
