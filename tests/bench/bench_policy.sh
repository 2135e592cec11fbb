#!/usr/bin/env bash
# The policy listener against nginx (Debian's), in the same run: the same policy text with the same
# ECDSA P-256 certificate, HTTPS with SNI (wrk connects to mta-sts.bench.example, which a private
# mount namespace's /etc/hosts points at 127.0.0.1; so this needs root), wrk at 32 connections:
#   - keep-alive: requests per second over open connections;
#   - Connection: close: a TLS handshake per request (both servers resume sessions as configured
#     by default: tlsrpt's OpenSSL defaults, nginx with ssl_session_cache and tickets).
# nginx runs `worker_processes` workers (default 2, this machine's cores); tlsrpt serve runs its
# listeners on one I/O thread. Each pair of measurements alternates, ROUNDS times; the ratio is
# the medians' (tlsrpt / nginx). The goal (issue 28): keep-alive at least 0.5.
# Usage: tests/bench/bench_policy.sh [build/tlsrpt] [seconds (5)] [rounds (3)] [nginx workers (2)]
set -euo pipefail
export TLSRPT_SERVER_ALLOW_ROOT=${TLSRPT_SERVER_ALLOW_ROOT:-true}
tlsrpt=$(realpath "${1:-build/tlsrpt}")
seconds=${2:-5} rounds=${3:-3} workers=${4:-2}
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "bench_policy: needs root (a private mount namespace for /etc/hosts)" >&2; exit 1; }
for tool in wrk nginx openssl unshare; do
  command -v $tool >/dev/null || { echo "bench_policy: $tool is missing" >&2; exit 1; }
done
. tests/integration/pg.sh
tmp=$(mktemp -d)
chmod 755 "$tmp"
server= nginx_pid=
trap 'set +e; kill $server $nginx_pid 2>/dev/null; wait 2>/dev/null; pg_stop; rm -rf "$tmp"' EXIT
pg_start
host=mta-sts.bench.example
mkdir -p "$tmp/certs" "$tmp/nginx/logs" "$tmp/nginx/tmp" "$tmp/nginx/www/.well-known"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$host" \
  -addext "subjectAltName=DNS:$host" -keyout "$tmp/certs/$host.key" -out "$tmp/certs/$host.crt" >/dev/null 2>&1
port_t=$((20000 + RANDOM % 10000)) port_n=$((30100 + RANDOM % 2000))

"$tlsrpt" migrate --database-url "$PG_URL" >/dev/null
cat >"$tmp/tlsrpt.toml" <<TOML
[smtp]
listen = []
[http]
listen = []
[dns]
server = "127.0.0.1:9"
[checks]
interval = "7d"
[policy]
listen = ["127.0.0.1:$port_t"]
cert_dir = "$tmp/certs"
domains = ["bench.example"]
TOML
"$tlsrpt" --config "$tmp/tlsrpt.toml" rollout bench.example testing --mx mx.bench.example --database-url "$PG_URL" >/dev/null
TLSRPT_DKIM_MODE=off "$tlsrpt" --config "$tmp/tlsrpt.toml" serve --database-url "$PG_URL" >"$tmp/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q "policy listening" "$tmp/serve.log" && break; sleep 0.1; done
# nginx serves the very text tlsrpt serves.
curl -s --resolve "$host:$port_t:127.0.0.1" --cacert "$tmp/certs/$host.crt" "https://$host:$port_t/.well-known/mta-sts.txt" \
  >"$tmp/nginx/www/.well-known/mta-sts.txt"
grep -q "mode: testing" "$tmp/nginx/www/.well-known/mta-sts.txt" || { echo "bench_policy: tlsrpt serves no policy" >&2; exit 1; }
cat >"$tmp/nginx.conf" <<CONF
worker_processes $workers;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    default_type text/plain;
    access_log off;
    client_body_temp_path $tmp/nginx/tmp/body;  proxy_temp_path $tmp/nginx/tmp/proxy;
    fastcgi_temp_path $tmp/nginx/tmp/fastcgi;   uwsgi_temp_path $tmp/nginx/tmp/uwsgi;
    scgi_temp_path $tmp/nginx/tmp/scgi;
    keepalive_timeout 65;  keepalive_requests 100000;
    ssl_certificate     $tmp/certs/$host.crt;
    ssl_certificate_key $tmp/certs/$host.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:1m;
    server { listen 127.0.0.1:$port_n ssl; server_name $host; root $tmp/nginx/www; location = /.well-known/mta-sts.txt { } }
}
CONF
nginx -c "$tmp/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
sleep 0.5
echo "127.0.0.1 $host" >"$tmp/hosts"
echo 'wrk.headers["Connection"] = "close"' >"$tmp/close.lua"
# wrk's requests per second at URL, with extra wrk arguments.
rate() {
  unshare -m sh -c "mount --bind $tmp/hosts /etc/hosts && exec wrk -t2 -c32 -d${seconds}s $2 --latency https://$host:$1/.well-known/mta-sts.txt" \
    >"$tmp/wrk.txt" 2>&1
  if grep -q "Non-2xx\|Socket errors" "$tmp/wrk.txt"; then echo "bench_policy: errors: $(grep -E 'Non-2xx|Socket errors' "$tmp/wrk.txt")" >&2; fi
  awk '/Requests\/sec/{print $2}' "$tmp/wrk.txt"
}
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
for mode in keep-alive close; do
  args=""
  [ $mode = close ] && args="-s $tmp/close.lua"
  : >"$tmp/t" ; : >"$tmp/n"
  for _ in $(seq "$rounds"); do
    rate "$port_n" "$args" >>"$tmp/n"
    rate "$port_t" "$args" >>"$tmp/t"
  done
  t=$(median <"$tmp/t") n=$(median <"$tmp/n")
  printf '%-11s tlsrpt %9.0f req/s  nginx (%s workers) %9.0f req/s  ratio %.2f   (tlsrpt: %s; nginx: %s)\n' "$mode" "$t" "$workers" "$n" \
    "$(echo "$t / $n" | bc -l)" "$(paste -sd' ' "$tmp/t")" "$(paste -sd' ' "$tmp/n")"
done
