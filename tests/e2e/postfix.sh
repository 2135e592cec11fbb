# A private Postfix instance for tests (source this file; needs root): `postfix_start DIR PORT
# TARGET` listens on 127.0.0.1:PORT as relay.test and relays mail for example.net to
# 127.0.0.1:TARGET, retrying after a second or two; its log is DIR/maillog. `postfix_stop` ends it.
# $POSTFIX_EXTRA (main.cf lines, later ones win) and $POSTFIX_TRANSPORT (the transport table)
# replace those defaults when set.
postfix_start() {
  POSTFIX_DIR=$1
  mkdir -p "$POSTFIX_DIR/etc" "$POSTFIX_DIR/queue" "$POSTFIX_DIR/data"
  chown postfix "$POSTFIX_DIR/data"
  sed "s/^smtp  *inet .*/$2 inet n - n - - smtpd/" /etc/postfix/master.cf >"$POSTFIX_DIR/etc/master.cf"
  cat >"$POSTFIX_DIR/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $POSTFIX_DIR/queue
data_directory = $POSTFIX_DIR/data
myhostname = relay.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = example.net
transport_maps = texthash:$POSTFIX_DIR/etc/transport
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
local_recipient_maps =
smtp_tls_security_level = none
maillog_file_prefixes = $POSTFIX_DIR
maillog_file = $POSTFIX_DIR/maillog
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
${POSTFIX_EXTRA:-}
CF
  echo "${POSTFIX_TRANSPORT:-example.net smtp:[127.0.0.1]:$3}" >"$POSTFIX_DIR/etc/transport"
  postfix -c "$POSTFIX_DIR/etc" start >"$POSTFIX_DIR/start.log" 2>&1
}
postfix_stop() { [ -n "${POSTFIX_DIR:-}" ] && postfix -c "$POSTFIX_DIR/etc" stop >/dev/null 2>&1; true; }
