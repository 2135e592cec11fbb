#!/usr/bin/env python3
"""SMTP acceptance latency: SESSIONS sessions send distinct small reports for SECONDS, each timed
from the end of DATA to its 250; prints "RESULT TAG messages p50_ms p99_ms failures".
With OUT (not ""), also writes one line per acknowledged message to it: the epoch time of its 250
and its latency in ms (to pick the messages of a window afterwards). With RATE, the sessions
together send at most RATE messages a second (each its share, evenly spaced); without, as fast
as the server answers.
Usage: smtp_latency.py PORT SESSIONS SECONDS TAG [OUT] [RATE]"""
import socket
import sys
import threading
import time

port, sessions, seconds, tag = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
out = open(sys.argv[5], "w", buffering=1) if len(sys.argv) > 5 and sys.argv[5] else None  # line by line: it may be killed
interval = sessions / float(sys.argv[6]) if len(sys.argv) > 6 and float(sys.argv[6]) > 0 else 0.0
latencies, failures, lock = [], [0], threading.Lock()
stop_at = time.monotonic() + seconds


def message(n):
    rid = f"lat-{tag}-{n}"
    return ("From: noreply@latency.example\r\nTo: tls@example.net\r\nSubject: Report Domain: latency.example "
            f"Submitter: latency.example Report-ID: <{rid}>\r\nMessage-ID: <{rid}@latency.example>\r\n"
            "Content-Type: application/tlsrpt+json\r\n\r\n"
            '{"organization-name":"Latency","date-range":{"start-datetime":"2026-11-20T00:00:00Z",'
            '"end-datetime":"2026-11-20T23:59:59Z"},"contact-info":"a@b.example","report-id":"%s",'
            '"policies":[{"policy":{"policy-type":"sts","policy-domain":"latency.example"},'
            '"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}\r\n.\r\n' % rid).encode()


def reply(f):
    while True:
        line = f.readline()
        if not line:
            raise EOFError
        if line[3:4] != b"-":
            return line


def worker(w):
    n = 0
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        f = s.makefile("rb")
        reply(f)
        s.sendall(b"EHLO latency.example\r\n")
        reply(f)
        next_at = time.monotonic() + interval * w / sessions
        while time.monotonic() < stop_at:
            if interval:
                time.sleep(max(0.0, next_at - time.monotonic()))
                next_at += interval
            n += 1
            s.sendall(b"MAIL FROM:<a@latency.example>\r\nRCPT TO:<tls@example.net>\r\nDATA\r\n")
            reply(f); reply(f); reply(f)
            started = time.monotonic()
            s.sendall(message(f"{w}-{n}"))
            ok = reply(f).startswith(b"250")
            took = (time.monotonic() - started) * 1000
            with lock:
                if ok:
                    latencies.append(took)
                    if out:
                        out.write(f"{time.time():.3f} {took:.2f}\n")
                else:
                    failures[0] += 1
    except (EOFError, OSError):
        with lock:
            failures[0] += 1


threads = [threading.Thread(target=worker, args=(w,)) for w in range(sessions)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if out:
    out.close()
latencies.sort()
pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0
print(f"RESULT {tag} {len(latencies)} {pick(0.5):.2f} {pick(0.99):.2f} {failures[0]}")
