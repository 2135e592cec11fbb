"""Signs a message for the DKIM tests with python3-dkim (Debian's dkimpy): reads it on stdin,
writes it signed on stdout.
Usage: /usr/bin/python3 dkim_sign.py KEY.pem SELECTOR DOMAIN [--simple] [--time T] [--expire X]
       [--length] [--headers h1:h2]
--time sets t= (default now); --expire adds x=; --length adds l=; --headers the signed headers."""
import argparse
import sys

import dkim

p = argparse.ArgumentParser()
p.add_argument("key")
p.add_argument("selector")
p.add_argument("domain")
p.add_argument("--simple", action="store_true")
p.add_argument("--time", type=int)
p.add_argument("--expire", type=int)
p.add_argument("--length", action="store_true")
p.add_argument("--headers", default="from:to:subject:date:message-id:content-type:mime-version")
a = p.parse_args()

if a.time is not None:  # t= is the module's time.time()
    dkim.time.time = lambda: a.time
if a.expire is not None:  # x= before the b= placeholder, which must stay last
    original = dkim.DKIM.gen_header

    def gen_header(self, fields, *args, **kwargs):
        fields = [f for f in fields if f[0] != b"b"] + [(b"x", str(a.expire).encode())] + [f for f in fields if f[0] == b"b"]
        return original(self, fields, *args, **kwargs)

    dkim.DKIM.gen_header = gen_header

message = sys.stdin.buffer.read()
canon = (b"simple", b"simple") if a.simple else (b"relaxed", b"relaxed")
signature = dkim.sign(message, a.selector.encode(), a.domain.encode(), open(a.key, "rb").read(), canonicalize=canon,
                      include_headers=[h.encode() for h in a.headers.split(":")], length=a.length)
sys.stdout.buffer.write(signature + message)
