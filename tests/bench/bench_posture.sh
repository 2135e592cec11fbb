#!/usr/bin/env bash
# Posture checks at scale: N monitored domains (1,000 by default) checked against a local world on
# loopback, at the configured concurrency (checks.concurrency, 8), by the same pass that serve
# runs (`tlsrpt check` uses it too). The world: nsd serving one DNSSEC-signed zone with every
# domain's _mta-sts, _smtp._tls, MX and policy-host records; an HTTPS policy host (a test CA);
# one tlsrpt SMTP listener with STARTTLS as every domain's MX.
#   Baseline, measured in the same run: one domain at a time (concurrency 1) over 20 domains,
#   giving one check's time T1. The goal: N domains at concurrency C within 1.5 x (T1 x N / C).
#   Memory: peak RSS of the N-domain run against a run of N/10 domains (it must not grow with N).
#   Latency: on the internet a check mostly waits (DNS, TLS and SMTP round trips); on loopback
#   it would be bound by this machine's CPU, shared with the world it talks to. The policy host
#   answers after DELAY_MS (100) to stand in for the wait; DELAY_MS=0 measures the CPU-bound case.
# WRAP="perf record -g -o /tmp/perf.data" runs each check under a profiler (the last run, the N domains, stays).
# Usage: [DELAY_MS=100] tests/bench/bench_posture.sh [build/tlsrpt] [N (1000)] [C (8)]
set -euo pipefail
# A benchmark run as root: serve stays root (it gives up root only for a deployment, server.user).
export TLSRPT_SERVER_ALLOW_ROOT=${TLSRPT_SERVER_ALLOW_ROOT:-true}
tlsrpt=$(realpath "${1:-build/tlsrpt}")
n=${2:-1000}
c=${3:-8}
cd "$(dirname "$0")/../.."
. tests/integration/pg.sh
. tests/integration/nsd.sh
tmp=$(mktemp -d)
pids=()
trap 'set +e; for p in "${pids[@]}"; do kill $p 2>/dev/null; done; [ -n "$nsd_pid" ] && kill $nsd_pid; pg_stop; rm -rf "$tmp"' EXIT
pg_start >/dev/null
cd "$tmp"
dns_port=$((20000 + RANDOM % 12000)) smtp_port=$((dns_port + 1)) https_port=$((dns_port + 2))
names() { for i in $(seq -w 1 "$n"); do echo "d$i.bench.example"; done; }

test_ca
leaf mx 30 mx.bench.example
leaf policy 30 $(names | sed 's/^/mta-sts./')
{
  printf '$ORIGIN bench.example.\n$TTL 300\n@ SOA ns.bench.example. admin.bench.example. 1 3600 600 86400 300\n'
  printf '@ NS ns.bench.example.\nns A 127.0.0.1\nmx A 127.0.3.1\n'
  for d in $(names); do
    l=${d%.bench.example}
    printf '%s MX 10 mx.bench.example.\n_mta-sts.%s TXT "v=STSv1; id=1"\nmta-sts.%s A 127.0.3.2\n' "$l" "$l" "$l"
    printf '_smtp._tls.%s TXT "v=TLSRPTv1; rua=mailto:tls@example.net"\n' "$l"
  done
} >bench.zone
sign_zone bench.example bench.zone >/dev/null
nsd_start "$dns_port" bench.example=bench.zone.signed >/dev/null

env TLSRPT_DATABASE_URL="$PG_URL" TLSRPT_HTTP_LISTEN= TLSRPT_SMTP_RECIPIENTS=tls@example.net TLSRPT_SMTP_HOSTNAME=mx.bench.example \
  TLSRPT_SMTP_MAX_SESSIONS=500 TLSRPT_SMTP_MAX_SESSIONS_PER_CLIENT=500 \
  TLSRPT_SMTP_TLS_CERT="$PWD/mx.pem" TLSRPT_SMTP_TLS_KEY="$PWD/mx.key" \
  "$tlsrpt" serve --smtp-listen "127.0.3.1:$smtp_port" >serve.log 2>&1 &
pids+=($!)
# The policy host: the TLS handshake in each connection's own thread.
python3 - "$https_port" "${DELAY_MS:-100}" >https.log 2>&1 <<'PY' &
import http.server, ssl, sys, time
delay = int(sys.argv[2]) / 1000
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain("policy.pem", "policy.key")
body = b"version: STSv1\nmode: enforce\nmx: mx.bench.example\nmax_age: 86400\n"
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(delay)
        self.send_response(200); self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 512
    def finish_request(self, request, address):
        self.RequestHandlerClass(ctx.wrap_socket(request, server_side=True), address, self)
server = Server(("127.0.3.2", int(sys.argv[1])), Handler)
print("ready", flush=True)
server.serve_forever()
PY
pids+=($!)
for _ in $(seq 100); do grep -q ready https.log && grep -q "listening on" serve.log && break; sleep 0.1; done

export TLSRPT_DNS_SERVER="127.0.0.1:$dns_port" TLSRPT_DNS_TRUST_ANCHOR_FILE=$PWD/anchors.ds TLSRPT_CHECKS_CA_FILE=$PWD/ca.pem \
  TLSRPT_CHECKS_SMTP_PORT=$smtp_port TLSRPT_CHECKS_HTTPS_PORT=$https_port TLSRPT_SMTP_RECIPIENTS=tls@example.net
calc() { python3 -c "print($1)"; }
# One run: seconds, peak RSS (KiB), domains checked without an error finding.
run() {  # CONCURRENCY DOMAINS...
  local conc=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  TLSRPT_CHECKS_CONCURRENCY=$conc ${WRAP:-} /usr/bin/time -f '%M %U %S' -o rss.txt "$tlsrpt" check --json "$@" >out.json 2>err.txt || true
  t1=$(date +%s.%N)
  read -r rss user sys <rss.txt
  echo "$(calc "$t1 - $t0") $rss $(grep -c '"findings":\[\]' out.json) $(calc "$user + $sys")"
}
all=($(names))
run 1 "${all[@]:0:3}" >/dev/null  # warm-up (caches of the OS, not of tlsrpt: every run is a new process)
read -r t_one _ _ _ <<<"$(run 1 "${all[@]:20:1}")"
read -r t_base _ ok_base _ <<<"$(run 1 "${all[@]:0:20}")"
read -r t_small rss_small ok_small _ <<<"$(run "$c" "${all[@]:0:$((n / 10))}")"
read -r t_all rss_all ok_all cpu_all <<<"$(run "$c" "${all[@]}")"
# One check's time: the marginal cost of a domain checked alone (20 domains minus 1, over 19);
# what a run costs whatever its size (process start, trust store, resolver) is the rest of t_one.
t1=$(calc "($t_base - $t_one) / 19")
fixed=$(calc "max(0, $t_one - $t1)")
ideal=$(calc "$fixed + $t1 * $n / $c")
printf 'baseline: 1 domain %.3f s, 20 domains one at a time %.3f s: one check T1 = %.1f ms, fixed cost %.3f s (%s/20 clean)\n' \
  "$t_one" "$t_base" "$(calc "$t1 * 1000")" "$fixed" "$ok_base"
printf '%d domains at concurrency %d: %.2f s (%s clean); ideal fixed + T1 x N / C = %.2f s; ratio %.2f (goal <= 1.5)\n' \
  "$n" "$c" "$t_all" "$ok_all" "$ideal" "$(calc "$t_all / $ideal")"
printf 'CPU of tlsrpt check: %.2f s for %d domains (%.1f ms per domain); %d cores, shared with the local world; policy host delay %s ms\n' \
  "$cpu_all" "$n" "$(calc "$cpu_all * 1000 / $n")" "$(nproc)" "${DELAY_MS:-100}"
printf 'peak RSS: %d domains %d KiB, %d domains %d KiB (ratio %.2f)\n' "$((n / 10))" "$rss_small" "$n" "$rss_all" \
  "$(calc "$rss_all / $rss_small")"
[ "$ok_all" = "$n" ] || { echo "not every domain checked clean:"; grep -v '"findings":\[\]' out.json | head -3; cat err.txt | head; }
