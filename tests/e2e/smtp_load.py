#!/usr/bin/env python3
"""Sends distinct report emails over several SMTP sessions until told to stop (or COUNT are sent),
and records the SHA-256 of every message that got a 250 reply.
Usage: smtp_load.py PORT SESSIONS COUNT ACKED_FILE [PREFIX]
(PREFIX tells the messages of several loaders apart; the same PREFIX sends the same messages.)"""
import hashlib, socket, sys, threading

port, sessions, count, acked_file = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
prefix = sys.argv[5] if len(sys.argv) > 5 else ""
acked, lock, counter = [], threading.Lock(), [0]
out = open(acked_file, "w")  # one line per acknowledged message, as it happens (the test watches it)

def message(n):
    body = ("From: noreply@reporter.example\r\nTo: tls@example.net\r\nSubject: Report Domain: example.net "
            f"Submitter: reporter.example Report-ID: <load-{prefix}{n}>\r\nMessage-ID: <load-{prefix}{n}@reporter.example>\r\n"
            "Content-Type: application/tlsrpt+json\r\n\r\n"
            '{"organization-name":"Load","date-range":{"start-datetime":"2026-03-01T00:00:00Z",'
            '"end-datetime":"2026-03-01T23:59:59Z"},"contact-info":"a@b.example","report-id":"load-%s%d",'
            '"policies":[{"policy":{"policy-type":"sts","policy-domain":"example.net"},'
            '"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}\r\n' % (prefix, n))
    return body.encode()

def reply(f):
    while True:
        line = f.readline()
        if not line:
            raise EOFError
        if line[3:4] != b"-":
            return line

def worker():
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        f = s.makefile("rb")
        reply(f)
        s.sendall(b"EHLO load.example\r\n"); reply(f)
        while True:
            with lock:
                if counter[0] >= count:
                    break
                counter[0] += 1
                n = counter[0]
            m = message(n)
            s.sendall(b"MAIL FROM:<a@reporter.example>\r\nRCPT TO:<tls@example.net>\r\nDATA\r\n")
            reply(f); reply(f); reply(f)
            s.sendall(m + b".\r\n")
            if reply(f).startswith(b"250"):
                with lock:
                    acked.append(hashlib.sha256(m).hexdigest())
                    out.write(acked[-1] + "\n")
                    out.flush()
    except (EOFError, OSError):
        pass  # the server was killed

threads = [threading.Thread(target=worker) for _ in range(sessions)]
for t in threads: t.start()
for t in threads: t.join()
out.close()
print(f"{len(acked)} acknowledged")
