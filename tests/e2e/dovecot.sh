# A throwaway Dovecot IMAP server for tests: source this file, then `dovecot_start DIR`, and
# `dovecot_stop` at the end. Loopback only: plain IMAP on $IMAP_PORT, IMAPS on $IMAPS_PORT with a
# self-signed certificate for localhost/127.0.0.1 ($DOVECOT_DIR/cert.pem). Users come from
# $DOVECOT_DIR/passwd ("user:{PLAIN}password" lines; dovecot_user adds one); mail is Maildir with
# "/" as the hierarchy delimiter, owned by nobody.
dovecot_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dovecot_user() { echo "$1:{PLAIN}$2" >>"$DOVECOT_DIR/passwd"; }
dovecot_start() {
  DOVECOT_DIR=$1
  mkdir -p "$DOVECOT_DIR/run" "$DOVECOT_DIR/mail"
  chown 65534:65534 "$DOVECOT_DIR/mail"
  chmod 755 "$DOVECOT_DIR"
  chmod o+x "$(dirname "$DOVECOT_DIR")"  # Dovecot's auth and mail processes run as other users
  touch "$DOVECOT_DIR/passwd"
  [ -f "$DOVECOT_DIR/cert.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$DOVECOT_DIR/key.pem" -out "$DOVECOT_DIR/cert.pem" >/dev/null 2>&1
  IMAP_PORT=$(dovecot_free_port) IMAPS_PORT=$(dovecot_free_port)
  cat >"$DOVECOT_DIR/dovecot.conf" <<CONF
base_dir = $DOVECOT_DIR/run
state_dir = $DOVECOT_DIR/run
log_path = $DOVECOT_DIR/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <$DOVECOT_DIR/cert.pem
ssl_key = <$DOVECOT_DIR/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:$DOVECOT_DIR/mail/%u:LAYOUT=fs
first_valid_uid = 1
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DOVECOT_DIR/passwd
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=$DOVECOT_DIR/mail/%u
}
service imap-login {
  inet_listener imap {
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = $IMAPS_PORT
    ssl = yes
  }
}
protocol imap {
  mail_max_userip_connections = 50
}
CONF
  dovecot -c "$DOVECOT_DIR/dovecot.conf" || { cat "$DOVECOT_DIR/dovecot.log"; return 1; }
  for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/"$IMAP_PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$DOVECOT_DIR/dovecot.log"; return 1
}
dovecot_stop() { [ -n "${DOVECOT_DIR:-}" ] && doveadm -c "$DOVECOT_DIR/dovecot.conf" stop >/dev/null 2>&1; true; }
