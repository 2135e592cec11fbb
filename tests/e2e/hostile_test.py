#!/usr/bin/env python3
"""Hostile clients against a real `tlsrpt serve` (run by hostile_test.sh).

Each attack runs against a fresh server and database, sends only to loopback addresses, is
bounded in time, prints its figures on one line and asserts the bounded outcome. With BEFORE
set (an older binary), each attack first runs against it and only its figures are printed."""
import gzip
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

TMP = Path(os.environ["TMP"])
PG_ADMIN = os.environ["PG_ADMIN"]
sys.path.insert(0, str(Path(__file__).parent))
from harness import check, finish, free_port, sql, wait_port  # noqa: E402

MiB = 1024 * 1024
databases = 0
# Under AddressSanitizer the process's RSS is mostly the sanitizer's (shadow memory, a quarantine
# of freed blocks): RSS bounds are asserted in the normal build only, and said to be skipped here.
SANITIZED = os.environ.get("TLSRPT_SANITIZED", "")


def check_rss(name, ok):
    if SANITIZED:
        print(f"skipped (RSS under {SANITIZED} sanitizers is not the program's): {name}")
    else:
        check(name, True, ok)


def new_db():
    global databases
    databases += 1
    name = f"hostile{databases}"
    subprocess.run(["psql", "-q", PG_ADMIN, "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    return f"host={os.environ['PG_DIR']} port=5432 user={os.environ['PG_USER']} dbname={name}"


class Server:
    def __init__(self, binary, name, env=None, db=None):
        self.http = free_port()
        self.smtp = free_port()
        self.db = db or new_db()
        self.log = TMP / f"{name}.log"
        e = dict(os.environ, TLSRPT_DATABASE_URL=self.db, TLSRPT_SMTP_RECIPIENTS="tls@example.net",
                 TLSRPT_SMTP_HOSTNAME="mx.test", **(env or {}))
        self.proc = subprocess.Popen([binary, "serve", "--http-listen", f"127.0.0.1:{self.http}", "--smtp-listen",
                                      f"127.0.0.1:{self.smtp}", "--data-dir", str(TMP / name)],
                                     env=e, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        wait_port(self.http, name, self.log)
        wait_port(self.smtp, name, self.log)
        time.sleep(0.5)

    def rss_mib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0

    def metric(self, name):
        status, body = http_request(self.http, "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        total = 0.0
        for line in body.decode(errors="replace").splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def sql(self, q):
        return sql(q, url=self.db)

    def stop(self):
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


def connect(port, source="127.0.0.1", rcvbuf=None, timeout=10):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((source, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def read_response(s, deadline=10):
    """Status and body of one HTTP response (Content-Length framing), or (0, b"") if closed."""
    s.settimeout(deadline)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return 0, b""
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        m = re.search(rb"content-length: *(\d+)", head, re.I)
        want = int(m.group(1)) if m else 0
        while len(body) < want:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            body += chunk
        return int(head.split()[1]), body
    except OSError:
        return 0, b""


def http_request(port, text, source="127.0.0.1", body=b""):
    try:
        with connect(port, source) as s:
            s.sendall(text.encode() + body)
            return read_response(s)
    except OSError:
        return 0, b""


def smtp_replies(s, n, timeout=10):
    """The next n reply lines' codes."""
    s.settimeout(timeout)
    data = b""
    codes = []
    try:
        while len(codes) < n:
            while b"\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    return codes
                data += chunk
            line, data = data.split(b"\r\n", 1)
            if line[3:4] != b"-":
                codes.append(line[:3].decode())
    except OSError:
        pass
    return codes


def report_json(policies, details, mx_hosts=8, domain="hostile.example", org="Hostile Inc", rid="r1", minimal=False):
    pols = []
    for p in range(policies):
        fds = [{"result-type": "certificate-expired", "receiving-mx-hostname": f"m{i % mx_hosts}.x",
                "failed-session-count": 1} if minimal else
               {"result-type": "certificate-expired", "receiving-mx-hostname": f"mx{i % mx_hosts}.{domain}",
                "sending-mta-ip": f"192.0.2.{i % 250}", "failed-session-count": 1} for i in range(details)]
        pols.append({"policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: testing"],
                                "policy-domain": f"d{p}.{domain}" if policies > 1 else domain,
                                "mx-host": [f"*.{domain}"]},
                     "summary": {"total-successful-session-count": 10, "total-failure-session-count": details},
                     "failure-details": fds})
    return json.dumps({"organization-name": org, "contact-info": "x@example.net", "report-id": rid,
                       "date-range": {"start-datetime": "2026-11-20T00:00:00Z", "end-datetime": "2026-11-20T23:59:59Z"},
                       "policies": pols}, separators=(",", ":")).encode()


def post_report(port, body, source="127.0.0.1", content_type="application/tlsrpt+gzip", extra=""):
    return http_request(port, f"POST /tlsrpt HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n"
                              f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n", source, body)


# --- the attacks -----------------------------------------------------------------------------
# Each takes the binary and whether to assert, and returns its figures.

def smtp_write_stall(binary, strict):
    """1. Clients that pipeline commands and never read their replies."""
    srv = Server(binary, "stall", {"TLSRPT_SMTP_COMMAND_TIMEOUT": "5", "TLSRPT_SMTP_MAX_SESSIONS_PER_CLIENT": "10"})
    socks = []
    for _ in range(10):
        s = connect(srv.smtp, "127.0.0.2", rcvbuf=4096)
        s.setblocking(False)
        socks.append(s)
    # Pipelined NOOPs, never reading a reply, until the server stops taking them (1.5 s).
    flood = b"NOOP\r\n" * 20000
    sent = 0
    t0 = time.time()
    while time.time() - t0 < 1.5:
        for s in socks:
            try:
                sent += s.send(flood)
            except (BlockingIOError, OSError):
                pass
        time.sleep(0.01)
    with connect(srv.smtp, "127.0.0.2") as s:
        full = smtp_replies(s, 1, 3)
    t0 = time.time()
    freed = None
    while time.time() - t0 < 15:
        with connect(srv.smtp, "127.0.0.2") as s:
            if smtp_replies(s, 1, 3) == ["220"]:
                freed = round(time.time() - t0, 1)
                break
        time.sleep(0.5)
    # Each stuck session times out on its own clock (they stalled at different moments): all of
    # them within the same 15 s of the flood's end.
    timeouts = srv.metric("tlsrpt_smtp_timeouts_total")
    while timeouts < 10 and time.time() - t0 < 15:
        time.sleep(0.2)
        timeouts = srv.metric("tlsrpt_smtp_timeouts_total")
    for s in socks:
        s.close()
    srv.stop()
    if strict:
        check("smtp stall: the stuck sessions hold every slot of the address", ["421"], full)
        # Measured from the end of the flood; the server's writes stall only once it has answered
        # what it had already read (seconds more under a sanitizer), so the bound is 2 x the timeout.
        check("smtp stall: a slot is free again within 2 x command_timeout (5 s)", True, freed is not None and freed <= 10)
        check("smtp stall: every stuck session closed and counted (within 15 s)", True, timeouts >= 10)
    return {"noop_mib_sent": round(sent / MiB, 1), "slots_full": full, "slot_freed_after_s": freed,
            "timeouts_counted": timeouts}


def smtp_overlong_line(binary, strict):
    """6. One over-long command line, then NOOP: one reply each."""
    srv = Server(binary, "overlong")
    with connect(srv.smtp) as s:
        smtp_replies(s, 1)
        s.sendall(b"EHLO x\r\n")
        smtp_replies(s, 1)
        s.sendall(b"X" * 40000 + b"\r\nNOOP\r\nQUIT\r\n")
        codes = smtp_replies(s, 4, 5)
    srv.stop()
    if strict:
        check("overlong line: one 500, then 250 for NOOP, 221", ["500", "250", "221"], codes[:3])
    return {"replies": codes}


def smtp_message_rate(binary, strict):
    """8b. One client, one session, 40 messages at once; burst 10."""
    srv = Server(binary, "rate", {"TLSRPT_SMTP_MESSAGE_BURST": "10", "TLSRPT_SMTP_MESSAGES_PER_MINUTE": "6"})
    msg = b"From: a@b.example\r\nSubject: junk\r\n\r\nnot a report\r\n.\r\n"
    accepted = deferred = 0
    with connect(srv.smtp, "127.0.0.3") as s:
        smtp_replies(s, 1)
        s.sendall(b"EHLO x\r\n")
        smtp_replies(s, 1)
        for _ in range(40):
            s.sendall(b"MAIL FROM:<a@b.example>\r\n")
            code = smtp_replies(s, 1)[0]
            if code != "250":
                deferred += code == "450"
                continue
            s.sendall(b"RCPT TO:<tls@example.net>\r\nDATA\r\n")
            smtp_replies(s, 2)
            s.sendall(msg)
            accepted += smtp_replies(s, 1, 20) == ["250"]
    stored = int(srv.sql("SELECT count(*) FROM raw_messages")[0][0])
    limited = srv.metric("tlsrpt_smtp_rate_limited_total")
    srv.stop()
    if strict:
        check("smtp rate: at most burst + 1 accepted", True, 10 <= accepted <= 11)
        check("smtp rate: the rest deferred with 450", 40 - accepted, deferred)
        check("smtp rate: every acknowledged message stored", accepted, stored)
        check("smtp rate: counted", deferred, int(limited))
    return {"accepted": accepted, "deferred_450": deferred, "stored": stored}


def chunked_no_body_route(binary, strict):
    """2. GET /healthz with a 19 MiB chunked body, tokens configured."""
    srv = Server(binary, "chunked", {"TLSRPT_HTTP_READ_TOKENS": "r" * 24})
    s = connect(srv.http)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    sent = 0
    status = 0
    s.setblocking(False)
    t0 = time.time()
    while sent < 19 * MiB and time.time() - t0 < 20:
        r, w, _ = select.select([s], [s], [], 1)
        if r:
            break
        if w:
            try:
                sent += s.send(chunk)
            except BlockingIOError:
                pass
            except OSError:
                break
    if sent >= 19 * MiB:
        try:
            s.send(b"0\r\n\r\n")
        except OSError:
            pass
    status, _ = read_response(s, 10)
    s.close()
    srv.stop()
    if strict:
        check("chunked body on /healthz: refused (400 or 413)", True, status in (400, 413))
        check("chunked body on /healthz: answered long before the body ends", True, sent < 8 * MiB)
    return {"status": status, "body_bytes_sent_before_answer": sent}


def bad_requests(binary, strict):
    """3 and smaller ones: invalid UTF-8, bad chunk size, Expect, encoded path, one-line log."""
    srv = Server(binary, "badreq")
    got = {}
    for p in ("organization", "domain", "mx_host"):
        status, body = http_request(srv.http, f"GET /api/v1/summary?{p}=%ff HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        got[p] = status
        if strict:
            check(f"{p}=%ff: 400", 400, status)
            check(f"{p}=%ff: names the parameter", True, p.encode() in body)
    status, _ = http_request(srv.http, "GET /api/v1/summary?organization=%00 HTTP/1.1\r\nHost: t\r\n\r\n")
    got["nul"] = status
    status, _ = http_request(srv.http, "POST /tlsrpt HTTP/1.1\r\nHost: t\r\nContent-Type: application/tlsrpt+json\r\n"
                                       "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
    got["bad_chunk"] = status
    status, _ = http_request(srv.http, "GET /healthz HTTP/1.1\r\nHost: t\r\nExpect: magic\r\n\r\n")
    got["expect"] = status
    status, _ = http_request(srv.http, "GET /health%7a HTTP/1.1\r\nHost: t\r\n\r\n")
    got["encoded_path"] = status
    status, _ = http_request(srv.http, "GET /api/v1%2Fsummary HTTP/1.1\r\nHost: t\r\n\r\n")
    got["encoded_slash"] = status
    srv.stop()
    log = srv.log.read_text(errors="replace")
    multi = sum(1 for line in log.splitlines() if line.startswith(("DETAIL", "HINT", "LINE", "CONTEXT", "  ")))
    got["log_continuation_lines"] = multi
    if strict:
        check("organization=%00: 400", 400, got["nul"])
        check("malformed chunk size: 400", 400, got["bad_chunk"])
        check("Expect: magic: 417", 417, got["expect"])
        check("/health%7a is /healthz", 200, got["encoded_path"])
        check("an encoded / is refused", 400, got["encoded_slash"])
        check("no multi-line database errors in the log", 0, multi)
    return got


def tokens_config(binary, strict):
    """Smaller: an empty entry in a token list is a configuration error."""
    e = dict(os.environ, TLSRPT_DATABASE_URL="host=/nonexistent", TLSRPT_HTTP_READ_TOKENS="a" * 20 + ",,"+ "b" * 20,
             TLSRPT_SMTP_LISTEN="")
    r = subprocess.run([binary, "serve", "--http-listen", f"127.0.0.1:{free_port()}"], env=e, capture_output=True,
                       text=True, timeout=30)
    if strict:
        check("empty token entry: refused at start", True, r.returncode != 0 and "empty entry" in r.stderr)
    return {"exit": r.returncode, "says": (r.stderr.strip().splitlines() or [""])[-1][:100]}


def token_guessing(binary, strict):
    """Round 2, 6: wrong bearer and submitter tokens, as fast as one connection each allows. Failed
    authentication takes the client's attempts (10 at once, one more every 6 s): the guesses
    past them get 429 without the token being compared, and a correct token from another address
    is not held up; from the guessing address it gets in once an attempt is back."""
    read, intake = "r" * 24, "s" * 24
    srv = Server(binary, "guessing", {"TLSRPT_HTTP_READ_TOKENS": read, "TLSRPT_HTTP_ADMIN_TOKENS": "a" * 24,
                                      "TLSRPT_HTTP_INTAKE_TOKENS": f"sub:{intake}"})
    def get(token, source="127.0.0.1"):
        return http_request(srv.http, f"GET /api/v1/domains HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n"
                                      "Connection: close\r\n\r\n", source)[0]
    codes = [get("guess%020d" % i) for i in range(200)]
    intake_codes = [post_report(srv.http, b"{}", source="127.0.0.2", content_type="application/tlsrpt+json",
                                extra=f"Authorization: Bearer wrong{i:020d}\r\n")[0] for i in range(50)]
    other = get(read, source="127.0.0.3")
    right_while_locked = get(read)
    time.sleep(6.5)  # one attempt comes back every 6 s
    right_after = get(read)
    failures, throttled = srv.metric("tlsrpt_http_auth_failures_total"), srv.metric("tlsrpt_http_auth_throttled_total")
    srv.stop()
    if strict:
        check("guessing: 10 wrong bearer tokens answered 401, the rest 429", (10, 190),
              (codes.count(401), codes.count(429)))
        check("guessing: 10 wrong submitter tokens answered 401, the rest 429", (10, 40),
              (intake_codes.count(401), intake_codes.count(429)))
        check("guessing: a correct token from another address is answered", 200, other)
        check("guessing: a correct token from the guessing address waits (429), then gets in", (429, 200),
              (right_while_locked, right_after))
        check("guessing: the metrics count the failures and the throttled requests", (20.0, 231.0), (failures, throttled))
    return {"bearer_401": codes.count(401), "bearer_429": codes.count(429), "intake_401": intake_codes.count(401),
            "intake_429": intake_codes.count(429), "locked_then": (right_while_locked, right_after)}


def readiness_failed(srv):
    """Failed sts sessions in victim.example's readiness evidence."""
    status, body = http_request(srv.http, "GET /api/v1/domains/victim.example/readiness HTTP/1.1\r\nHost: t\r\n"
                                          "Connection: close\r\n\r\n")
    return json.loads(body)["evidence"]["sts_sessions"]["failed"] if status == 200 else -status


def open_intake(binary, strict):
    """Round 2, 4: an unauthenticated POST /tlsrpt claiming 50,000 certificate-expired sessions.
    Without http.intake_tokens it is stored but counts as unauthenticated: the alert series
    (tlsrpt_report_sessions_total) does not move, nor the readiness verdict's evidence; a
    configured submitter's report moves both. (Dated yesterday: the verdict looks at 30 days.)"""
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    body = json.dumps({"organization-name": "Forger", "contact-info": "x@example.net", "report-id": "forged-1",
                       "date-range": {"start-datetime": f"{day}T00:00:00Z", "end-datetime": f"{day}T23:59:59Z"},
                       "policies": [{"policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: testing"],
                                                "policy-domain": "victim.example", "mx-host": ["mx.victim.example"]},
                                     "summary": {"total-successful-session-count": 0, "total-failure-session-count": 50000},
                                     "failure-details": [{"result-type": "certificate-expired", "failed-session-count": 50000}]}]
                       }).encode()
    # (the suite runs with dkim.mode = off, whose default alert_on is all: set as a mail server has it)
    srv = Server(binary, "open-intake", {"TLSRPT_DKIM_ALERT_ON": "authenticated"})
    status, _ = post_report(srv.http, body, content_type="application/tlsrpt+json")
    open_sessions = srv.metric("tlsrpt_report_sessions_total")
    open_unauth = srv.metric("tlsrpt_reports_unauthenticated_total")
    open_evidence = readiness_failed(srv)
    srv.stop()
    srv = Server(binary, "submitter-intake", {"TLSRPT_HTTP_INTAKE_TOKENS": "sub:" + "t" * 24,
                                              "TLSRPT_DKIM_ALERT_ON": "authenticated"})
    status2, _ = post_report(srv.http, body, content_type="application/tlsrpt+json", extra=f"Authorization: Bearer {'t' * 24}\r\n")
    sub_sessions = srv.metric("tlsrpt_report_sessions_total")
    sub_evidence = readiness_failed(srv)
    srv.stop()
    if strict:
        check("open intake: the readiness evidence leaves the report out; a submitter's counts", (0, 50000),
              (open_evidence, sub_evidence))
        check("open intake: the report is stored, its sessions stay out of the alert series", (201, 0.0, 1.0),
              (status, open_sessions, open_unauth))
        check("submitter intake: the report's sessions count", (201, 50000.0), (status2, sub_sessions))
    return {"open_sessions_counted": open_sessions, "open_unauthenticated": open_unauth,
            "submitter_sessions_counted": sub_sessions, "readiness_failed_open": open_evidence,
            "readiness_failed_submitter": sub_evidence}


def slow_reads(binary, strict):
    """Round 2, 8: reads that hold the database (here: a table locked by another session, as an
    expensive GET repeated past the cache would) fill the workers. /healthz answers on a worker of
    its own; a client gets at most http.workers_per_client of the workers (429 past it); a read
    ends after http.query_timeout with a 503 that names it."""
    srv = Server(binary, "slow-reads", {"TLSRPT_HTTP_WORKERS": "2", "TLSRPT_HTTP_WORKERS_PER_CLIENT": "2",
                                        "TLSRPT_HTTP_QUERY_TIMEOUT": "3", "TLSRPT_HTTP_CACHE_SECONDS": "0"})
    lock = subprocess.Popen(["psql", "-q", srv.db, "-c",
                             "BEGIN; LOCK TABLE reports IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(8); COMMIT;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    results = {}

    def read(key, source, query):
        t0 = time.monotonic()
        status, body = http_request(srv.http, f"GET /api/v1/reports?{query} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                                    source)
        results[key] = (status, time.monotonic() - t0, body.decode(errors="replace"))

    threads = [threading.Thread(target=read, args=(f"a{i}", "127.0.0.1", f"limit={10 + i}")) for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    # a third from the same address while two are under way
    threads.append(threading.Thread(target=read, args=("a2", "127.0.0.1", "limit=30")))
    threads[-1].start()
    time.sleep(0.3)
    t0 = time.monotonic()
    health = http_request(srv.http, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "127.0.0.3")[0]
    health_s = time.monotonic() - t0
    for t in threads:
        t.join()
    lock.wait(timeout=30)
    refused = srv.metric("tlsrpt_http_workers_refused_total")
    srv.stop()
    held = [results["a0"], results["a1"]]
    if strict:
        check("slow reads: /healthz answers at once while the workers are held", (200, True), (health, health_s < 1))
        check("slow reads: a third request from the same address: 429", 429, results["a2"][0])
        check("slow reads: the held reads end with 503 naming http.query_timeout, within it and 2 s", [(503, True, True)] * 2,
              [(s, "http.query_timeout" in b, d < 5) for s, d, b in held])
        check("slow reads: the refusal is counted", 1.0, refused)
    return {"healthz_s": round(health_s, 2), "third_from_one_address": results["a2"][0],
            "held_reads": [(s, round(d, 1)) for s, d, _ in held]}


def bad_listen(binary, strict):
    """A malformed listen address (issue 27's crash): serve exits 2 naming the key and the value,
    never aborts (it ended with SIGABRT, exit 134, on an exception nobody caught)."""
    outcomes = []
    for key, var in (("http.listen", "TLSRPT_HTTP_LISTEN"), ("smtp.listen", "TLSRPT_SMTP_LISTEN")):
        for value in ("garbage", "127.0.0.1:99999", "[::1", "host.invalid:80"):
            e = dict(os.environ, TLSRPT_DATABASE_URL="host=/nonexistent", TLSRPT_SMTP_RECIPIENTS="tls@example.net", **{var: value})
            r = subprocess.run([binary, "serve"], env=e, capture_output=True, text=True, timeout=30)
            outcomes.append((key, value, r.returncode, f"{key}: '{value}'" in r.stderr))
    if strict:
        check("bad listen addresses: each exits 2 naming the key and the value", [(k, v, 2, True) for k, v, _, _ in outcomes],
              outcomes)
    return {"exits": sorted({o[2] for o in outcomes})}


def held_uploads(binary, strict):
    """4a. 40 uploads of 19 MiB held open from eight addresses."""
    srv = Server(binary, "uploads", {"TLSRPT_HTTP_REQUEST_TIMEOUT": "20", "TLSRPT_HTTP_INTAKE_BURST": "1000"})
    base = srv.rss_mib()
    socks, refused = [], 0
    for i in range(40):
        try:
            s = connect(srv.http, f"127.0.0.{2 + i % 8}")
            s.sendall(b"POST /tlsrpt HTTP/1.1\r\nHost: t\r\nContent-Type: application/tlsrpt+json\r\n"
                      b"Content-Length: 20000000\r\n\r\n")
            s.settimeout(0.2)
            try:
                for _ in range(19):
                    s.sendall(b"{" * MiB)
            except OSError:
                pass
            socks.append(s)
        except OSError:
            refused += 1
    time.sleep(1)
    peak = srv.rss_mib()
    health, _ = http_request(srv.http, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    busy = 0
    for s in socks:
        s.setblocking(True)
        s.settimeout(0.5)
        try:
            busy += s.recv(64).startswith(b"HTTP/1.1 503")
        except OSError:
            pass
        s.close()
    srv.stop()
    grown = round(peak - base)
    if strict:
        check_rss("held uploads: RSS grows by at most buffer_memory (128 MiB) + 64 MiB", grown <= 192)
        check("held uploads: the rest refused with 503", True, busy >= 30)
        check("held uploads: /healthz still answers", 200, health)
    return {"rss_baseline_mib": round(base), "rss_growth_mib": grown, "answered_503": busy, "healthz": health}


def large_reports(binary, strict):
    """7 and 4b. A 5,000-policy report, the largest report the defaults accept, its cost, its
    answer, slow readers of it, and label slots."""
    srv = Server(binary, "large", {"TLSRPT_HTTP_INTAKE_BURST": "1000", "TLSRPT_METRICS_MAX_DOMAINS": "3",
                                   "TLSRPT_HTTP_REQUEST_TIMEOUT": "15"})
    out = {}
    # The attack of the issue: 5,000 policies of 30 failure-details each.
    bomb = gzip.compress(report_json(5000, 30, mx_hosts=30, rid="bomb", minimal=True))
    t0 = time.time()
    status, _ = post_report(srv.http, bomb)
    out["bomb_gzip_kib"] = len(bomb) // 1024
    out["bomb_status"] = status
    out["bomb_store_s"] = round(time.time() - t0, 2)
    out["bomb_detail_rows"] = int(srv.sql("SELECT count(*) FROM failure_details")[0][0])
    out["bomb_rollup_rows"] = int(srv.sql("SELECT count(*) FROM session_counts_new")[0][0]) + \
        int(srv.sql("SELECT count(*) FROM session_counts")[0][0])
    # A real domain with five daily reports, older than the bomb: it must keep its label slot.
    for day in range(5):
        body = report_json(1, 1, domain="real.example", org="Real Org", rid=f"real{day}")
        post_report(srv.http, body.replace(b"2026-11-20", f"2026-11-1{day}".encode()), content_type="application/tlsrpt+json")
    # The largest report the defaults accept: 100 policies x 200 failure-details over 8 MX hosts.
    big = gzip.compress(report_json(100, 200, mx_hosts=8, rid="big"))
    before_rows = int(srv.sql("SELECT count(*) FROM failure_details")[0][0])
    t0 = time.time()
    status, body = post_report(srv.http, big)
    out["largest_status"] = status
    out["largest_store_s"] = round(time.time() - t0, 2)
    out["largest_detail_rows"] = int(srv.sql("SELECT count(*) FROM failure_details")[0][0]) - before_rows
    rid = srv.sql("SELECT max(id) FROM reports")[0][0]
    t0 = time.time()
    status, answer = http_request(srv.http, f"GET /api/v1/summary HTTP/1.1\r\nHost: t\r\n\r\n")
    out["summary_uncached_ms"] = round((time.time() - t0) * 1000)
    bomb_id = srv.sql("SELECT id FROM reports WHERE report_id = 'bomb'")
    target = bomb_id[0][0] if bomb_id else rid
    status, answer = http_request(srv.http, f"GET /api/v1/reports/{target} HTTP/1.1\r\nHost: t\r\n\r\n")
    out["report_answer_mib"] = round(len(answer) / MiB, 1)
    base = srv.rss_mib()
    readers = []
    for i in range(60):
        try:
            s = connect(srv.http, f"127.0.0.{2 + i % 4}", rcvbuf=4096)
            s.sendall(f"GET /api/v1/reports/{target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            readers.append(s)
        except OSError:
            pass
    time.sleep(4)
    out["slow_readers_rss_growth_mib"] = round(srv.rss_mib() - base)
    for s in readers:
        s.close()
    srv.stop()
    # Label slots after a restart: seeded by report count.
    srv2 = Server(binary, "large-restart", {"TLSRPT_METRICS_MAX_DOMAINS": "3"}, db=srv.db)
    status, body = http_request(srv2.http, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
    out["real_domain_has_label"] = b'policy_domain="real.example"' in body
    srv2.stop()
    if strict:
        check("5,000-policy report: rejected (400), nothing stored", (400, 0), (out["bomb_status"], out["bomb_detail_rows"]))
        check("largest accepted report: stored", 201, out["largest_status"])
        check("largest accepted report: 20,000 failure-details", 20000, out["largest_detail_rows"])
        check("rollup rows of one report bounded", True, out["bomb_rollup_rows"] <= 1000 + 10)
        check("report answer under 16 MiB", True, out["report_answer_mib"] < 16)
        check_rss("60 slow readers: RSS grows by at most buffer_memory + 64 MiB", out["slow_readers_rss_growth_mib"] <= 192)
        check("label slots: the domain with the most reports keeps its label", True, out["real_domain_has_label"])
    return out


def connection_flood(binary, strict):
    """5. One address opens 600 connections; health checks from another address."""
    srv = Server(binary, "flood", {"TLSRPT_HTTP_IDLE_TIMEOUT": "2"})
    socks = []
    for _ in range(600):
        try:
            socks.append(connect(srv.http, "127.0.0.2", timeout=2))
        except OSError:
            break
    time.sleep(1)
    open_now = srv.metric("tlsrpt_http_active_connections")
    t0 = time.time()
    health, _ = http_request(srv.http, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", "127.0.0.5")
    health_ms = round((time.time() - t0) * 1000)
    for s in socks:
        s.close()
    # A kept-alive connection is closed after the idle timeout.
    s = connect(srv.http)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    read_response(s)
    t0 = time.time()
    s.settimeout(30)
    try:
        closed = s.recv(1) == b""
    except OSError:
        closed = True
    idle_s = round(time.time() - t0, 1)
    s.close()
    srv.stop()
    if strict:
        check("flood: connections held by one address at most 32 (+1 for /metrics)", True, open_now <= 33)
        check("flood: /healthz from another address answers", 200, health)
        check("idle keep-alive connection closed after http.idle_timeout (2 s)", True, closed and idle_s < 4)
    return {"held_by_one_address": int(open_now) - 1, "healthz": health, "healthz_ms": health_ms, "idle_close_s": idle_s}


def rejected_quota(binary, strict):
    """8a. Ten 19 MiB junk POSTs from one address; junk mail past the quota keeps its headers."""
    srv = Server(binary, "quota", {"TLSRPT_HTTP_INTAKE_BURST": "1000", "TLSRPT_QUOTA_REJECTED_PER_CLIENT": "40M",
                                   "TLSRPT_QUOTA_REJECTED_TOTAL": "1G"})
    if strict:  # an old day's count, which serve forgets (with the rollup compaction, every 10 s)
        srv.sql("INSERT INTO rejected_quota VALUES (current_date - 3, '192.0.2.1', 1, 1)")
    t0 = time.time()
    codes = []
    junk = b"x" * (19 * MiB)
    for i in range(10):
        status, _ = post_report(srv.http, junk[:-i - 1] + b"y" * (i + 1), "127.0.0.7", "application/tlsrpt+json")
        codes.append(status)
    kept = int(srv.sql("SELECT coalesce(sum(octet_length(body)), 0) FROM raw_messages")[0][0])
    rows = int(srv.sql("SELECT count(*) FROM raw_messages")[0][0])
    dropped = srv.metric("tlsrpt_rejected_bodies_dropped_total")
    # Mail: one client's junk past its quota keeps the header section.
    with connect(srv.smtp, "127.0.0.8") as s:
        smtp_replies(s, 1)
        s.sendall(b"EHLO x\r\n")
        smtp_replies(s, 1)
        for i in range(3):
            s.sendall(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<tls@example.net>\r\nDATA\r\n")
            smtp_replies(s, 3)
            s.sendall(b"Subject: junk %d\r\nFrom: a@b.example\r\n\r\n" % i + b"z" * (15 * MiB) + b"\r\n.\r\n")
            smtp_replies(s, 1, 30)
    heads = srv.sql("SELECT count(*) FROM raw_messages WHERE transport = 'smtp' AND body IS NULL AND "
                    "body_dropped = 'quota' AND convert_from(head, 'UTF8') LIKE 'Subject: junk%'") \
        if strict else [["-"]]
    time.sleep(max(0.0, 11 - (time.time() - t0)))
    old = srv.sql("SELECT count(*) FROM rejected_quota WHERE day < current_date - 1")[0][0] if strict else "-"
    srv.stop()
    if strict:
        check("junk POSTs: each a 400", [400] * 10, codes)
        check("junk POSTs: every one recorded", 10, rows)
        check("junk POSTs: bodies kept within the quota (40 MiB + one message)", True, kept <= 60 * MiB)
        check("junk POSTs: bodies dropped and counted", True, dropped >= 7)
        check("junk mail past the quota: header section kept, body not", "1", heads[0][0])
        check("quota counts older than yesterday forgotten", "0", old)
    return {"statuses": sorted(set(codes)), "rows": rows, "body_bytes_kept_mib": round(kept / MiB), "dropped": dropped}


def haproxy_available():
    return subprocess.run(["sh", "-c", "command -v haproxy"], capture_output=True).returncode == 0


def behind_proxy(binary, strict, trusted=True):
    """9. Reporters behind a real haproxy (option forwardfor): buckets per real client."""
    env = {"TLSRPT_HTTP_INTAKE_BURST": "3", "TLSRPT_HTTP_INTAKE_PER_MINUTE": "1"}
    if trusted:
        env["TLSRPT_HTTP_TRUSTED_PROXIES"] = "127.0.0.1/32"
    srv = Server(binary, "proxy" + ("" if trusted else "-untrusted"), env)
    port = free_port()
    cfg = TMP / f"haproxy-{port}.cfg"
    cfg.write_text(f"""global
    log stderr format raw local0 err
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend in
    bind 127.0.0.1:{port}
    option forwardfor
    default_backend tlsrpt
backend tlsrpt
    server s1 127.0.0.1:{srv.http}
""")
    proxy = subprocess.Popen(["haproxy", "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, "haproxy")
    body = report_json(1, 1, domain="proxied.example")
    first = [post_report(port, body.replace(b'"r1"', f'"a{i}"'.encode()), "127.0.0.2", "application/tlsrpt+json")[0]
             for i in range(4)]
    other = post_report(port, body.replace(b'"r1"', b'"b0"'), "127.0.0.3", "application/tlsrpt+json")[0]
    peers = srv.sql("SELECT DISTINCT source->>'peer' || ' via ' || coalesce(source->>'proxy', '-') FROM raw_messages "
                    "ORDER BY 1")
    proxy.terminate()
    proxy.wait(timeout=10)
    srv.stop()
    if strict:
        check("behind haproxy: one reporter's 4th post is 429", [201, 201, 201, 429], first)
        check("behind haproxy: another reporter has its own bucket", 201, other)
        check("behind haproxy: stored with the real peer and the proxy",
              [["127.0.0.2 via 127.0.0.1"], ["127.0.0.3 via 127.0.0.1"]], peers)
    return {"reporter_a": first, "reporter_b": other, "peers": [p[0] for p in peers]}


def memory_after_flood(binary, strict):
    """10. RSS when idle after an SMTP flood of 160 four-MiB messages over eight sessions."""
    srv = Server(binary, "rss", {"TLSRPT_QUOTA_REJECTED_PER_CLIENT": "0", "TLSRPT_QUOTA_REJECTED_TOTAL": "0",
                                 "TLSRPT_SMTP_MESSAGE_BURST": "1000"})
    base = srv.rss_mib()
    peak = [0.0]
    acked = [0]
    lock = threading.Lock()

    def sender(i):
        with connect(srv.smtp, f"127.0.1.{i + 1}", timeout=60) as s:
            smtp_replies(s, 1)
            s.sendall(b"EHLO x\r\n")
            smtp_replies(s, 1)
            for j in range(20):
                s.sendall(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<tls@example.net>\r\nDATA\r\n")
                smtp_replies(s, 3, 60)
                s.sendall(b"Subject: %d-%d\r\n\r\n" % (i, j) + (b"%d " % j) * (4 * MiB // 3) + b"\r\n.\r\n")
                ok = smtp_replies(s, 1, 60) == ["250"]
                with lock:
                    acked[0] += ok
                    peak[0] = max(peak[0], srv.rss_mib())

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = int(srv.sql("SELECT count(*) FROM raw_messages")[0][0])
    time.sleep(12)  # serve returns freed memory every 10 s
    idle = srv.rss_mib()
    srv.stop()
    if strict:
        check("flood: every acknowledged message stored", acked[0], stored)
        check_rss("flood: idle RSS within 32 MiB of the baseline", idle - base <= 32)
    return {"rss_baseline_mib": round(base), "rss_peak_mib": round(peak[0]), "rss_idle_after_mib": round(idle),
            "acked": acked[0], "stored": stored}


attacks = [smtp_write_stall, smtp_overlong_line, smtp_message_rate, chunked_no_body_route, bad_requests, tokens_config,
           token_guessing, open_intake, slow_reads, bad_listen, held_uploads, large_reports, connection_flood, rejected_quota, behind_proxy, memory_after_flood]
only = os.environ.get("HOSTILE_ONLY")
before = os.environ.get("BEFORE")
for attack in attacks:
    if only and attack.__name__ not in only.split(","):
        continue
    if attack is behind_proxy and not haproxy_available():
        print("skipped behind_proxy: haproxy is not installed")
        continue
    if before:
        try:
            print(f"before {attack.__name__}: {attack(before, False)}", flush=True)
        except Exception as e:  # the old binary may not even get that far
            print(f"before {attack.__name__}: failed: {e!r}", flush=True)
    t0 = time.time()
    figures = attack(os.environ["TLSRPT"], True)
    print(f"after  {attack.__name__}: {figures} ({time.time() - t0:.0f} s)", flush=True)
    if attack is behind_proxy:
        print(f"after  behind_proxy without trusted_proxies: {behind_proxy(os.environ['TLSRPT'], False, False)}")
finish("hostile")
