"""database.read_url: the API and the pages read from a streaming replica, intake writes to the
primary, and answers say how stale the replica is once it lags past database.max_replica_lag.
Environment: TLSRPT, PG_URL (primary), REPLICA_URL, TMP."""
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
from harness import check, finish, sql, wait_port  # noqa: E402

TLSRPT, PG_URL, REPLICA_URL, TMP = (os.environ[k] for k in ("TLSRPT", "PG_URL", "REPLICA_URL", "TMP"))
ENV = dict(os.environ, TLSRPT_DATABASE_URL=PG_URL, TLSRPT_DKIM_MODE="off", TLSRPT_SERVER_ALLOW_ROOT="true",
           TLSRPT_HTTP_CACHE_SECONDS="0")
PORT = random.randrange(20000, 32000)


def replica(query):
    return sql(query, url=REPLICA_URL)


def caught_up():
    lsn = sql("SELECT pg_current_wal_lsn()")[0][0]
    for _ in range(100):
        if replica(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn") == [["t"]]:
            return True
        time.sleep(0.1)
    return False


def get(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}{path}", timeout=30) as r:
        return r.status, dict(r.headers), r.read().decode()


def post_report(n):
    body = json.dumps({"organization-name": "Replica Org", "date-range": {
        "start-datetime": "2026-11-20T00:00:00Z", "end-datetime": "2026-11-20T23:59:59Z"},
        "contact-info": "tls@replica.example", "report-id": f"replica-{n}",
        "policies": [{"policy": {"policy-type": "sts", "policy-domain": "replica.example"},
                      "summary": {"total-successful-session-count": 10, "total-failure-session-count": 0}}]}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}/tlsrpt", data=body, method="POST",
                                 headers={"Content-Type": "application/tlsrpt+json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status


check("the replica is in recovery", [["t"]], replica("SELECT pg_is_in_recovery()"))
r = subprocess.run([TLSRPT, "ingest", "--no-progress", "tests/fixtures/corpus"], capture_output=True, text=True, env=ENV)
check("ingest into the primary", 0, r.returncode)
check("the replica caught up", True, caught_up())
check("the replica holds the reports", sql("SELECT count(*) FROM reports"), replica("SELECT count(*) FROM reports"))

log = open(Path(TMP) / "serve.log", "w")
server = subprocess.Popen([TLSRPT, "serve", "--smtp-listen", "", "--http-listen", f"127.0.0.1:{PORT}"], stdout=log,
                          stderr=subprocess.STDOUT,
                          env=dict(ENV, TLSRPT_DATABASE_READ_URL=REPLICA_URL, TLSRPT_DATABASE_MAX_REPLICA_LAG="2"))
wait_port(PORT, "serve", Path(TMP) / "serve.log")
status, headers, body = get("/api/v1/domains")
check("the API answers from the replica", (200, None), (status, headers.get("X-Replica-Lag")))
domains_before = json.loads(body)

# Replay paused on the replica: a report posted now is stored on the primary, not yet readable.
replica("SELECT pg_wal_replay_pause()")
check("intake writes to the primary (201 Created)", 201, post_report(1))
check("the primary has the new report", [["1"]], sql("SELECT count(*) FROM reports WHERE report_id = 'replica-1'"))
status, headers, body = get("/api/v1/reports?domain=replica.example")
check("the API does not see it yet: it reads the replica", (200, 0), (status, len(json.loads(body)["reports"])))
# Past max_replica_lag (2 s; checked every 5 s) the answers say how far behind the replica is.
lag = None
for _ in range(40):
    time.sleep(0.5)
    status, headers, _ = get("/api/v1/domains")
    if headers.get("X-Replica-Lag"):
        lag = int(headers["X-Replica-Lag"])
        break
check("answers carry X-Replica-Lag once the replica lags", True, lag is not None and lag >= 2)
status, headers, body = get("/")
check("the web pages carry it too", (200, True), (status, "X-Replica-Lag" in headers))

replica("SELECT pg_wal_replay_resume()")
check("the replica caught up again", True, caught_up())
found, lagging = 0, True
for _ in range(40):
    time.sleep(0.5)
    status, headers, body = get("/api/v1/reports?domain=replica.example")
    found, lagging = len(json.loads(body)["reports"]), "X-Replica-Lag" in headers
    if found and not lagging:
        break
check("after replay: the report is read, and the answers no longer carry the lag", (1, False), (found, lagging))
server.terminate()
check("stops cleanly", 0, server.wait(timeout=30))
log.close()
check("serve logs that it reads from the replica", True,
      "reads (API, pages) from the replica" in (Path(TMP) / "serve.log").read_text())
finish("integration.replica")
