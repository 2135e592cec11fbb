# Helpers for DKIM tests and benchmarks (source this file; files go to the current directory):
#   dkim_key NAME BITS        makes NAME.pem, an RSA key of BITS bits (PKCS#1, as python3-dkim reads it)
#   dkim_record NAME [TAGS]   the zone-file text of NAME's key record, "TAGS" before p= (e.g. "s=tlsrpt;"),
#                             the key split into TXT strings of 200 characters
#   dkim_sign KEY.pem SELECTOR DOMAIN [OPTIONS]   signs stdin to stdout (tests/e2e/dkim_sign.py)
dkim_helpers_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dkim_key() { openssl genrsa -traditional -out "$1.pem" "$2" 2>/dev/null; }
dkim_record() {
  local p; p=$(openssl rsa -in "$1.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
  printf '"v=DKIM1; k=rsa; %sp="' "${2:-}"
  while [ -n "$p" ]; do printf ' "%s"' "${p:0:200}"; p=${p:200}; done
}
dkim_sign() { /usr/bin/python3 "$dkim_helpers_dir/dkim_sign.py" "$@"; }
