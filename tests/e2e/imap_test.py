#!/usr/bin/env python3
"""The IMAP poller against a real Dovecot (run by imap_test.sh): plain and TLS mailboxes, every
report stored and every message filed, bad messages to the invalid folder, IDLE, the database
going away, tlsrpt killed mid-batch, two servers on one mailbox, a wrong password, flag mode."""
import imaplib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import check, finish, free_port, sql  # noqa: E402

TLSRPT, PG_URL, TMP = os.environ["TLSRPT"], os.environ["PG_URL"], Path(os.environ["TMP"])
IMAP, IMAPS = int(os.environ["IMAP_PORT"]), int(os.environ["IMAPS_PORT"])
CORPUS = [Path(c) for c in os.environ["CORPUS"].split()]
CERT = os.environ["DOVECOT_DIR"] + "/cert.pem"


def mailbox(user):
    m = imaplib.IMAP4("127.0.0.1", IMAP)
    m.login(user, "pw-" + user)
    return m


def count(user, folder):
    m = mailbox(user)
    typ, data = m.select(f'"{folder}"', readonly=True)
    m.logout()
    return int(data[0]) if typ == "OK" else None


def append(user, messages, folder="INBOX"):
    m = mailbox(user)
    ok = sum(m.append(folder, None, None, msg)[0] == "OK" for msg in messages)
    m.logout()
    return ok


def wait_for(what, predicate, seconds=30):
    for _ in range(int(seconds * 10)):
        if predicate():
            return True
        time.sleep(0.1)
    print(f"timed out waiting for {what}")
    return False


def config(name, blocks):
    path = TMP / f"{name}.toml"
    path.write_text("\n".join(blocks))
    return path


def block(user, tls="plain", after="move", password=None, extra="", poll=2):
    port = IMAPS if tls == "implicit" else IMAP
    host = "localhost" if tls != "plain" else "127.0.0.1"
    return (f'[[imap]]\nname = "{user}"\nhost = "{host}"\nport = {port}\ntls = "{tls}"\nusername = "{user}"\n'
            f'password = "{password or "pw-" + user}"\nafter = "{after}"\npoll_interval = {poll}\nca_file = "{CERT}"\n{extra}\n')


def serve(name, conf):
    log = open(TMP / f"{name}.log", "w")
    return subprocess.Popen([TLSRPT, "--config", str(conf), "serve", "--database-url", PG_URL, "--smtp-listen", "",
                             "--http-listen", f"127.0.0.1:{free_port()}"], stdout=log, stderr=subprocess.STDOUT)


def stop(p):
    p.send_signal(signal.SIGTERM)
    return p.wait(timeout=30)


def log(name):
    return (TMP / f"{name}.log").read_text()


# Every non-empty .eml of the corpus (IMAP cannot hold an empty message). The corpus holds some
# reports more than once (copies, and the same report in several forms).
emails = sorted(f for c in CORPUS for f in c.rglob("*.eml") if f.stat().st_size > 0)
reports_in, distinct = {}, set()
for f in emails:
    out = subprocess.run([TLSRPT, "parse", str(f)], capture_output=True, text=True).stdout.splitlines()
    reports_in[f] = len(out)
    for line in out:
        r = json.loads(line)
        distinct.add((r["organization-name"], r["report-id"], r["date-range"]["start-datetime"],
                      tuple(sorted(p["policy"]["policy-domain"] for p in r["policies"]))))
good = [f for f in emails if reports_in[f] > 0]
bad = [f for f in emails if reports_in[f] == 0]

# 1. Plain IMAP and IMAPS: every corpus email (and a message that is not a report) delivered.
check("appended to reports-plain", len(emails) + 1,
      append("plain", [f.read_bytes() for f in emails] + [b"Subject: hello\r\n\r\nnot a report\r\n"]))
check("appended to reports-tls", len(good), append("tls", [f.read_bytes() for f in good]))
# Settings: check-config shows the mailboxes without their passwords; mistakes are named.
# (check-config plans serve as this test runs it: no SMTP listener)
shown = subprocess.run([TLSRPT, "--config", str(config("shown", [block("plain")])), "check-config"],
                       capture_output=True, text=True, env=dict(os.environ, TLSRPT_SMTP_LISTEN="")).stdout
check("check-config lists the mailbox, password hidden", (True, True, False),
      ("imap[0].host = 127.0.0.1" in shown, "imap[0].password = (set, not shown)" in shown, "pw-plain" in shown))
typo = subprocess.run([TLSRPT, "--config", str(config("typo", [block("plain", extra='pasword = "x"')])), "check-config"],
                      capture_output=True, text=True)
check("an unknown [[imap]] key is an error naming it", (True, True), (typo.returncode != 0, "pasword" in typo.stderr))
public = subprocess.run([TLSRPT, "--config", str(config("public", [block("plain").replace('"127.0.0.1"', '"imap.example.net"')])),
                         "serve", "--database-url", PG_URL, "--smtp-listen", "", "--http-listen", ""],
                        capture_output=True, text=True, timeout=30)
check("plain IMAP to a non-loopback host is refused", (2, True), (public.returncode, "loopback" in public.stderr))

# A long poll interval: only IDLE can explain a quick pickup (step 2).
main = serve("main", config("main", [block("plain", poll=120), block("tls", tls="implicit")]))
check("plain mailbox drained", True, wait_for("plain INBOX empty", lambda: count("plain", "INBOX") == 0))
check("TLS mailbox drained", True, wait_for("tls INBOX empty", lambda: count("tls", "INBOX") == 0))
check("stored and duplicate messages in tlsrpt/processed", len(good) + len(good), count("plain", "tlsrpt/processed") +
      count("tls", "tlsrpt/processed"))
check("not-reports in tlsrpt/invalid", len(bad) + 1, count("plain", "tlsrpt/invalid"))
check("TLS mailbox: nothing invalid", 0, count("tls", "tlsrpt/invalid"))
check("every message is a raw message, transport imap", 2 * len(good) + len(bad) + 1,
      int(sql("SELECT count(*) FROM raw_messages WHERE transport = 'imap'")[0][0]))
check("every distinct report stored, once", len(distinct), int(sql("SELECT count(*) FROM reports")[0][0]))
check("outcomes: every report email stored or duplicate, the rest rejected", (2 * len(good), len(bad) + 1),
      tuple(int(x) for x in sql("SELECT count(*) FILTER (WHERE outcome <> 'rejected'), count(*) FILTER (WHERE "
                                "outcome = 'rejected') FROM raw_messages WHERE transport = 'imap'")[0]))
src = sql("SELECT source->>'mailbox', source->>'folder', (source->>'uid')::int > 0, (source->>'uidvalidity')::bigint > 0 "
          "FROM raw_messages WHERE transport = 'imap' AND source->>'mailbox' = 'plain' ORDER BY id LIMIT 1")[0]
check("source says mailbox, folder, uid, uidvalidity", ["plain", "INBOX", "t", "t"], src)
check("the TLS mailbox was read over TLS with the certificate verified", True,
      "mailbox=tls event=connected" in log("main"))
check("fetching did not mark messages read (BODY.PEEK)", True, "\\Seen" not in str(
    (lambda m: (m.select('"tlsrpt/processed"'), m.fetch("1:*", "(FLAGS)"))[1])(mailbox("plain"))))

# 2. IDLE: a message delivered while tlsrpt is connected is stored within seconds.
time.sleep(1)
idle_msg = next(iter(good)).read_bytes().replace(b"Message-ID: <", b"Message-ID: <idle-")
t0 = time.time()
append("plain", [idle_msg])
check("IDLE: a new message is filed within 5 s (the poll interval is 120 s)", True,
      wait_for("idle", lambda: count("plain", "INBOX") == 0, seconds=5))
print(f"IDLE: filed {time.time() - t0:.2f} s after delivery")

# 3. The database goes away: messages stay in the mailbox, then go once it is back.
pg = lambda fn: subprocess.run(["bash", "-c", f"source tests/integration/pg.sh; {fn}"], check=True)
pg("pg_down")
append("plain", [good[0].read_bytes().replace(b"Subject:", b"X-Outage: 1\r\nSubject:")])
time.sleep(4)
check("database down: the message stays in INBOX", 1, count("plain", "INBOX"))
pg("pg_up")
check("database back: the message is filed", True, wait_for("after outage", lambda: count("plain", "INBOX") == 0, 40))
check("database back: stored", 1, int(sql("SELECT count(*) FROM raw_messages WHERE encode(body, 'escape') LIKE '%X-Outage: 1%'")[0][0]))
check("main server stops cleanly", 0, stop(main))
check("no password in any log line", False, any(p in log("main") for p in ["pw-plain", "pw-tls"]))

# 4. Killed mid-batch: nothing lost, no report twice.
def kill_report(i):
    return (f"From: r@kill.example\r\nTo: tls@example.net\r\nSubject: Report Domain: kill.example\r\n"
            f"Message-ID: <kill-{i}@kill.example>\r\nMIME-Version: 1.0\r\nContent-Type: application/tlsrpt+json\r\n\r\n"
            '{"organization-name":"Kill","date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":'
            f'"2026-03-01T23:59:59Z"}},"contact-info":"k@kill.example","report-id":"kill-{i}","policies":[{{"policy":'
            '{"policy-type":"sts","policy-domain":"kill.example"},"summary":{"total-successful-session-count":1,'
            '"total-failure-session-count":0}}]}\r\n').encode()


check("appended 600 reports", 600, append("kill", [kill_report(i) for i in range(600)]))
victim = serve("victim", config("kill", [block("kill", extra="")]))
# The first committed batch shows in the victim's log; reading a file is quick enough to kill it
# while the rest is still in flight (a database poll can be slower than the whole drain under load).
for _ in range(3000):
    if "event=stored" in log("victim"):
        break
    time.sleep(0.01)
victim.kill()
victim.wait()
stored_before = int(sql("SELECT count(*) FROM reports WHERE report_id LIKE 'kill-%'")[0][0])
check("killed mid-drain (some stored, some left)", True, 0 < stored_before < 600 or count("kill", "INBOX") > 0)
again = serve("again", config("kill2", [block("kill")]))
check("after the restart the mailbox drains", True, wait_for("kill INBOX empty", lambda: count("kill", "INBOX") == 0, 60))
check("killed mid-batch: every report once", ("600", "600"),
      tuple(sql("SELECT count(*), count(DISTINCT report_id) FROM reports WHERE report_id LIKE 'kill-%'")[0]))
check("killed mid-batch: every message filed once", 600, count("kill", "tlsrpt/processed"))

# 5. A second server with the same mailbox stands by.
append("kill", [kill_report(1000)])
second = serve("second", config("second", [block("kill")]))
time.sleep(3)
check("second server stands by", True, "event=standby" in log("second"))
check("the first server keeps polling", True, wait_for("kill-1000", lambda: count("kill", "INBOX") == 0, 10))
check("second server stops cleanly", 0, stop(second))
check("restarted server stops cleanly", 0, stop(again))

# 6. A wrong password: clear error, retried, metric; never the password.
port = free_port()
wrong = subprocess.Popen([TLSRPT, "--config", str(config("wrong", [block("plain", password="not-the-password")])),
                          "serve", "--database-url", PG_URL, "--smtp-listen", "", "--http-listen", f"127.0.0.1:{port}"],
                         stdout=open(TMP / "wrong.log", "w"), stderr=subprocess.STDOUT)
time.sleep(4)
import urllib.request  # noqa: E402
metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
errors = [l for l in metrics.splitlines() if l.startswith("tlsrpt_imap_errors_total ")]
check("wrong password: counted", True, bool(errors) and float(errors[0].split()[1]) >= 1)
check("wrong password: logged as refused", True, "login as plain refused" in log("wrong"))
check("wrong password: not in the log", False, "not-the-password" in log("wrong"))
check("wrong-password server stops cleanly", 0, stop(wrong))

# 7. Flag mode: messages stay, marked \Seen.
append("flag", [good[0].read_bytes()])
flagger = serve("flag", config("flag", [block("flag", after="flag")]))
m = mailbox("flag")


def seen():
    m.select("INBOX")
    return b"\\Seen" in m.fetch("1", "(FLAGS)")[1][0]


check("flag mode: marked \\Seen and left in INBOX", True, wait_for("seen", seen, 15))
check("flag mode: no processed folder", "NO", m.select('"tlsrpt/processed"')[0])
check("flag server stops cleanly", 0, stop(flagger))
finish("e2e.imap")
