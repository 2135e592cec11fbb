#!/usr/bin/env python3
"""SMTP protocol edge cases at the socket level against a running `tlsrpt serve`.
Usage: smtp_edge.py PORT CAFILE   (recipient tls@example.net; size limit and timeouts set by the caller)
Prints one line per failed check and 'N passed, M failed'."""
import socket, ssl, sys, time

PORT, CAFILE = int(sys.argv[1]), sys.argv[2]
passed = failed = 0

def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name} {detail}")

class Client:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
        self.buf = b""
        self.greeting = self.reply()
    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())
    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()
    def reply(self):  # a whole (multi-line) reply: its last line
        while True:
            l = self.line()
            if len(l) < 4 or l[3] != "-":
                return l
    def cmd(self, c):
        self.send(c + "\r\n")
        return self.reply()
    def closed(self):
        try:
            self.s.settimeout(3)
            return self.s.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False

def envelope(c, helo="EHLO edge.example", mail="MAIL FROM:<a@edge.example>"):
    """Greets and opens a transaction (raw bytes allowed); returns the RCPT reply."""
    c.send((helo if isinstance(helo, bytes) else helo.encode()) + b"\r\n"); c.reply()
    c.send((mail if isinstance(mail, bytes) else mail.encode()) + b"\r\n"); c.reply()
    return c.cmd("RCPT TO:<tls@example.net>")

def send_message(c, text):
    """DATA with `text` (ending in CRLF); returns the reply to the end of data."""
    c.cmd("DATA")
    c.send(text + ".\r\n")
    return c.reply()

# Pipelining: a whole transaction in one write, answered in order.
c = Client()
c.send("EHLO edge.example\r\nMAIL FROM:<a@edge.example>\r\nRCPT TO:<tls@example.net>\r\nRCPT TO:<x@nowhere.example>\r\nDATA\r\n")
replies = [c.reply() for _ in range(5)]
check("pipelining: replies in order", [r[:3] for r in replies] == ["250", "250", "250", "550", "354"], replies)
c.send("Subject: pipelined\r\n\r\nnot a report\r\n.\r\nNOOP\r\nQUIT\r\n")
r1, r2, r3 = c.reply(), c.reply(), c.reply()
check("pipelining: not a report is still accepted (kept as rejected)", r1.startswith("250 2.0.0"), r1)
check("pipelining: after DATA", r2.startswith("250") and r3.startswith("221"), (r2, r3))

# Bytes that are not UTF-8 (and a NUL) in HELO and MAIL FROM: the message is still stored.
c = Client()
envelope(c, b"EHLO \xff\xfeodd\x00host", b"MAIL FROM:<\xe9t\xe9@reporter.example>")
r = send_message(c, "Subject: odd bytes\r\n\r\nx\r\n")
check("non-UTF-8 HELO and sender: stored", r.startswith("250 2.0.0"), r)
c.cmd("QUIT")

# Bare LF: "\n.\n" does not end the data; a smuggled second message stays inside the first.
c = Client()
envelope(c)
r = send_message(c, "Subject: smuggle\r\n\r\nbody\n.\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<tls@example.net>\r\nDATA\r\nsmuggled\r\n")
check("bare LF: one message, ended only by CRLF.CRLF", r.startswith("250 2.0.0"), r)
c.cmd("QUIT")

# Over-long command line: 500 5.5.2, the session goes on.
c = Client()
r = c.cmd("EHLO " + "x" * 5000)
check("over-long line refused", r.startswith("500 5.5.2"), r)
check("session continues after an over-long line", c.cmd("NOOP").startswith("250"))
c.cmd("QUIT")

# Over-size message: SIZE parameter, then actual data.
c = Client()
c.cmd("EHLO edge.example")
check("SIZE too large refused at MAIL", c.cmd("MAIL FROM:<a@b.example> SIZE=999999999").startswith("552"))
c.cmd("MAIL FROM:<a@b.example>")
c.cmd("RCPT TO:<tls@example.net>")
c.cmd("DATA")
c.send(("x" * 998 + "\r\n") * 200 + ".\r\n")
r = c.reply()
check("over-size data refused after the end", r.startswith("552 5.3.4"), r)
check("session continues after 552", c.cmd("RSET").startswith("250"))
c.cmd("QUIT")

# Too many recipients.
c = Client()
c.cmd("EHLO edge.example")
c.cmd("MAIL FROM:<a@b.example>")
codes = [c.cmd(f"RCPT TO:<tls@example.net>")[:3] for _ in range(4)]
check("too many recipients: 452", codes == ["250", "250", "250", "452"], codes)
c.cmd("QUIT")

# Bad commands until disconnect.
c = Client()
codes = [c.cmd("BOGUS")[:3] for _ in range(10)]
check("bad commands end the session", codes[-1] == "421" and c.closed(), codes)

# Timeout: the server says 421 and closes.
c = Client()
start = time.time()
try:
    r = c.reply()
except EOFError:
    r = ""
check("command timeout: 421 4.4.2", r.startswith("421 4.4.2"), r)
check("command timeout: after the configured time", 1.5 < time.time() - start < 10, time.time() - start)

# STARTTLS: commands sent in the same packet are discarded; the session works over TLS.
c = Client()
ehlo = c.cmd("EHLO edge.example")
c.send("STARTTLS\r\nHELP\r\n")
r = c.reply()
check("STARTTLS: 220", r.startswith("220"), r)
ctx = ssl.create_default_context(cafile=CAFILE)
tls = ctx.wrap_socket(c.s, server_hostname="localhost")
c.s, c.buf = tls, b""
r = c.cmd("NOOP")
check("STARTTLS: injected HELP discarded (the first reply is the NOOP one)", r.startswith("250 2.0.0 Ok"), r)
check("STARTTLS: EHLO again, no second STARTTLS", "STARTTLS" not in c.cmd("EHLO edge.example"))
check("STARTTLS: delivery over TLS", c.cmd("MAIL FROM:<a@b.example>").startswith("250"))
c.cmd("QUIT")

# Sessions per client address (the server runs with 4): the fifth is refused with 421 4.7.0.
time.sleep(0.5)  # let the server see the earlier sessions close
held = [Client() for _ in range(4)]
check("sessions per client: four are served", all(h.greeting.startswith("220") for h in held), [h.greeting for h in held])
fifth = Client()
check("sessions per client: the fifth gets 421 4.7.0", fifth.greeting.startswith("421 4.7.0"), fifth.greeting)
check("sessions per client: and is closed", fifth.closed())
for h in held:
    h.cmd("QUIT")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
