#!/usr/bin/env bash
# The MTA-STS roll-out end to end, on loopback, with real components: Knot DNS serving a signed
# hosted.example and taking TSIG-signed updates; Debian's pebble as the ACME CA and lego as the
# client, renewing in webroot mode through tlsrpt's ACME listener; tlsrpt serve hosting the
# policy (certificates from lego's directory, picked up without a restart), checking the
# domain's posture against its own SMTP listener as the MX, and publishing each policy id by
# dynamic update; `tlsrpt rollout` taking the domain through testing, a refused and a forced
# enforce, plan, rollback, none and a refused remove; hostile requests to the policy listener.
# As root, postfix-mta-sts-resolver's mta-sts-query then fetches the hosted policy through DNS
# and HTTPS on the real ports (53, 443) in a private mount namespace, at every step.
# Usage: tests/e2e/rollout_test.sh path/to/tlsrpt
set -u
tlsrpt=$(realpath "$1")
passed=0 failed=0
check() { if [ "$2" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected [$2] got [$3]"; return 1; fi; }
for tool in knotd keymgr kdig pebble lego curl openssl; do
  command -v $tool >/dev/null || { echo "skipped: $tool is not installed (scripts/install-deps.sh test installs it)"; exit 77; }
done
source tests/integration/pg.sh
source tests/integration/ports.sh
source tests/e2e/knot.sh
root=$PWD
tmp=$(mktemp -d)
chmod 755 "$tmp"
serve_pid= pebble_pid=
daemon_pid=
trap '[ -n "${POSTFIX_DIR:-}" ] && postfix -c "$POSTFIX_DIR/etc" stop >/dev/null 2>&1; [ -n "$daemon_pid" ] && kill $daemon_pid 2>/dev/null; [ -n "$serve_pid" ] && kill $serve_pid 2>/dev/null; [ -n "$pebble_pid" ] && kill $pebble_pid 2>/dev/null; knot_stop; pg_stop; rm -rf "$tmp"' EXIT
pg_start >/dev/null || exit 1
"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null || exit 1
test_ports rollout 8 || exit 1
dns=$PORT acme=$((PORT + 1)) pebble_port=$((PORT + 2)) pebble_mgmt=$((PORT + 3)) policy=$((PORT + 4)) mx=$((PORT + 5))
api=http://127.0.0.1:$((PORT + 6))
READ=read-token-0123456789abcdef ADMIN=admin-token-0123456789abcdef
as_root=0
# The independent client needs the real ports: 443 on 127.0.0.1, 53 on 127.0.53.53 (root, and
# both free: another run of this test on the machine holds them).
if [ "$(id -u)" = 0 ] && python3 -c "
import socket, sys
for address, port, kind in (('127.0.0.1', 443, socket.SOCK_STREAM), ('127.0.53.53', 53, socket.SOCK_STREAM),
                            ('127.0.53.53', 53, socket.SOCK_DGRAM)):
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((address, port))
        except OSError:
            sys.exit(1)"; then
  as_root=1
fi
[ "$(id -u)" = 0 ] && [ $as_root = 0 ] && echo "port 443 or 127.0.53.53:53 is in use: the policy listener takes a port of its own"
[ $as_root = 1 ] && policy=443  # mta-sts-query fetches from port 443 only
D=shop.hosted.example
# What an independent MTA-STS client sees: postfix-mta-sts-resolver's mta-sts-query, through DNS
# (knot on 127.0.53.53:53, in a private mount namespace's resolv.conf) and HTTPS on port 443,
# trusting pebble's root: "MODE ID", or its failure.
printf 'nameserver 127.0.53.53\noptions timeout:1 attempts:1\n' >"$tmp/resolv.conf"
sts_query() {
  unshare -m sh -c "mount --bind $tmp/resolv.conf /etc/resolv.conf && SSL_CERT_FILE=$tmp/pebble-root.pem exec mta-sts-query $D" \
    2>&1 | python3 -c "
import re, sys
out = sys.stdin.read()
m = re.search(r\"VALID: 1>, \\('([^']*)', \\{.*'mode': '([a-z]+)'\", out)
print(f'{m.group(2)} {m.group(1)}' if m else 'failed: ' + out.strip()[-200:])"
}
query_ok=1
if [ $as_root != 1 ] || ! command -v mta-sts-query >/dev/null; then
  query_ok=0
  echo "skipped: mta-sts-query (needs root, ports 443 and 127.0.53.53:53 free, a private mount namespace, and postfix-mta-sts-resolver)"
fi
sts_check() {  # LABEL MODE ID
  [ $query_ok = 1 ] && check "mta-sts-query: $1" "$2 $3" "$(sts_query)"
}
json() { python3 -c "import json,sys; d=json.load(open('$tmp/out.json')); print($1)"; }
rollout() {  # ARGS...: runs tlsrpt rollout --json, the answer in $tmp/out.json; prints the exit status
  "$tlsrpt" --config "$tmp/tlsrpt.toml" rollout --database-url "$PG_URL" --json "$@" >"$tmp/out.json" 2>"$tmp/err.txt"
  echo $?
}

# DNS: the hosted zone, signed, with the MX and the policy host on loopback.
mkdir -p "$tmp/knot"
cat >"$tmp/knot/hosted.example.zone" <<ZONE
\$ORIGIN hosted.example.
\$TTL 60
@             SOA ns1 hostmaster 1 3600 600 86400 60
@             NS  ns1
ns1           A   127.0.0.1
shop          MX  10 mx.shop
mx.shop       A   127.0.0.1
mta-sts.shop  A   127.0.0.1
_mta-sts.shop TXT "v=STSv1; id=old1"
_smtp._tls.shop TXT "v=TLSRPTv1; rua=mailto:tls@hosted.example"
auto          MX  10 mx.shop
_mta-sts.auto TXT "v=STSv1; id=old1"
ready         MX  10 mx.shop
mta-sts.ready A   127.0.0.1
_mta-sts.ready TXT "v=STSv1; id=old1"
_smtp._tls.ready TXT "v=TLSRPTv1; rua=mailto:tls@hosted.example"
post          MX  10 mx.post
mx.post       A   127.0.0.1
mx2.post      A   127.0.0.1
mta-sts.post  A   127.0.0.1
_mta-sts.post TXT "v=STSv1; id=old1"
_smtp._tls.post TXT "v=TLSRPTv1; rua=mailto:tls@hosted.example"
ZONE
knot_listen=127.0.0.1@$dns
[ $as_root = 1 ] && knot_listen="[ 127.0.0.1@$dns, 127.0.53.53@53 ]"
sed_listen() { sed -i "s/listen: 127.0.0.1@$dns/listen: $knot_listen/" "$tmp/knot/knot.conf"; }
knot_start "$tmp/knot" "$dns" hosted.example 1 || exit 1
if [ $as_root = 1 ]; then  # a second address on port 53 for the resolver of mta-sts-query
  knot_stop; sed_listen
  knotd -c "$tmp/knot/knot.conf" >"$tmp/knot/knotd.log" 2>&1 & KNOT_PID=$!
  for _ in $(seq 200); do knotc -c "$tmp/knot/knot.conf" zone-status hosted.example 2>/dev/null | grep -q re-sign && break; sleep 0.05; done
  keymgr -c "$tmp/knot/knot.conf" hosted.example ds | grep ' DS [0-9]* 13 2 ' >"$tmp/knot/ta.ds"
fi
check "knot serves the old record" "v=STSv1; id=old1" "$(knot_txt _mta-sts.$D)"

# The CA: pebble, validating HTTP-01 on tlsrpt's ACME listener, names resolved by knot.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$tmp/pebble-key.pem" -out "$tmp/pebble-cert.pem" >/dev/null 2>&1
cat >"$tmp/pebble.json" <<JSON
{ "pebble": { "listenAddress": "127.0.0.1:$pebble_port", "managementListenAddress": "127.0.0.1:$pebble_mgmt",
  "certificate": "$tmp/pebble-cert.pem", "privateKey": "$tmp/pebble-key.pem",
  "httpPort": $acme, "tlsPort": 5001, "ocspResponderURL": "", "externalAccountBindingRequired": false } }
JSON
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
  pebble -config "$tmp/pebble.json" -dnsserver "127.0.0.1:$dns" >"$tmp/pebble.log" 2>&1 &
pebble_pid=$!

# The MX: tlsrpt's own SMTP listener with STARTTLS, a certificate for mx.shop.hosted.example.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=mx.$D \
  -addext subjectAltName=DNS:mx.$D,DNS:mx.post.hosted.example -keyout "$tmp/mx-key.pem" -out "$tmp/mx-cert.pem" >/dev/null 2>&1
mkdir -p "$tmp/webroot" "$tmp/lego/certificates"
for _ in $(seq 100); do curl -s --cacert "$tmp/pebble-cert.pem" "https://127.0.0.1:$pebble_mgmt/roots/0" >"$tmp/pebble-root.pem" && [ -s "$tmp/pebble-root.pem" ] && break; sleep 0.1; done
cat "$tmp/pebble-root.pem" "$tmp/mx-cert.pem" >"$tmp/ca.pem"

cat >"$tmp/tlsrpt.toml" <<TOML
[smtp]
listen = ["127.0.0.1:$mx"]
recipients = ["tls@hosted.example", "@post.hosted.example"]
tls_cert = "$tmp/mx-cert.pem"
tls_key = "$tmp/mx-key.pem"
[http]
listen = ["127.0.0.1:$((PORT + 6))"]
read_tokens = ["$READ"]
admin_tokens = ["$ADMIN"]
request_timeout = "2s"
max_connections_per_client = 8
[dns]
server = "127.0.0.1@$dns"
trust_anchor_file = "$tmp/knot/ta.ds"
update_server = "127.0.0.1:$dns"
tsig_key_file = "$KNOT_KEY_FILE"
[checks]
ca_file = "$tmp/ca.pem"
https_port = $policy
smtp_port = $mx
interval = "15s"
[policy]
listen = ["127.0.0.1:$policy"]
cert_dir = "$tmp/lego/certificates"
acme_listen = ["127.0.0.1:$acme"]
acme_webroot = "$tmp/webroot"
domains = ["$D", "gone.hosted.example", "post.hosted.example"]
[[domain]]
name = "auto.hosted.example"
hosted = true
auto_rollback = true
[[domain]]
name = "ready.hosted.example"
hosted = true
auto_enforce_days = 2
TOML
# ready.hosted.example: 15 clean days of reports from two organisations (what makes it ready).
python3 - "$tmp/reports" <<'PY'
import datetime, json, pathlib, sys
out = pathlib.Path(sys.argv[1]); out.mkdir()
today = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
for day in range(1, 16):
    for org in ("Google Inc.", "Microsoft Corporation"):
        start = today - datetime.timedelta(days=day)
        r = {"organization-name": org, "contact-info": "tls@reporter.example", "report-id": f"{org}-{day}",
             "date-range": {"start-datetime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "end-datetime": (start + datetime.timedelta(seconds=86399)).strftime("%Y-%m-%dT%H:%M:%SZ")},
             "policies": [{"policy": {"policy-type": "sts", "policy-domain": "ready.hosted.example",
                                      "policy-string": ["version: STSv1", "mode: testing", "mx: mx.shop.hosted.example", "max_age: 86400"],
                                      "mx-host": ["mx.shop.hosted.example"]},
                           "summary": {"total-successful-session-count": 100, "total-failure-session-count": 0}}]}
        (out / f"{org}-{day}.json").write_text(json.dumps(r))
PY
"$tlsrpt" ingest --database-url "$PG_URL" --no-progress "$tmp/reports"/*.json >/dev/null 2>&1 || echo "FAIL ingest of ready.hosted.example's reports"
TLSRPT_DKIM_MODE=off TLSRPT_SERVER_ALLOW_ROOT=true "$tlsrpt" --config "$tmp/tlsrpt.toml" serve --database-url "$PG_URL" >"$tmp/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 300); do grep -q "policy listening" "$tmp/serve.log" && break; sleep 0.1; done
check "serve: the policy listener is up" 1 "$(grep -c "policy listening on 127.0.0.1:$policy" "$tmp/serve.log")"

# A certificate from pebble, validated through tlsrpt's ACME listener.
for _ in $(seq 100); do grep -q "Listening on" "$tmp/pebble.log" && break; sleep 0.1; done
LEGO_CA_CERTIFICATES="$tmp/pebble-cert.pem" lego --accept-tos --server "https://127.0.0.1:$pebble_port/dir" \
  --email test@hosted.example --path "$tmp/lego" --domains "mta-sts.$D" --domains "mta-sts.ready.hosted.example" \
  --domains "mta-sts.post.hosted.example" --http --http.webroot "$tmp/webroot" run >"$tmp/lego.log" 2>&1
check "lego: pebble issued the certificate (validated through tlsrpt's ACME listener)" 0 $?
metric() { grep "^$1" "$tmp/metrics.txt" | sed 's/^[^ ]* //' | head -1; }
cert="$tmp/lego/certificates/mta-sts.$D.crt"
for _ in $(seq 150); do grep -q "serving the certificate of mta-sts.$D" "$tmp/serve.log" && break; sleep 0.1; done
check "serve picked the new certificate up without a restart" 1 "$(grep -c "serving the certificate of mta-sts.$D" "$tmp/serve.log")"
fetch() {  # [CURL ARGS...] URL-PATH: "status content-type" of the policy, the body in $tmp/body
  curl -s -o "$tmp/body" -w '%{http_code} %{content_type}' --cacert "$tmp/pebble-root.pem" \
    --resolve "mta-sts.$D:$policy:127.0.0.1" "$@"
}
check "no policy yet: 404" "404" "$(fetch "https://mta-sts.$D:$policy/.well-known/mta-sts.txt" | cut -d' ' -f1)"
served_serial() { openssl s_client -connect "127.0.0.1:$policy" -servername "mta-sts.$D" </dev/null 2>/dev/null |
  openssl x509 -noout -serial 2>/dev/null; }
check "the served certificate is lego's" "$(openssl x509 -noout -serial -in "$cert")" "$(served_serial)"

# The posture check has seen the MX before the roll-out starts (checks run within 10 s of start).
for _ in $(seq 300); do [ "$(sql "SELECT count(*) FROM posture_checks WHERE domain = '$D'")" -gt 0 ] && break; sleep 0.1; done
check "status before the roll-out: nothing hosted, next testing" "0 None testing" \
  "$(rollout $D status) $(json "d['policy'], d['next']['step']")"
start=$(date +%s%N)
check "testing: applied" 0 "$(rollout $D testing --reason "start the roll-out")"
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "testing: mode, mx from the posture check, max_age 1 day, DNS confirmed" \
  "testing ['mx.shop.hosted.example'] 86400 confirmed" \
  "$(json "d['policy']['mode'], d['policy']['mx'], d['policy']['max_age'], d['dns']['state']")"
id1=$(json "d['policy']['id']")
check "the new id is at most 32 letters and digits" 1 "$(echo "$id1" | grep -cE '^[A-Za-z0-9]{1,32}$')"
check "the id is in DNS (knot)" "v=STSv1; id=$id1" "$(knot_txt _mta-sts.$D)"
check "the state change and its DNS update took under 1 s (${took} ms)" 1 "$([ "$took" -lt 1000 ] && echo 1 || echo 0)"
echo "measured: tlsrpt rollout testing, with its DNS update and read-back: ${took} ms"
check "the policy is served: 200 text/plain" "200 text/plain" "$(fetch "https://mta-sts.$D:$policy/.well-known/mta-sts.txt")"
check "the policy text, CRLF line ends" "$(printf 'version: STSv1\r\nmode: testing\r\nmx: mx.shop.hosted.example\r\nmax_age: 86400\r\n')" "$(cat "$tmp/body")"
sts_check "testing as served and published" testing "$id1"
check "history: who, why, old and new" "cli testing start the roll-out None testing" \
  "$(json "' '.join(str(x) for x in (d['history'][0]['actor'], d['history'][0]['action'], d['history'][0]['reason'], d['history'][0]['old'], d['history'][0]['new']['mode']))")"

# enforce: refused without evidence; forced only with a reason, and recorded.
check "enforce without reports: refused (exit 1)" 1 "$(rollout $D enforce)"
check "... because the verdict is not ready" "not-ready" "$(json "','.join(r['reason'] for r in d['refused'])")"
check "... and nothing changed" "testing $id1" "$(json "d['policy']['mode'], d['policy']['id']" | tr -d "(),'")"
check "--force without a reason: usage error" 2 "$(rollout $D enforce --force)"
check "--force with a reason: applied" 0 "$(rollout $D enforce --force --reason "ops ticket 42")"
check "forced enforce: mode, max_age 1 week, forced, recorded" "enforce 604800 True True ops ticket 42" \
  "$(json "d['policy']['mode'], d['policy']['max_age'], d['forced'], d['history'][0]['forced'], d['history'][0]['reason']" | tr -d "(),'")"
id2=$(json "d['policy']['id']")
check "a new id, in DNS" "v=STSv1; id=$id2" "$(knot_txt _mta-sts.$D)"
fetch "https://mta-sts.$D:$policy/.well-known/mta-sts.txt" >/dev/null
check "enforce is served" "mode: enforce" "$(grep -o 'mode: enforce' "$tmp/body")"
sts_check "enforce" enforce "$id2"

# plan: a new MX the enforced policy does not list.
check "plan: a new MX outside the policy does not pass (exit 1)" 1 "$(rollout $D plan --mx mx2.$D)"
check "plan: named, with the safe order" "mx-not-covered 4" "$(json "d['plan']['problems'][0]['reason'], len(d['plan']['steps'])" | tr -d "(),'")"
check "plan: a covered MX passes" 0 "$(rollout $D plan --mx mx.$D)"

# rollback and none: each a new id in DNS; remove refused while senders may hold the policy.
check "rollback: applied" 0 "$(rollout $D rollback --reason "MX trouble")"
check "rollback: testing, 1 day, new id in DNS" "testing 86400 1" \
  "$(json "d['policy']['mode'], d['policy']['max_age']" | tr -d "(),'") $(knot_txt _mta-sts.$D | grep -c "$(json "d['policy']['id']")")"
sts_check "after rollback" testing "$(json "d['policy']['id']")"
check "rollback again: refused (not enforced)" "1 not-enforced" "$(rollout $D rollback) $(json "d['refused'][0]['reason']")"
check "none: applied, served" "0 none" "$(rollout $D none --reason "leaving MTA-STS") $(fetch "https://mta-sts.$D:$policy/.well-known/mta-sts.txt" >/dev/null; sed -n 's/^mode: \(.*\)\r$/\1/p' "$tmp/body")"
sts_check "none" none "$(json "d['policy']['id']")"
check "remove: refused while a sender may hold the enforce policy (its max_age)" "1 still-held" \
  "$(rollout $D remove) $(json "d['refused'][0]['reason']")"
check "... and it says until when" 1 "$(json "d['held_until']" | grep -c "^$(date -u -d '+7 days' +%Y-%m-%d)")"

# The API: the same answer as the CLI, changes with an admin token only, as schema/openapi.yaml says.
conforms() { (cd "$root" && python3 tests/e2e/openapi_conforms.py "/api/v1/domains/{domain}/rollout" "$1" "$2" "$3" >&2; echo $?); }
# (read again when a posture check, every 15 s, landed between the two: it changes the answer)
for _ in 1 2 3; do
  checks_before=$(sql "SELECT count(*) FROM posture_checks")
  curl -s -H "Authorization: Bearer $READ" "$api/api/v1/domains/$D/rollout" >"$tmp/api.json"
  rollout $D status >/dev/null
  [ "$(sql "SELECT count(*) FROM posture_checks")" = "$checks_before" ] && break
done
check "API GET: the CLI's answer" "$(python3 -c "import json; print(json.load(open('$tmp/out.json')))")" \
  "$(python3 -c "import json; print(json.load(open('$tmp/api.json')))")"
check "OpenAPI: GET" 0 "$(conforms GET 200 "$tmp/api.json")"
post() {  # TOKEN FORM: the status, the answer in $tmp/api.json
  curl -s -o "$tmp/api.json" -w '%{http_code}' -H "Authorization: Bearer $1" --data "$2" "$api/api/v1/domains/$D/rollout"
}
check "API POST with a read token: 403" 403 "$(post "$READ" "action=testing")"
check "API POST as JSON: 415" 415 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
  -H 'Content-Type: application/json' --data '{"action":"testing"}' "$api/api/v1/domains/$D/rollout")"
check "API POST force without a reason: 400" 400 "$(post "$ADMIN" "action=enforce&force=true")"
check "API POST remove: refused, 409" 409 "$(post "$ADMIN" "action=remove")"
check "OpenAPI: POST refused (409)" 0 "$(conforms POST 409 "$tmp/api.json")"
check "API POST testing (from none): 200, served, recorded with the token's position" "200 testing admin token 1" \
  "$(post "$ADMIN" "action=testing&reason=back+again") $(python3 -c "
import json; d = json.load(open('$tmp/api.json')); print(d['policy']['mode'], d['history'][0]['actor'])")"
check "OpenAPI: POST applied (200)" 0 "$(conforms POST 200 "$tmp/api.json")"
check "... its id in DNS" "v=STSv1; id=$(python3 -c "import json; print(json.load(open('$tmp/api.json'))['policy']['id'])")" \
  "$(knot_txt _mta-sts.$D)"
curl -s -H "Authorization: Bearer $READ" "$api/api/v1/domains/$D/overview" >"$tmp/overview.json"
check "OpenAPI: the domain overview with its roll-out" 0 \
  "$(cd "$root" && python3 tests/e2e/openapi_conforms.py "/api/v1/domains/{domain}/overview" GET 200 "$tmp/overview.json" >&2; echo $?)"
curl -s -c "$tmp/cookies" -b "$tmp/cookies" "$api/login" >/dev/null
csrf=$(grep tlsrpt_login "$tmp/cookies" | awk '{print $7}')
curl -s -c "$tmp/cookies" -b "$tmp/cookies" --data "csrf=$csrf&token=$READ&next=/domains/$D" "$api/login" >/dev/null
curl -s -b "$tmp/cookies" "$api/domains/$D" >"$tmp/page.html"
check "the domain page: the hosted policy's section, mode and id" "1 1 1" \
  "$(grep -c 'id="rollout"' "$tmp/page.html") $(grep -c "Served: <strong>testing</strong>" "$tmp/page.html") $(grep -c "$(python3 -c "import json; print(json.load(open('$tmp/api.json'))['policy']['id'])")" "$tmp/page.html")"
check "the domain page: the history, with the forced step" "1" "$(grep -c 'enforce (forced)' "$tmp/page.html")"
check "none again (CLI)" 0 "$(rollout $D none --reason "leaving MTA-STS")"

# A domain that leaves: none is served for the longest max_age it ever served (2 s here), and only
# then does remove end the hosting.
G=gone.hosted.example
check "gone: testing with a 2 s max_age" "0 2" "$(TLSRPT_ROLLOUT_TESTING_MAX_AGE=2s rollout $G testing --mx mx.$G --wait 0) $(json "d['policy']['max_age']")"
check "gone: none" 0 "$(TLSRPT_ROLLOUT_TESTING_MAX_AGE=2s rollout $G none --wait 0)"
check "gone: remove at once is refused" "1 still-held" "$(rollout $G remove) $(json "d['refused'][0]['reason']")"
sleep 3
check "gone: remove once max_age has passed" "0 True" "$(rollout $G remove) $(json "d['applied']")"
check "gone: the history keeps the end of hosting" "remove None" "$(json "d['history'][0]['action'], d['history'][0]['new']" | tr -d "(),'")"

# A real Postfix whose TLS policy comes from postfix-mta-sts-resolver's daemon (socketmap), both
# resolving through knot: mail to post.hosted.example is delivered under testing, deferred under
# enforce once its MX moved to a host the policy does not list, and delivered again after rollback.
if [ $query_ok = 1 ] && command -v postfix >/dev/null && command -v swaks >/dev/null; then
  source tests/e2e/postfix.sh
  P=post.hosted.example
  daemon_port=$((PORT + 7))
  cat >"$tmp/mta-sts-daemon.yml" <<YML
host: 127.0.0.1
port: $daemon_port
reuse_port: true
cache_grace: 0
cache: { type: internal, options: { cache_size: 100 } }
default_zone: { strict_testing: false, timeout: 4 }
YML
  unshare -m sh -c "mount --bind $tmp/resolv.conf /etc/resolv.conf && SSL_CERT_FILE=$tmp/pebble-root.pem exec mta-sts-daemon -c $tmp/mta-sts-daemon.yml" \
    >"$tmp/mta-sts-daemon.log" 2>&1 &
  daemon_pid=$!
  mkdir -p "$tmp/postfix/queue/etc"
  cp "$tmp/resolv.conf" "$tmp/postfix/queue/etc/resolv.conf"  # the chrooted smtp client's resolver
  pf_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  POSTFIX_EXTRA="relay_domains = $P
smtp_tls_security_level = may
smtp_tls_policy_maps = socketmap:inet:127.0.0.1:$daemon_port:postfix
smtp_tls_CAfile = $tmp/ca.pem
smtp_tls_loglevel = 1" POSTFIX_TRANSPORT="$P smtp:$P:$mx" \
    unshare -m sh -c ". tests/e2e/postfix.sh && mount --bind $tmp/resolv.conf /etc/resolv.conf && postfix_start $tmp/postfix $pf_port 0"
  python3 -c "
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(('127.0.0.1', $daemon_port), timeout=1).close(); break
    except OSError:
        time.sleep(0.1)"
  mail_to() {  # N: "sent" or "deferred" for a message to mNUMBER@post.hosted.example (within 20 s)
    swaks --server "127.0.0.1:$pf_port" --from a@relay.test --to "m$1@$P" --h-Subject "rollout $1" >/dev/null 2>&1
    for _ in $(seq 200); do
      grep -q "to=<m$1@$P>.*status=sent" "$tmp/postfix/maillog" 2>/dev/null && { echo sent; return; }
      grep -q "to=<m$1@$P>.*status=deferred" "$tmp/postfix/maillog" 2>/dev/null && { echo deferred; return; }
      sleep 0.1
    done
    echo "no outcome"
  }
  for _ in $(seq 300); do [ "$(sql "SELECT count(*) FROM posture_checks WHERE domain = '$P'")" -gt 0 ] && break; sleep 0.1; done
  check "postfix: testing (mx.post)" 0 "$(rollout $P testing)"
  check "postfix: under testing, delivered" sent "$(mail_to 1)"
  check "postfix: enforce" 0 "$(rollout $P enforce --force --reason "postfix test")"
  knsupdate -k "$KNOT_KEY_FILE" <<UPD
server 127.0.0.1 $dns
zone hosted.example.
update delete $P. MX
update add $P. 60 MX 10 mx2.post.hosted.example.
send
UPD
  check "postfix: the MX moved to mx2.post, which the enforce policy does not list" "10 mx2.post.hosted.example." \
    "$(kdig @127.0.0.1 -p "$dns" +short MX $P)"
  # The new MX has a certificate of its own (naming mx2.post only): the SMTP listener reloads one.
  cp "$tmp/mx-cert.pem" "$tmp/mx-cert.orig"; cp "$tmp/mx-key.pem" "$tmp/mx-key.orig"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=mx2.$P \
    -addext subjectAltName=DNS:mx2.$P -keyout "$tmp/mx-key.pem" -out "$tmp/mx-cert.pem" >/dev/null 2>&1
  kill -HUP $serve_pid
  for _ in $(seq 50); do [ "$(grep -c "reload: smtp TLS certificate" "$tmp/serve.log")" -ge 1 ] && break; sleep 0.1; done
  check "postfix: under enforce, deferred (the MX is not in the policy)" deferred "$(mail_to 2)"
  check "postfix: ... because of the policy's match" 1 \
    "$(grep -c "m2@$P.*status=deferred.*\(certificate\|verif\|match\)" "$tmp/postfix/maillog" | awk '{print ($1 > 0)}')"
  check "postfix: rollback" 0 "$(rollout $P rollback --reason "the MX moved")"
  check "postfix: after rollback, delivered to the MX outside the policy" sent "$(mail_to 3)"
  mv "$tmp/mx-cert.orig" "$tmp/mx-cert.pem"; mv "$tmp/mx-key.orig" "$tmp/mx-key.pem"
  kill -HUP $serve_pid
  for _ in $(seq 50); do [ "$(grep -c "reload: smtp TLS certificate" "$tmp/serve.log")" -ge 2 ] && break; sleep 0.1; done
  cp "$tmp/postfix/maillog" /tmp/rollout-maillog 2>/dev/null
  postfix_stop
  kill $daemon_pid 2>/dev/null
  daemon_pid=
else
  echo "skipped: postfix with postfix-mta-sts-resolver (needs root, postfix, swaks, mta-sts-query)"
fi

# Hostile requests to the policy listener.
check "Host header for another domain: 404" 404 \
  "$(fetch -H "Host: mta-sts.other.example" "https://mta-sts.$D:$policy/.well-known/mta-sts.txt" | cut -d' ' -f1)"
for path in "/.well-known/mta-sts.txt?x=1" "/.well-known/mta-sts.txt/" "/.well-known/%6dta-sts.txt" \
            "//.well-known/mta-sts.txt" "/.well-known/./mta-sts.txt" "/" "/.well-known/acme-challenge/x"; do
  check "path $path: 404" 404 "$(fetch --path-as-is "https://mta-sts.$D:$policy$path" | cut -d' ' -f1)"
done
check "POST: 405" 405 "$(fetch -X POST -d x "https://mta-sts.$D:$policy/.well-known/mta-sts.txt" | cut -d' ' -f1)"
openssl s_client -connect "127.0.0.1:$policy" -servername "mta-sts.other.example" </dev/null >"$tmp/s_client.txt" 2>&1
check "SNI of an unhosted name: no certificate shown" 0 "$(grep -c 'BEGIN CERTIFICATE' "$tmp/s_client.txt")"
check "... the handshake is refused (unrecognized name)" 1 "$(grep -c 'unrecognized name' "$tmp/s_client.txt")"
openssl s_client -connect "127.0.0.1:$policy" </dev/null >"$tmp/s_client.txt" 2>&1
check "no SNI: no certificate shown" 0 "$(grep -c 'BEGIN CERTIFICATE' "$tmp/s_client.txt")"
openssl s_client -connect "127.0.0.1:$policy" -servername "mta-sts.$D" -tls1_1 </dev/null >"$tmp/s_client.txt" 2>&1
check "TLS 1.1: refused" 0 "$(grep -c 'BEGIN CERTIFICATE' "$tmp/s_client.txt")"
# Slow clients: the policy listener has the HTTP server's bounds (here 2 s to send a request, 8
# connections per client).
python3 - "$policy" "$D" "$tmp/pebble-root.pem" >"$tmp/slow.txt" <<'PY'
import socket, ssl, sys, time
port, domain, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
def tls():
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="mta-sts." + domain)
slow = tls()
slow.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts." + domain.encode())  # never finished
start = time.time()
try:
    closed = slow.recv(100) == b""
except (ssl.SSLError, OSError):
    closed = True
print("slow request closed" if closed else "slow request answered", round(time.time() - start))
held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(8)]
extra = socket.create_connection(("127.0.0.1", port), timeout=10)
try:
    extra.settimeout(3)
    refused = extra.recv(1) == b""
except ConnectionResetError:
    refused = True
except socket.timeout:
    refused = False
print("ninth connection refused" if refused else "ninth connection kept")
PY
check "a request sent too slowly is cut after http.request_timeout (2 s)" "slow request closed 2" "$(head -1 "$tmp/slow.txt")"
check "connections past the per-client bound are closed at once" "ninth connection refused" "$(sed -n 2p "$tmp/slow.txt")"
for t in "..%2f..%2fetc%2fpasswd" "..%2F" "%2e%2e" "a/../../x"; do
  check "ACME path trick $t: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "http://127.0.0.1:$acme/.well-known/acme-challenge/$t")"
done

# Automatic enforce: ready.hosted.example (auto_enforce_days = 2) goes to testing; once a posture
# check reads the hosted policy (through the policy listener: its certificate is the second name
# of lego's), the verdict is ready. After two days of that (the fixture moves ready_since back),
# the next check enforces it by itself.
R=ready.hosted.example
for _ in $(seq 300); do [ "$(sql "SELECT count(*) FROM posture_checks WHERE domain = '$R'")" -gt 0 ] && break; sleep 0.1; done
check "ready: testing" 0 "$(rollout $R testing)"
ready_id=$(json "d['policy']['id']")
for _ in $(seq 450); do [ "$(sql "SELECT count(*) FROM posture_checks WHERE domain = '$R' AND sts_id = '$ready_id' AND mode = 'testing'")" -gt 0 ] && break; sleep 0.1; done
check "ready: a posture check read the hosted policy (served under the certificate's second name)" 1 \
  "$(sql "SELECT count(*) > 0 FROM posture_checks WHERE domain = '$R' AND sts_id = '$ready_id' AND mode = 'testing'" | tr t 1)"
"$tlsrpt" --config "$tmp/tlsrpt.toml" readiness --database-url "$PG_URL" $R >"$tmp/ready.txt"
check "ready: the verdict is ready" "0 ready" "$? $(head -1 "$tmp/ready.txt" | cut -d' ' -f2)"
check "ready: still testing before two days of ready" testing "$(sql "SELECT mode FROM hosted_policies WHERE domain = '$R'")"
sql "UPDATE hosted_policies SET ready_since = now() - interval '2 days' WHERE domain = '$R'" >/dev/null
for _ in $(seq 450); do [ "$(sql "SELECT mode FROM hosted_policies WHERE domain = '$R'")" = enforce ] && break; sleep 0.1; done
check "ready: enforced by itself after two days of ready" enforce "$(sql "SELECT mode FROM hosted_policies WHERE domain = '$R'")"
rollout $R status >/dev/null
check "ready: recorded as auto, with its reason" "auto enforce auto-enforce: the readiness verdict has been ready for 2 days" \
  "$(json "d['history'][0]['actor'], d['history'][0]['action'], d['history'][0]['reason']" | tr -d "(),'")"
check "ready: its id in DNS" 1 "$(knot_txt _mta-sts.$R | grep -c "$(json "d['policy']['id']")")"

# Automatic rollback: auto.hosted.example (auto_rollback = true) is enforced; its MX certificate
# expires (the SMTP listener reloads an expired one on SIGHUP); within one check interval (15 s)
# tlsrpt goes back to testing by itself, publishes the new id, counts it for the alert.
A=auto.hosted.example
for _ in $(seq 300); do [ "$(sql "SELECT count(*) FROM posture_checks WHERE domain = '$A'")" -gt 0 ] && break; sleep 0.1; done
check "auto: testing" 0 "$(rollout $A testing)"
check "auto: enforce (forced: no reports)" 0 "$(rollout $A enforce --force --reason "test of the automatic rollback")"
enforced_id=$(json "d['policy']['id']")
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=mx.$D -keyout "$tmp/mx-key.new" -out "$tmp/mx.csr" >/dev/null 2>&1
openssl x509 -req -in "$tmp/mx.csr" -signkey "$tmp/mx-key.new" -days 0 -out "$tmp/mx-cert.new" \
  -extfile <(printf 'subjectAltName=DNS:mx.%s' "$D") >/dev/null 2>&1
sleep 1  # the 0-day certificate is now expired
mv "$tmp/mx-key.new" "$tmp/mx-key.pem"; mv "$tmp/mx-cert.new" "$tmp/mx-cert.pem"
kill -HUP $serve_pid
for _ in $(seq 450); do [ "$(sql "SELECT mode FROM hosted_policies WHERE domain = '$A'")" = testing ] && break; sleep 0.1; done
check "auto: rolled back to testing by itself within a check interval" testing "$(sql "SELECT mode FROM hosted_policies WHERE domain = '$A'")"
rollout $A status >/dev/null
check "auto: recorded as auto, with the MX's failure as the reason" "auto rollback 1" \
  "$(json "d['history'][0]['actor'], d['history'][0]['action']" | tr -d "(),'") $(json "d['history'][0]['reason']" | grep -c "auto-rollback: the MX fails its check (mx.shop.hosted.example: mx-cert-expired")"
check "auto: a new id, in DNS" "1 1" "$([ "$(json "d['policy']['id']")" != "$enforced_id" ] && echo 1) $(knot_txt _mta-sts.$A | grep -c "$(json "d['policy']['id']")")"
curl -s "$api/metrics" -H "Authorization: Bearer $READ" >"$tmp/metrics.txt"
check "auto: counted for the alert" 1 "$(metric 'tlsrpt_rollout_automatic_steps_total{domain="auto.hosted.example",step="rollback"}')"
check "metrics: the served certificate's expiry" "$(date -d "$(openssl x509 -noout -enddate -in "$cert" | cut -d= -f2)" +%s)" \
  "$(metric "tlsrpt_policy_certificate_expiry_timestamp_seconds{host=\"mta-sts.$D\"}" | awk '{printf "%d", $1}')"
check "metrics: policies served" 1 "$([ "$(metric 'tlsrpt_policy_requests_total{result="policy"}')" -gt 0 ] && echo 1)"

# Renewal: lego orders a new certificate in webroot mode (pebble's last for years, so `renew`
# would find nothing due); the new one is served within 10 s, no restart.
old_serial=$(served_serial)
LEGO_CA_CERTIFICATES="$tmp/pebble-cert.pem" lego --accept-tos --server "https://127.0.0.1:$pebble_port/dir" \
  --email test@hosted.example --path "$tmp/lego" --domains "mta-sts.$D" --domains "mta-sts.ready.hosted.example" \
  --domains "mta-sts.post.hosted.example" --http --http.webroot "$tmp/webroot" run >"$tmp/lego-renew.log" 2>&1
check "lego renewed" 0 $?
new_serial=$(openssl x509 -noout -serial -in "$cert")
for _ in $(seq 150); do [ "$(served_serial)" = "$new_serial" ] && break; sleep 0.1; done
check "the renewed certificate is served without a restart" "$new_serial" "$(served_serial)"
check "... and it is another one" 1 "$([ "$old_serial" != "$new_serial" ] && echo 1 || echo 0)"
check "serve never restarted" 1 "$(kill -0 $serve_pid 2>/dev/null && echo 1 || echo 0)"

echo "rollout: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
