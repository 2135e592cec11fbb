"""Helpers shared by the Python end-to-end tests: checks with a tally, SQL through psql,
loopback ports."""
import os
import socket
import subprocess
import sys
import time

tally = {"passed": 0, "failed": 0}


def check(name, want, got):
    if want == got:
        tally["passed"] += 1
        return True
    tally["failed"] += 1
    if isinstance(want, list) and isinstance(got, list):  # say where they part
        k = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
        print(f"FAIL {name}: {len(want)} expected, {len(got)} got; first difference at {k}: "
              f"expected {want[k:k + 2]!r} got {got[k:k + 2]!r}"[:2000])
    else:
        print(f"FAIL {name}: expected {want!r} got {got!r}"[:2000])
    return False


def finish(name):
    print(f"{name}: {tally['passed']} passed, {tally['failed']} failed")
    sys.exit(1 if tally["failed"] else 0)


def sql(query, *args, url=None):
    """Rows of a query (psql, unaligned); $1.. are substituted as quoted literals."""
    for i, a in reversed(list(enumerate(args, 1))):
        query = query.replace(f"${i}", "NULL" if a is None else "'" + str(a).replace("'", "''") + "'")
    out = subprocess.run(["psql", "-qAt", "-F", "\t", url or os.environ["PG_URL"], "-c", query], capture_output=True,
                         text=True, check=True)
    return [line.split("\t") for line in out.stdout.splitlines()]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, what, log=None, seconds=20):
    for _ in range(int(seconds * 10)):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start" + (f": {open(log).read()[-3000:]}" if log else ""))
