"""SIGHUP: what can change safely is applied while sessions stay open; the rest is named as
needing a restart; a broken settings file changes nothing. Also log.level and log.format=json.
Environment: TLSRPT, PG_URL, TMP (with old-/new-cert.pem and -key.pem)."""
import json
import os
import shutil
import signal
import smtplib
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import check, finish, sql, wait_port
import random

TLSRPT, PG_URL, TMP = os.environ["TLSRPT"], os.environ["PG_URL"], Path(os.environ["TMP"])
CERT, KEY = TMP / "cert.pem", TMP / "key.pem"
READ_OLD, READ_NEW = "read-token-old-0123456789", "read-token-new-0123456789"
ports = random.sample(range(20000, 32000), 4)
SMTP_PORT, HTTP_PORT = ports[0], ports[1]


def der(path):
    return ssl.PEM_cert_to_DER_cert(Path(path).read_text())


def use(name):
    shutil.copy(TMP / f"{name}-cert.pem", CERT)
    shutil.copy(TMP / f"{name}-key.pem", KEY)


def settings(read_token, domains, level="info", extra=""):
    (TMP / "tlsrpt.toml").write_text(f"""
[database]
url = "{PG_URL}"
[log]
level = "{level}"
[smtp]
listen = "127.0.0.1:{SMTP_PORT}"
recipients = ["tls@example.net"]
tls_cert = "{CERT}"
tls_key = "{KEY}"
{extra}
[http]
listen = "127.0.0.1:{HTTP_PORT}"
tls_cert = "{CERT}"
tls_key = "{KEY}"
read_tokens = ["{read_token}"]
[checks]
domains = {json.dumps(domains)}
interval = "1h"
[dns]
server = "127.0.0.1:9"
timeout = 1
""")


def no_verify():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def smtp_session():
    s = smtplib.SMTP("127.0.0.1", SMTP_PORT, timeout=20)
    s.ehlo("reload.example")
    s.starttls(context=no_verify())
    s.ehlo("reload.example")
    return s


def https_cert():
    with ssl.create_connection(("127.0.0.1", HTTP_PORT), timeout=10) as raw:
        with no_verify().wrap_socket(raw) as t:
            return t.getpeercert(binary_form=True)


def get(path, token):
    req = urllib.request.Request(f"https://127.0.0.1:{HTTP_PORT}{path}", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, context=no_verify(), timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(name):
    """The value of the first sample of `name` (a name, or a name with its labels)."""
    for line in get("/metrics", READ_NEW)[1].splitlines():
        if line.startswith(name + " ") or ("{" not in name and line.startswith(name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return None


def report(n):
    return ("From: noreply@reporter.example\r\nTo: tls@example.net\r\nSubject: Report Domain: example.net "
            f"Submitter: reporter.example Report-ID: <reload-{n}>\r\nMessage-ID: <reload-{n}@reporter.example>\r\n"
            "Content-Type: application/tlsrpt+json\r\n\r\n"
            '{"organization-name":"Reload","date-range":{"start-datetime":"2026-03-01T00:00:00Z",'
            '"end-datetime":"2026-03-01T23:59:59Z"},"contact-info":"a@b.example","report-id":"reload-%d",'
            '"policies":[{"policy":{"policy-type":"sts","policy-domain":"example.net"},'
            '"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}\r\n' % n)


def log_since(mark):
    return (TMP / "serve.log").read_text()[mark:]


def hangup_and_wait(server, mark):
    server.send_signal(signal.SIGHUP)
    for _ in range(100):
        if "reload: done" in log_since(mark):
            return log_since(mark)
        time.sleep(0.1)
    return log_since(mark)


def session_logged(helo):
    """Whether an SMTP session (connect, EHLO, QUIT) writes its info line to the log."""
    mark = len((TMP / "serve.log").read_text())
    s = smtplib.SMTP("127.0.0.1", SMTP_PORT, timeout=20)
    s.ehlo(helo)
    s.quit()
    time.sleep(0.5)
    return "event=connect" in log_since(mark)


def hangup_refused(server):
    """SIGHUP with a file the server refuses: the log from the signal until it says so."""
    mark = len((TMP / "serve.log").read_text())
    server.send_signal(signal.SIGHUP)
    for _ in range(50):
        if "reload: refused" in log_since(mark):
            break
        time.sleep(0.1)
    return log_since(mark)


use("old")
settings(READ_OLD, ["one.reload.test"])
log = open(TMP / "serve.log", "w")
server = subprocess.Popen([TLSRPT, "--config", str(TMP / "tlsrpt.toml"), "serve"], stdout=log, stderr=subprocess.STDOUT)
wait_port(SMTP_PORT, "smtp", TMP / "serve.log")
wait_port(HTTP_PORT, "http", TMP / "serve.log")

# Before: the old certificate everywhere, the old token, one monitored domain.
open_session = smtp_session()
check("STARTTLS presents the old certificate", der(TMP / "old-cert.pem"), open_session.sock.getpeercert(binary_form=True))
check("HTTPS presents the old certificate", der(TMP / "old-cert.pem"), https_cert())
check("the old read token works", 200, get("/api/v1/reports", READ_OLD)[0])
check("one monitored domain", 1.0, metric("tlsrpt_posture_monitored_domains") if get("/metrics", READ_OLD) else None)

# The certificate renewed in place, a new token, two domains, a setting that needs a restart.
use("new")
settings(READ_NEW, ["one.reload.test", "two.reload.test"], extra="max_sessions = 7")
mark = len((TMP / "serve.log").read_text())
text = hangup_and_wait(server, mark)
check("the reload is logged as done", True, "reload: done" in text)
check("the server still runs", None, server.poll())
check("the new certificate is named in the log", True, "CN = new.reload.test" in text or "CN=new.reload.test" in text)
check("tokens replaced (logged)", True, "reload: tokens replaced" in text)
check("monitored domains replaced (logged)", True, "reload: monitored domains replaced" in text)
check("smtp.max_sessions needs a restart (logged)", True,
      "reload: smtp.max_sessions changed; it takes effect after a restart" in text)
check("no secret in the log", False, READ_NEW in text or READ_OLD in text)

# A new STARTTLS session and a new HTTPS connection get the new certificate...
new_session = smtp_session()
check("a new STARTTLS session presents the new certificate", der(TMP / "new-cert.pem"),
      new_session.sock.getpeercert(binary_form=True))
check("a new HTTPS connection presents the new certificate", der(TMP / "new-cert.pem"), https_cert())
# ... and the session opened before the reload completes its message on the old one.
check("the open session still has the old certificate", der(TMP / "old-cert.pem"),
      open_session.sock.getpeercert(binary_form=True))
check("the open session delivers a report after the reload", {},
      open_session.sendmail("noreply@reporter.example", ["tls@example.net"], report(1)))
check("... and quits cleanly", 221, open_session.quit()[0])
check("the new session delivers too", {}, new_session.sendmail("noreply@reporter.example", ["tls@example.net"], report(2)))
new_session.quit()
check("both reports stored", [["2"]], sql("SELECT count(*) FROM reports WHERE report_id IN ('reload-1', 'reload-2')"))
check("the old token is refused", 401, get("/api/v1/reports", READ_OLD)[0])
check("the new token works", 200, get("/api/v1/reports", READ_NEW)[0])
check("two monitored domains", 2.0, metric("tlsrpt_posture_monitored_domains"))
status, body = get("/api/v1/overview", READ_NEW)
check("the domain list shows the new monitored domain", (200, True), (status, "two.reload.test" in body))

# A broken settings file: nothing changes, and the log says why.
(TMP / "tlsrpt.toml").write_text((TMP / "tlsrpt.toml").read_text().replace("max_sessions = 7", 'max_sessions = "ten"'))
text = hangup_refused(server)
check("a broken file is not applied, and named", True,
      "reload: refused, nothing changed" in text and "smtp.max_sessions: 'ten' is not an integer" in text)
check("the server still runs after a broken file", None, server.poll())
check("the token from before stays", 200, get("/api/v1/reports", READ_NEW)[0])

# A certificate that does not match its key: the plan refuses the whole file, the running
# certificate stays.
shutil.copy(TMP / "old-cert.pem", CERT)  # new key, old certificate
settings(READ_NEW, ["one.reload.test", "two.reload.test"])
text = hangup_refused(server)
check("a key that is not the certificate's is refused, named", True,
      "reload: refused, nothing changed" in text and "smtp.tls_cert" in text and "is not the key of" in text)
check("the running certificate stays", der(TMP / "new-cert.pem"), https_cert())
use("new")

# Half a file is never applied: a token that is too short beside log.level = "error" is
# refused whole (before, the log level changed while the log said the tokens had not), it is
# counted, and the next reload compares against the settings applied last, not the refused file.
refused_before = metric('tlsrpt_config_reloads_total{result="refused"}')
applied_before = metric('tlsrpt_config_reloads_total{result="applied"}')
settings("short", ["one.reload.test", "two.reload.test"], level="error", extra="max_sessions = 7")
text = hangup_refused(server)
check("a too-short token with log.level = error: refused, named", True,
      "reload: refused, nothing changed" in text and "http.read_tokens: token 1 is shorter than 16" in text)
check("... the refusal is counted", (refused_before + 1, applied_before),
      (metric('tlsrpt_config_reloads_total{result="refused"}'), metric('tlsrpt_config_reloads_total{result="applied"}')))
check("... the log level stays info (a session's info lines are written)", True, session_logged("still-info.example"))
check("... the token from before stays", 200, get("/api/v1/reports", READ_NEW)[0])
settings(READ_NEW, ["one.reload.test", "two.reload.test"], extra="max_sessions = 7")  # the file as last applied
mark = len((TMP / "serve.log").read_text())
text = hangup_and_wait(server, mark)
check("the next reload compares against the settings applied last: nothing changed", True,
      "reload: done (no setting changed)" in text)
check("... and is counted as applied", applied_before + 1, metric('tlsrpt_config_reloads_total{result="applied"}'))

# log.level = warn: a session's connect and close lines (info) are no longer written.
settings(READ_NEW, ["one.reload.test", "two.reload.test"], level="warn")
mark = len((TMP / "serve.log").read_text())
hangup_and_wait(server, mark)
check("log.level = warn: no info line for a session", False, session_logged("quiet.example"))

server.send_signal(signal.SIGTERM)
check("stops cleanly", 0, server.wait(timeout=30))
log.close()

# log.format = json from the start: every line a JSON object with time, level and component.
(TMP / "tlsrpt.toml").write_text((TMP / "tlsrpt.toml").read_text().replace('level = "warn"', 'level = "info"\nformat = "json"'))
log = open(TMP / "json.log", "w")
server = subprocess.Popen([TLSRPT, "--config", str(TMP / "tlsrpt.toml"), "serve"], stdout=log, stderr=subprocess.STDOUT)
wait_port(SMTP_PORT, "smtp (json)", TMP / "json.log")
s = smtplib.SMTP("127.0.0.1", SMTP_PORT, timeout=20)
s.ehlo("json.example")
check("json: a report delivered", {}, s.sendmail("noreply@reporter.example", ["tls@example.net"], report(3)))
s.quit()
time.sleep(0.5)
server.send_signal(signal.SIGTERM)
check("json: stops cleanly", 0, server.wait(timeout=30))
log.close()
lines = (TMP / "json.log").read_text().splitlines()
parsed, bad = [], []
for line in lines:
    try:
        parsed.append(json.loads(line))
    except ValueError:
        bad.append(line)
check("json: every line is a JSON object", [], bad)
check("json: each has time, level and component", True,
      bool(parsed) and all({"time", "level", "component"} <= p.keys() for p in parsed))
message = [p for p in parsed if p.get("component") == "smtp" and p.get("event") == "message"]
check("json: the message event with its fields", (1, "accepted"), (len(message), message[0].get("outcome") if message else None))
check("json: prose lines carry a message", True, any(p.get("component") == "serve" and "message" in p for p in parsed))
finish("e2e.reload")
