#!/usr/bin/env bash
# Installs the Debian 12 packages tlsrpt needs to build, run and test; skips what is installed.
# Usage: scripts/install-deps.sh [build|test]   (test adds the tools the test suite uses)
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config ccache libpq-dev libboost1.81-dev
  libmimetic-dev zlib1g-dev libsimdjson-dev libpqxx-dev prometheus-cpp-dev doctest-dev
  libssl-dev libcli11-dev libtomlplusplus-dev libunbound-dev dns-root-data postgresql libopendkim-dev libpsl-dev
  publicsuffix libkainjow-mustache-dev libcap-dev libldns-dev
  python3)  # scripts/run.sh writes its sample reports with scripts/samples.py
if [ "${1:-build}" = test ]; then
  packages+=(python3 python3-jsonschema time openssl swaks libnet-ssleay-perl libio-socket-ssl-perl
    libio-socket-inet6-perl postfix python3-yaml prometheus
    prometheus-alertmanager docker-compose wrk dovecot-imapd haproxy nsd ldnsutils python3-dkim
    chromium chromium-driver python3-selenium tidy lintian systemd man-db clang libclang-rt-14-dev
    knot knot-dnsutils pebble lego postfix-mta-sts-resolver nginx valgrind)
  # npm (for the dashboards' type check) comes with the machine's Node.js; Debian's otherwise.
  command -v npm >/dev/null || packages+=(nodejs npm)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Postfix is a test peer only: no system mail configuration, and it does not start by itself here.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Test peers whose packages start a system service (nginx on :80, knot, the MTA-STS resolver's
# daemon on 127.0.0.1:8461) when just installed here: stopped and disabled, so that the tests'
# own instances get their ports. Services that were installed before are left alone.
for unit in nginx:nginx knot:knot postfix-mta-sts-resolver:postfix-mta-sts-resolver; do
  pkg=${unit%%:*} service=${unit#*:}
  case " ${missing[*]:-} " in *" $pkg "*) ;; *) continue ;; esac
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now "$service" >/dev/null 2>&1 || true
  elif command -v service >/dev/null; then
    service "$service" stop >/dev/null 2>&1 || true
  fi
done
