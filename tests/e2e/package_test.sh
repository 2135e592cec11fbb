#!/usr/bin/env bash
# The Debian package (ctest e2e.package): built with CPack from this build directory, then
# inspected: its files, its conffile, its maintainer scripts, its dependencies as dpkg-deb
# reports them, every shared library of the binary resolved (ldd) and provided by a package it
# depends on, lintian with no error, the systemd unit through `systemd-analyze verify` and
# `systemd-analyze security` (offline: no systemd runs here), and the package installed with
# dpkg into a throwaway root (--root, maintainer scripts run chrootless against that root).
# Usage: tests/e2e/package_test.sh path/to/build/tlsrpt
set -uo pipefail
cd "$(dirname "$0")/../.."
build=$(cd "$(dirname "$1")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $1: expected [$2] got [$3]"; fi
}

(cd "$tmp" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1) ||
  { echo "FAIL cpack: $(tail -20 "$tmp/cpack.log")"; exit 1; }
version=$(sed -n 's/^project(tlsrpt VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
deb="$tmp/pkg/tlsrpt_${version}_amd64.deb"
check "package file named tlsrpt_<version>_amd64.deb" yes "$([ -f "$deb" ] && echo yes || echo no)"
[ -f "$deb" ] || { ls "$tmp/pkg"; exit 1; }

# Files.
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$tmp/files"
for f in /usr/bin/tlsrpt /etc/tlsrpt/tlsrpt.toml /lib/systemd/system/tlsrpt.service /usr/share/doc/tlsrpt/copyright \
         /usr/share/doc/tlsrpt/changelog.gz /usr/share/doc/tlsrpt/README.md /usr/share/doc/tlsrpt/docs/http.md \
         /usr/share/man/man1/tlsrpt.1.gz /usr/share/man/man5/tlsrpt.toml.5.gz \
         /usr/share/tlsrpt/migrations/0001_initial.sql /usr/share/tlsrpt/dashboards/prometheus/rules/tlsrpt.rules.yml \
         /usr/share/tlsrpt/dashboards/grafana/dashboards/overview.json; do
  check "package holds $f" yes "$(grep -qx "$f" "$tmp/files" && echo yes || echo no)"
done
check "every migration is shipped" "$(ls migrations/*.sql | wc -l)" "$(grep -c '^/usr/share/tlsrpt/migrations/.*\.sql$' "$tmp/files")"
check "nothing under /usr/local" 0 "$(grep -c '^/usr/local' "$tmp/files")"
check "no node_modules (the type check's, at test time)" 0 "$(grep -c 'node_modules' "$tmp/files")"

# Control data: conffile, scripts, dependencies.
dpkg-deb -e "$deb" "$tmp/control"
check "the settings file is a conffile" "/etc/tlsrpt/tlsrpt.toml" "$(cat "$tmp/control/conffiles")"
check "postinst creates the tlsrpt user" yes "$(grep -q 'adduser --system' "$tmp/control/postinst" && echo yes || echo no)"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for p in libpqxx-6.4 libsimdjson14 libmimetic0v5 libunbound8 libopendkim11 libpsl5 libssl3 zlib1g libprometheus-cpp-core1.0 libcap2 \
         adduser postgresql dns-root-data publicsuffix procps; do
  check "depends on $p" yes "$(echo "$depends" | grep -q "$p" && echo yes || echo no)"
done
# Every library the binary loads is found (ldd), and each it links directly (NEEDED) comes from
# a package the package depends on (the others come with those packages' own dependencies).
dpkg-deb -x "$deb" "$tmp/root"
ldd "$tmp/root/usr/bin/tlsrpt" >"$tmp/ldd"
check "ldd: no missing library" 0 "$(grep -c 'not found' "$tmp/ldd")"
missing=""
for needed in $(objdump -p "$tmp/root/usr/bin/tlsrpt" | awk '$1 == "NEEDED" { print $2 }'); do
  lib=$(awk -v n="$needed" '$1 == n { print $3 }' "$tmp/ldd")
  pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1)
  [ -z "$pkg" ] && pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)
  case "$pkg" in libc6|libgcc-s1|libstdc++6|"") ;;  # essential, or pulled in by the shlibs of others
    *) echo "$depends" | grep -q "$pkg" || missing="$missing $pkg($lib)" ;;
  esac
done
check "every loaded library's package is a dependency" "" "$missing"
check "the packaged binary runs" "$("$1" --version)" "$("$tmp/root/usr/bin/tlsrpt" --version)"
check "the packaged manual page is the binary's own" "$("$1" manual tlsrpt.toml.5 | sha256sum)" \
  "$(gzip -dc "$tmp/root/usr/share/man/man5/tlsrpt.toml.5.gz" | sha256sum)"

# lintian: no error.
if command -v lintian >/dev/null; then
  lintian --no-tag-display-limit "$deb" >"$tmp/lintian" 2>&1
  grep '^E:' "$tmp/lintian"
  check "lintian: no error" 0 "$(grep -c '^E:' "$tmp/lintian")"
  check "lintian: the binary has a manual page" 0 "$(grep -c 'no-manual-page' "$tmp/lintian")"
  check "lintian: the manual pages render without a warning" 0 "$(grep -c 'groff-message\|manpage-has' "$tmp/lintian")"
  echo "lintian: $(grep -c '^W:' "$tmp/lintian") warnings"
else
  echo "skipped: lintian is not installed"
fi

# Installed with dpkg into a throwaway root: a dpkg database and the account files of a system
# with root only; the maintainer scripts change that root (DPKG_ROOT), not this machine.
root="$tmp/installed"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
touch "$root/var/lib/dpkg/status"
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
printf 'root:*::\n' >"$root/etc/gshadow"
users_before=$(getent passwd | wc -l)
dpkg --root="$root" --force-depends --force-script-chrootless --log=/dev/null -i "$deb" >"$tmp/dpkg.log" 2>&1
check "dpkg -i into the throwaway root" 0 "$?"
grep -i 'error' "$tmp/dpkg.log"
check "installed: dpkg knows it" "install ok installed" "$(dpkg --root="$root" -s tlsrpt 2>/dev/null | sed -n 's/^Status: //p')"
check "installed: the tlsrpt system user in that root" yes "$(grep -q '^tlsrpt:x:[0-9]*:[0-9]*:tlsrpt daemon:/var/lib/tlsrpt:/usr/sbin/nologin$' "$root/etc/passwd" && echo yes || echo no)"
uid=$(awk -F: '$1 == "tlsrpt" { print $3 }' "$root/etc/passwd")
check "installed: a system uid (below 1000)" yes "$([ -n "$uid" ] && [ "$uid" -lt 1000 ] && echo yes || echo no)"
check "installed: /var/lib/tlsrpt owned by tlsrpt, mode 750" "$uid 750" "$(stat -c '%u %a' "$root/var/lib/tlsrpt")"
check "installed: the settings file readable by the group only" "0 640" "$(stat -c '%u %a' "$root/etc/tlsrpt/tlsrpt.toml")"
check "installed: this machine's accounts untouched" "$users_before" "$(getent passwd | wc -l)"
check "installed: the conffile registered" yes "$(dpkg --root="$root" -s tlsrpt | grep -q '/etc/tlsrpt/tlsrpt.toml' && echo yes || echo no)"
dpkg --root="$root" --force-depends --force-script-chrootless --log=/dev/null --purge tlsrpt >>"$tmp/dpkg.log" 2>&1
check "purged: the binary gone, the data directory kept" "no yes" \
  "$([ -e "$root/usr/bin/tlsrpt" ] && echo yes || echo no) $([ -d "$root/var/lib/tlsrpt" ] && echo yes || echo no)"

# The unit, offline against the package's files.
unit="$tmp/root/lib/systemd/system/tlsrpt.service"
# (the throwaway root has no systemd units of its own: what verify says about their absence is
# left out; nor /bin/kill of ExecReload, which procps, a dependency, brings; and verify looks the
# Documentation= man pages up on this machine, not in the root: they are checked in the package's
# files above. A unit with a mistake shows that verify does look)
quiet_verify() {
  systemd-analyze verify --root="$tmp/root" "$1" 2>&1 |
    grep -v "sysinit.target not found\|Failed to .*bus\|Cannot add dependency job\|Command /bin/kill is not executable\|Command 'man tlsrpt"
}
check "ExecReload's /bin/kill comes from procps" procps "$(dpkg -S /bin/kill 2>/dev/null | cut -d: -f1)"
check "systemd-analyze verify: nothing to say" "" "$(quiet_verify /lib/systemd/system/tlsrpt.service)"
sed 's|^ExecStart=/usr/bin/tlsrpt serve|ExecStart=tlsrpt-nowhere serve|; s|^ProtectSystem=strict|ProtectSystem=sometimes|' "$unit" \
  >"$tmp/root/lib/systemd/system/broken.service"
broken=$(quiet_verify /lib/systemd/system/broken.service)
check "systemd-analyze verify: finds a unit's mistakes" "yes yes" \
  "$(echo "$broken" | grep -q 'protect system value' && echo yes || echo no) $(echo "$broken" | grep -q 'not executable' && echo yes || echo no)"
security=$(systemd-analyze security --offline=yes --root="$tmp/root" /lib/systemd/system/tlsrpt.service 2>&1 | tail -1)
echo "systemd-analyze security: $security"
score=$(echo "$security" | sed -n 's/.*exposure level .* \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')
level=${score#* }
check "systemd-analyze security rates the unit OK or better" yes "$(case "$level" in OK|SAFE) echo yes ;; *) echo no ;; esac)"
[ -z "${score}" ] && echo "$security"

echo "e2e.package: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
