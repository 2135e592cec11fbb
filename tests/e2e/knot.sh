# A throwaway Knot DNS primary for tests: source this file, then `knot_start DIR PORT ZONE [SIGNED]`,
# and `knot_stop` at the end. Loopback only (127.0.0.1@PORT, UDP and TCP), the zone from
# $DIR/$ZONE.zone (write it before starting; knot rewrites it after every update), RFC 2136
# updates allowed with the TSIG key in $KNOT_KEY_FILE (ALGORITHM:NAME:SECRET, as knsupdate -k and
# tlsrpt's dns.tsig_key_file read it). SIGNED=1 signs the zone (DNSSEC, ECDSA P-256);
# $DIR/ta.ds is then its DS record, a trust anchor for libunbound.
knot_start() {
  KNOT_DIR=$1 KNOT_PORT=$2 KNOT_ZONE=$3
  local signed=${4:-0} secret
  secret=$(keymgr -t upd.key hmac-sha256 | awk '/secret:/{print $2}')
  KNOT_KEY_FILE=$KNOT_DIR/upd.key
  printf 'hmac-sha256:upd.key:%s\n' "$secret" >"$KNOT_KEY_FILE"
  cat >"$KNOT_DIR/knot.conf" <<CONF
server:
    rundir: "$KNOT_DIR"
    listen: 127.0.0.1@$KNOT_PORT
log:
  - target: stderr
    any: info
database:
    storage: "$KNOT_DIR"
key:
  - id: upd.key
    algorithm: hmac-sha256
    secret: $secret
acl:
  - id: upd_acl
    key: upd.key
    action: update
template:
  - id: default
    storage: "$KNOT_DIR"
zone:
  - domain: $KNOT_ZONE
    file: "$KNOT_ZONE.zone"
    acl: upd_acl
    dnssec-signing: $([ "$signed" = 1 ] && echo on || echo off)
CONF
  knotc -c "$KNOT_DIR/knot.conf" conf-check >/dev/null || return 1
  knotd -c "$KNOT_DIR/knot.conf" >"$KNOT_DIR/knotd.log" 2>&1 &
  KNOT_PID=$!
  local want=serial
  [ "$signed" = 1 ] && want=re-sign
  for _ in $(seq 200); do
    knotc -c "$KNOT_DIR/knot.conf" zone-status "$KNOT_ZONE" 2>/dev/null | grep -q "$want" && break
    sleep 0.05
  done
  kill -0 "$KNOT_PID" 2>/dev/null || { echo "knot_start: knotd died: $(tail -3 "$KNOT_DIR/knotd.log")" >&2; return 1; }
  if [ "$signed" = 1 ]; then
    keymgr -c "$KNOT_DIR/knot.conf" "$KNOT_ZONE" ds | grep ' DS [0-9]* 13 2 ' >"$KNOT_DIR/ta.ds"
  fi
}
knot_stop() { [ -n "${KNOT_PID:-}" ] && kill "$KNOT_PID" 2>/dev/null && wait "$KNOT_PID" 2>/dev/null; KNOT_PID=; }
# The TXT strings of NAME as the primary answers (+short, quotes removed).
knot_txt() { kdig @127.0.0.1 -p "$KNOT_PORT" +short +norec TXT "$1" | tr -d '"'; }
