#!/usr/bin/env bash
# Behaviour of `tlsrpt parse` as a user sees it: exit codes, stdout, the stderr line format.
# Usage: parse_test.sh PATH/TO/tlsrpt   (run from the repository root)
set -u
tlsrpt=$1
fx=tests/fixtures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected [$2] got [$3]"; fi
}

"$tlsrpt" --help >"$tmp/out" 2>&1; check "--help exit" 0 $?
grep -q "parse" "$tmp/out"; check "--help lists parse" 0 $?
"$tlsrpt" parse --help >"$tmp/out" 2>&1; check "parse --help exit" 0 $?
grep -q -- "--pretty" "$tmp/out"; check "parse --help shows --pretty" 0 $?
"$tlsrpt" >/dev/null 2>&1; check "no subcommand is a usage error" 2 $?
"$tlsrpt" parse --bogus >/dev/null 2>&1; check "unknown option is a usage error" 2 $?
"$tlsrpt" parse /nonexistent/file >/dev/null 2>&1; check "missing path is a usage error" 2 $?
"$tlsrpt" parse --limit nope=1 "$fx/messages/plain.json.gz" >/dev/null 2>&1; check "bad --limit is a usage error" 2 $?

"$tlsrpt" parse "$fx/corpus" >"$tmp/out" 2>"$tmp/err"; check "corpus copies all accepted" 0 $?
check "one line per report" "$(ls "$fx/corpus" | wc -l)" "$(wc -l <"$tmp/out")"
check "no stderr when all accepted" "" "$(cat "$tmp/err")"

"$tlsrpt" parse "$fx/reject/gzip-corrupt_truncated.json.gz" "$fx/messages/plain.json.gz" >"$tmp/out" 2>"$tmp/err"
check "a rejection makes exit 1" 1 $?
check "the good input is still printed" 1 "$(wc -l <"$tmp/out")"
check "rejection line format" "$fx/reject/gzip-corrupt_truncated.json.gz: rejected: gzip-corrupt: gzip data is truncated" "$(cat "$tmp/err")"

"$tlsrpt" parse - <"$fx/corpus/google_2022-09-15_mox.eml" >"$tmp/out" 2>&1; check "stdin" 0 $?
grep -q '"input":"-"' "$tmp/out"; check "stdin is named -" 0 $?
"$tlsrpt" parse <"$fx/corpus/google_2022-09-15_mox.eml" >/dev/null 2>&1; check "stdin by default" 0 $?

"$tlsrpt" parse "$fx/messages/two-messages.mbox" >"$tmp/out" 2>&1; check "mbox" 0 $?
check "mbox: one report per message" 2 "$(grep -c '"input":"tests/fixtures/messages/two-messages.mbox#' "$tmp/out")"

"$tlsrpt" parse --pretty "$fx/messages/plain.json.gz" >"$tmp/out"; check "--pretty" 0 $?
check "--pretty indents" '  "organization-name": "Example Reporter Ltd",' "$(sed -n 2p "$tmp/out")"

"$tlsrpt" parse --limit message_size=100 "$fx/messages/plain.json.gz" >/dev/null 2>"$tmp/err"; check "--limit applies" 1 $?
"$tlsrpt" parse --limit json_depth=20 "$fx/messages/plain.json.gz" --limit message_size=100 >/dev/null 2>&1; check "--limit repeated" 1 $?
grep -q "rejected: message-too-large" "$tmp/err"; check "--limit names the reason" 0 $?
TLSRPT_LIMIT_MESSAGE_SIZE=100 "$tlsrpt" parse "$fx/messages/plain.json.gz" >/dev/null 2>&1; check "env limit applies" 1 $?

"$tlsrpt" parse --summary "$fx/corpus" "$fx/reject/empty-input.eml" >/dev/null 2>"$tmp/err"
grep -q "^summary: inputs=27 reports=26 rejected=1 errors=0 .* empty-input=1$" "$tmp/err"; check "--summary" 0 $?

"$tlsrpt" parse --list-limits | grep -q "^inflated_size"; check "--list-limits" 0 $?
"$tlsrpt" parse --list-reasons | grep -q "^no-report-part"; check "--list-reasons" 0 $?
"$tlsrpt" parse --list-quirks | grep -q "^mx-host-string"; check "--list-quirks" 0 $?

# Settings: file < environment < command line; typos and bad values are usage errors.
printf '[database]\ndata_dir = "/srv/x"\n[limits]\nmessage_size = "5M"\njson_depth = 20\n' >"$tmp/c.toml"
"$tlsrpt" --config "$tmp/c.toml" check-config >"$tmp/out"; check "check-config" 0 $?
grep -q "^database.data_dir = /srv/x$" "$tmp/out"; check "config file read" 0 $?
grep -q "^limits.message_size = 5242880$" "$tmp/out"; check "config size suffix" 0 $?
check "environment over file" "limits.json_depth = 30" "$(TLSRPT_LIMIT_JSON_DEPTH=30 "$tlsrpt" check-config --config "$tmp/c.toml" | grep json_depth)"
check "flag over environment" "limits.json_depth = 40" "$(TLSRPT_LIMIT_JSON_DEPTH=30 "$tlsrpt" check-config --config "$tmp/c.toml" --limit json_depth=40 | grep json_depth)"
check "TLSRPT_CONFIG" "database.data_dir = /srv/x" "$(TLSRPT_CONFIG="$tmp/c.toml" "$tlsrpt" check-config | grep data_dir)"
echo "postgresql://user:hunter2@db/tlsrpt" >"$tmp/secret"
TLSRPT_DATABASE_URL_FILE="$tmp/secret" "$tlsrpt" check-config >"$tmp/out"
grep -q "hunter2" "$tmp/out"; check "secrets never printed" 1 $?
check "secret from _FILE" "database.url = (set, not shown)" "$(grep '^database.url ' "$tmp/out")"
printf '[database]\nurl_typo = "x"\n' >"$tmp/bad.toml"
"$tlsrpt" --config "$tmp/bad.toml" check-config >/dev/null 2>"$tmp/err"; check "unknown setting is a usage error" 2 $?
grep -q "unknown setting database.url_typo" "$tmp/err"; check "unknown setting named" 0 $?
printf '[database\n' >"$tmp/bad.toml"
"$tlsrpt" --config "$tmp/bad.toml" parse "$fx/messages/plain.json.gz" >/dev/null 2>"$tmp/err"; check "broken file is a usage error" 2 $?
grep -q "bad.toml:1:" "$tmp/err"; check "broken file: line named" 0 $?
"$tlsrpt" --config "$tmp/c.toml" parse --limit message_size=100 "$fx/messages/plain.json.gz" >/dev/null 2>&1; check "parse uses the settings" 1 $?

# The reference (docs/reports.md) documents every reason, quirk and limit the binary knows.
for list in reasons quirks limits; do
  for name in $("$tlsrpt" parse --list-$list | awk 'NR>1 || $1!="NAME" {print $1}'); do
    grep -q "| \`$name\` |" docs/reports.md; check "docs/reports.md documents $list $name" 0 $?
  done
done

# Settings are documented in tlsrpt.toml(5), generated from the table (cli.manual keeps it
# complete); the README points there.
grep -q "tlsrpt.toml(5)" README.md; check "README points at tlsrpt.toml(5)" 0 $?

# A gzip bomb through the CLI: rejected quickly, within 512 MiB.
python3 -c "
import zlib,sys
c=zlib.compressobj(9,zlib.DEFLATED,31)
z=c.compress(b'\0'*(256<<20))+c.flush()
sys.stdout.buffer.write(z*16)" >"$tmp/bomb.json.gz"
/usr/bin/time -q -f "%e %M" -o "$tmp/time" "$tlsrpt" parse "$tmp/bomb.json.gz" >/dev/null 2>"$tmp/err"
check "bomb rejected" 1 $?
read -r secs kib <"$tmp/time"
# The most memory a report can cost: the largest JSON the limits let through (inflated_size),
# made of as many values as possible, compressed no more than inflate_ratio allows.
python3 -c "
import gzip,random,sys
random.seed(1)
n=(16<<20)//2-16
sys.stdout.buffer.write(gzip.compress(b'{\"x\":['+','.join(random.choice('0123456789') for _ in range(n)).encode()+b']}',1,mtime=0))" >"$tmp/flat.json.gz"
/usr/bin/time -q -f "%e %M" -o "$tmp/time2" "$tlsrpt" parse "$tmp/flat.json.gz" >/dev/null 2>"$tmp/err2"
check "largest document rejected (it is no report)" 1 $?
read -r secs2 kib2 <"$tmp/time2"
echo "largest document: $(stat -c %s "$tmp/flat.json.gz") bytes gzip, 16 MiB JSON: ${secs2}s, ${kib2} KiB max RSS: $(cat "$tmp/err2")"

if [ -n "${TLSRPT_SANITIZED:-}" ]; then
  echo "skipped: time and memory bounds (sanitizer build)"
else
  check "bomb under 1 s" 1 "$(awk -v s="$secs" 'BEGIN{print (s<1.0)}')"
  check "bomb under 512 MiB" 1 "$(awk -v k="$kib" 'BEGIN{print (k<512*1024)}')"
  check "largest document under 512 MiB" 1 "$(awk -v k="$kib2" 'BEGIN{print (k<512*1024)}')"
fi
echo "bomb: 4 GiB of output in $(stat -c %s "$tmp/bomb.json.gz") bytes: ${secs}s, ${kib} KiB max RSS: $(cat "$tmp/err")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
