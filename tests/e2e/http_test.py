#!/usr/bin/env python3
"""Checks of tlsrpt's HTTP server against a real PostgreSQL (run by http_test.sh).

Every API answer is compared with SQL over the base tables (policies, failure_details,
reports, raw_messages), never with the rollup the server reads, and validated against
schema/openapi.yaml."""
import gzip
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import jsonschema

warnings.filterwarnings("ignore", category=DeprecationWarning)

TLSRPT, PG_URL, TMP = os.environ["TLSRPT"], os.environ["PG_URL"], Path(os.environ["TMP"])
CORPUS = [Path(c) for c in os.environ["CORPUS"].split()]
sys.path.insert(0, str(Path(__file__).parent))
from harness import check, finish, free_port, sql, wait_port  # noqa: E402
from openapi_conforms import OpenAPI  # noqa: E402


class Server:
    def __init__(self, name, env=None, args=(), tls=False):
        self.port = free_port()
        self.scheme = "https" if tls else "http"
        self.log = TMP / f"{name}.log"
        e = dict(os.environ, TLSRPT_DATABASE_URL=PG_URL, TLSRPT_SMTP_LISTEN="", **(env or {}))
        if tls:
            e.update(TLSRPT_HTTP_TLS_CERT=str(TMP / "cert.pem"), TLSRPT_HTTP_TLS_KEY=str(TMP / "key.pem"))
        self.proc = subprocess.Popen([TLSRPT, "serve", "--http-listen", f"127.0.0.1:{self.port}", *args,
                                      "--data-dir", str(TMP / name)], env=e, stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT)
        wait_port(self.port, name, self.log)

    def request(self, path, method="GET", body=None, headers=None):
        req = urllib.request.Request(f"{self.scheme}://localhost:{self.port}{path}", data=body, method=method,
                                     headers=headers or {})
        ctx = ssl.create_default_context(cafile=str(TMP / "cert.pem")) if self.scheme == "https" else None
        try:
            with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def json(self, path, **kw):
        status, _, body = self.request(path, **kw)
        return status, json.loads(body) if body else None

    def stop(self):
        self.proc.terminate()
        code = self.proc.wait(timeout=30)
        if code != 0:  # say why (a sanitizer report, say)
            print(f"--- {self.log.name} (exit {code}):\n" + "\n".join(self.log.read_text().splitlines()[-60:]))
        return code


# --- OpenAPI: responses are validated against the documented schema for their status -------
openapi = OpenAPI()
spec = openapi.spec
documented = {(p, m.upper()) for p, ops in spec["paths"].items() for m in ops}
exercised = set()


def conforms(route, method, status, body, content_type="application/json"):
    """The status is documented for the route and the body matches its schema."""
    exercised.add((route, method))
    resp, at = openapi.response(route, method, status)
    check(f"{method} {route}: status {status} documented", True, resp is not None)
    if resp is None:
        return
    media_type = content_type.split(";")[0]
    media = resp.get("content", {})
    check(f"{method} {route} {status}: media type", True, media_type in media)
    if media.get(media_type, {}).get("schema") and content_type.startswith("application/json"):
        errors = openapi.body_errors(at, media_type, body)
        check(f"{method} {route} {status}: body matches the schema", [], errors[:3])


def api(server, route, query="", method="GET", **kw):
    """GET a route (with its {id} filled), check it against the OpenAPI document, return (status, json)."""
    path = kw.pop("path", route)
    status, headers, body = server.request(path + (("?" + query) if query else ""), method=method, **kw)
    ctype = headers.get("Content-Type", "")
    data = json.loads(body) if ctype.startswith("application/json") else body
    conforms(route, method, status, data, ctype)
    return status, data


# --- 1. Messages through the CLI, bare reports through POST /tlsrpt -------------------------
files = sorted(f for c in CORPUS for f in c.rglob("*") if f.is_file())
bare = [f for f in files if f.name.endswith((".json", ".json.gz", ".gz"))]
messages = [f for f in files if f not in bare]
subprocess.run([TLSRPT, "ingest", "--database-url", PG_URL, "--no-progress", *map(str, messages)],
               capture_output=True, check=False)
cli_raw = int(sql("SELECT count(*) FROM raw_messages")[0][0])
check("CLI stored every message (an mbox holds several)", True, cli_raw > len(messages) - 2)

s1 = Server("open", env={"TLSRPT_HTTP_INTAKE_BURST": "100000", "TLSRPT_METRICS_MAX_DOMAINS": "3"},
            args=["--limit", "message_size=2M"])
expect_codes, got_codes, codes_seen = {}, {}, set()
for f in bare:
    data = f.read_bytes()
    parse = subprocess.run([TLSRPT, "parse", "--limit", "message_size=2M", str(f)], capture_output=True, text=True)
    if len(data) > 2 * 1024 * 1024:
        continue
    # Half the JSON reports go gzip-compressed, as RFC 8460 senders do.
    gz = data[:2] == b"\x1f\x8b"
    if not gz and len(expect_codes) % 2 == 0:
        data, gz = gzip.compress(data), True
    media = "application/tlsrpt+gzip" if gz else "application/tlsrpt+json"
    status, body = api(s1, "/tlsrpt", method="POST", body=data, headers={"Content-Type": media})
    # 201 for a new report; 200 when a message in the corpus carried the same report already.
    expect_codes[f.name] = "accepted" if parse.returncode == 0 else "rejected"
    got_codes[f.name] = {200: "accepted", 201: "accepted", 400: "rejected"}.get(status, status)
    if status == 200:
        rid = json.loads(parse.stdout.splitlines()[0])["report-id"]
        check(f"intake {f.name}: 200 only for a report stored before", True,
              int(sql("SELECT min(raw_message_id) FROM reports WHERE report_id = $1", rid)[0][0]) < body["raw_message_id"])
    codes_seen.add(status)
    if status == 400 and parse.stderr:
        reason = parse.stderr.split(": rejected: ")[1].split(":")[0] if ": rejected: " in parse.stderr else None
        check(f"intake {f.name}: reason as tlsrpt parse says", reason, body.get("reason"))
    if status in (200, 201):
        check(f"intake {f.name}: raw message kept as https", "https",
              sql("SELECT transport FROM raw_messages WHERE id = $1", body["raw_message_id"])[0][0])
check("intake: 201 for every report tlsrpt parse accepts, 400 for the rest", {},
      {k: (v, got_codes[k]) for k, v in expect_codes.items() if got_codes[k] != v})
check("intake: new reports, duplicates and rejections seen", {200, 201, 400}, codes_seen)
first_ok = next(f for f in bare if got_codes.get(f.name) == "accepted")
status, body = api(s1, "/tlsrpt", method="POST", body=first_ok.read_bytes(),
                   headers={"Content-Type": "application/tlsrpt+gzip" if first_ok.name.endswith("gz") else
                            "application/tlsrpt+json; charset=utf-8"})
check("intake: the same report again is 200 duplicate", (200, "duplicate"), (status, body.get("outcome")))
status, body = api(s1, "/tlsrpt", method="POST", body=b"{}", headers={"Content-Type": "application/json"})
check("intake: other media type 415", 415, status)
status, body = api(s1, "/tlsrpt", method="POST", body=b"x" * (3 * 1024 * 1024),
                   headers={"Content-Type": "application/tlsrpt+json"})
check("intake: over message_size 413 (Content-Length)", 413, status)
# The same without a Content-Length (chunked): refused by the body limit while reading.
with socket.create_connection(("127.0.0.1", s1.port)) as c:
    c.sendall(b"POST /tlsrpt HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    try:
        for _ in range(40):
            c.sendall(b"10000\r\n" + b"x" * 0x10000 + b"\r\n")
    except OSError:
        pass
    reply = c.recv(200)
check("intake: chunked body over message_size 413", b"HTTP/1.1 413", reply[:12])

# --- 2. Every analytics answer against SQL over the base tables ---------------------------
TOT = ("SELECT policy_domain, sum(total_successful_session_count), sum(total_failure_session_count) FROM policies p "
       "WHERE ($1::timestamptz IS NULL OR start_datetime >= $1) AND ($2::timestamptz IS NULL OR start_datetime < $2) "
       "AND ($3::text IS NULL OR policy_domain = $3) AND ($4::text IS NULL OR organization_name = $4) "
       "AND ($5::text IS NULL OR policy_type = $5)")


def ratio(ok, failed):
    return round(ok / (ok + failed), 6) if ok + failed else None


status, doms = api(s1, "/api/v1/domains", "limit=500")
want = {r[0]: (int(r[1]), int(r[2])) for r in sql(TOT + " GROUP BY 1", None, None, None, None, None)}
pages, cursor = [], None
while True:  # pages of 3, each taking the previous page's next_cursor
    _, pg = api(s1, "/api/v1/domains", "limit=3" + (f"&cursor={cursor}" if cursor else ""))
    pages.append(pg)
    cursor = pg["next_cursor"]
    if cursor is None or len(pages) > 1000:
        break
check("domains: pages of 3 joined are the whole list, every page but the last full",
      ([d["policy_domain"] for d in doms["domains"]], True, None),
      ([d["policy_domain"] for p in pages for d in p["domains"]], all(len(p["domains"]) == 3 for p in pages[:-1]),
       doms["next_cursor"]))
check("domains: the policy domains in the database", sorted(want), [d["policy_domain"] for d in doms["domains"]])
check("domains: session totals", want, {d["policy_domain"]: (d["successful_sessions"], d["failed_sessions"])
                                        for d in doms["domains"]})
check("domains: success ratios", {d: ratio(*v) for d, v in want.items()},
      {d["policy_domain"]: d["success_ratio"] for d in doms["domains"]})
last = {r[0]: r[1] for r in sql("SELECT policy_domain, utc_text(max(start_datetime)) FROM policies GROUP BY 1")}
check("domains: last report", last, {d["policy_domain"]: d["last_report_start"] for d in doms["domains"]})

DET = ("SELECT {g}, sum(failed_session_count) FROM failure_details d JOIN policies p ON p.id = d.policy_id "
       "WHERE ($1::timestamptz IS NULL OR p.start_datetime >= $1) AND ($2::timestamptz IS NULL OR p.start_datetime < $2) "
       "AND ($3::text IS NULL OR p.policy_domain = $3) AND ($4::text IS NULL OR p.organization_name = $4) "
       "AND ($5::text IS NULL OR p.policy_type = $5) AND ($6::text IS NULL OR d.result_type = $6) "
       "AND ($7::text IS NULL OR d.receiving_mx_hostname = $7) GROUP BY 1")


def summary_from_sql(f):
    args = [f.get(k) for k in ("from", "to", "domain", "organization", "policy_type", "result_type", "mx_host")]
    t = sql(TOT.replace("policy_domain,", "") .replace("SELECT  sum", "SELECT sum"), *args[:5])[0]
    ok, bad = int(t[0] or 0), int(t[1] or 0)
    by = lambda g: sql(TOT.replace("policy_domain,", g + ",", 1) + " GROUP BY 1", *args[:5])
    return {
        "successful_sessions": ok, "failed_sessions": bad, "success_ratio": ratio(ok, bad),
        "by_result_type": sorted(((r[0], int(r[1])) for r in sql(DET.format(g="d.result_type"), *args)
                                  if int(r[1]) > 0), key=lambda x: (-x[1], x[0])),
        "by_policy_type": sorted((r[0], int(r[1]), int(r[2])) for r in by("policy_type")),
        "by_organization": sorted((r[0], int(r[1]), int(r[2])) for r in by("organization_name")),
        "by_mx_host": sorted(((r[0] or None, int(r[1])) for r in sql(DET.format(g="d.receiving_mx_hostname"), *args)
                             if int(r[1]) > 0), key=lambda x: (x[0] or "", x[1])),
    }


def summary_from_api(s):
    return {
        "successful_sessions": s["successful_sessions"], "failed_sessions": s["failed_sessions"],
        "success_ratio": s["success_ratio"],
        "by_result_type": [(x["result_type"], x["sessions"]) for x in s["by_result_type"]],
        "by_policy_type": sorted((x["policy_type"], x["successful_sessions"], x["failed_sessions"]) for x in s["by_policy_type"]
                                 if x["successful_sessions"] or x["failed_sessions"]),
        "by_organization": sorted((x["organization_name"], x["successful_sessions"], x["failed_sessions"])
                                  for x in s["by_organization"] if x["successful_sessions"] or x["failed_sessions"]),
        "by_mx_host": sorted(((x["mx_host"], x["sessions"]) for x in s["by_mx_host"]), key=lambda x: (x[0] or "", x[1])),
    }


def strip_zero(rows):
    return [r for r in rows if any(v for v in r[1:])]


busiest = max(want, key=lambda d: sum(want[d]))
failing = sql("SELECT p.policy_domain, result_type, organization_name, receiving_mx_hostname FROM failure_details d "
              "JOIN policies p ON p.id = d.policy_id WHERE receiving_mx_hostname IS NOT NULL "
              "ORDER BY failed_session_count DESC, 1, 2 LIMIT 1")[0]
cases = [{}, {"domain": busiest}, {"domain": failing[0]}, {"from": "2024-01-01", "to": "2025-01-01"},
         {"domain": failing[0], "result_type": failing[1]}, {"organization": failing[2]},
         {"domain": failing[0], "mx_host": failing[3]}, {"policy_type": "sts"},
         {"from": "2025-01-01T00:00:00Z", "to": "2026-12-01T00:00:00+01:00", "policy_type": "tlsa"}]
for f in cases:
    query = urllib.parse.urlencode(f)
    status, s = api(s1, "/api/v1/summary", query)
    want_s = summary_from_sql(f)
    for k in ("by_policy_type", "by_organization"):
        want_s[k] = strip_zero(want_s[k])
    check(f"summary {query or '(all)'}", want_s, summary_from_api(s))

for f in [{"domain": failing[0]}, {"domain": busiest, "result_type": failing[1]}, {}]:
    query = urllib.parse.urlencode(f)
    status, ts = api(s1, "/api/v1/timeseries", query)
    args = [f.get(k) for k in ("from", "to", "domain", "organization", "policy_type", "result_type", "mx_host")]
    rows = sql(TOT.replace("policy_domain,", "utc_text(date_trunc('day', start_datetime, 'UTC')),", 1) + " GROUP BY 1",
               *args[:5])
    det = {}
    for r in sql(DET.format(g="utc_text(date_trunc('day', p.start_datetime, 'UTC')), d.result_type"
                            ).replace("GROUP BY 1", "GROUP BY 1, 2"), *args):
        if int(r[2]) > 0:
            det.setdefault(r[0], {})[r[1]] = int(r[2])
    want_ts = [(r[0], int(r[1]), int(r[2]), det.get(r[0], {})) for r in sorted(rows)
               if int(r[1]) or int(r[2]) or det.get(r[0])]
    got_ts = [(p["time"], p["successful_sessions"], p["failed_sessions"], p["by_result_type"]) for p in ts["points"]]
    check(f"timeseries by day {query or '(all)'}", want_ts, got_ts)
status, ts = api(s1, "/api/v1/timeseries", "bucket=hour&domain=" + busiest)
check("timeseries by hour: sessions add up", sum(want[busiest]),
      sum(p["successful_sessions"] + p["failed_sessions"] for p in ts["points"]))

# Reports: walking the pages yields every report once, newest first.
for f, where in [({}, "TRUE"), ({"domain": busiest}, f"EXISTS (SELECT 1 FROM policies p WHERE p.report_id = r.id "
                                                     f"AND p.policy_domain = '{busiest}')"),
                 ({"result_type": failing[1]}, f"EXISTS (SELECT 1 FROM policies p JOIN failure_details d ON "
                                               f"d.policy_id = p.id WHERE p.report_id = r.id AND d.result_type = '{failing[1]}')")]:
    ids, cursor, pages = [], None, 0
    while True:
        q = dict(f, limit=7, **({"cursor": cursor} if cursor else {}))
        status, page = api(s1, "/api/v1/reports", urllib.parse.urlencode(q))
        ids += [r["id"] for r in page["reports"]]
        cursor, pages = page["next_cursor"], pages + 1
        if not cursor or pages > 1000:
            break
    check(f"reports {f}: every report once, newest first",
          [int(r[0]) for r in sql(f"SELECT id FROM reports r WHERE {where} ORDER BY id DESC")], ids)
status, page = api(s1, "/api/v1/reports", "limit=1")
row = sql("SELECT id, organization_name, report_id, utc_text(start_datetime), successful_sessions, raw_message_id "
          "FROM reports ORDER BY id DESC LIMIT 1")[0]
r0 = page["reports"][0]
check("reports: row fields", row, [str(r0["id"]), r0["organization_name"], r0["report_id"], r0["start_datetime"],
                                   str(r0["successful_sessions"]), str(r0["raw_message_id"])])

# One report in full equals what `tlsrpt parse` prints for its source (fields but "source").
report_schema = json.loads(Path("schema/report.schema.json").read_text())
compared = 0
for rid, path, rep_id in sql("SELECT r.id, m.source->>'path', r.report_id FROM reports r JOIN raw_messages m ON "
                             "m.id = r.raw_message_id WHERE m.source ? 'path' ORDER BY r.id"):
    status, full = api(s1, "/api/v1/reports/{id}", path=f"/api/v1/reports/{rid}")
    path = path.split("#")[0]  # "file.mbox#2": the second message of an mbox
    lines = [json.loads(l) for l in subprocess.run([TLSRPT, "parse", path], capture_output=True, text=True).stdout.splitlines()]
    match = [l for l in lines if l["report-id"] == rep_id]
    for d in [full["report"]] + match[:1]:
        d.pop("source", None)
    check(f"report {rid}: as tlsrpt parse prints it", match[:1], [full["report"]])
    errs = list(jsonschema.Draft202012Validator(report_schema).iter_errors(dict(full["report"], source={
        "input": "", "kind": "message", "gzip": False, "part": None, "filename": None, "media-type": None,
        "transfer-encoding": None, "tls-report-domain": None, "tls-report-submitter": None, "subject": None,
        "message-id": None})))
    check(f"report {rid}: matches report.schema.json", [], [e.message for e in errs][:2])
    compared += 1
check("reports compared with tlsrpt parse", True, compared >= 10)
https_report = sql("SELECT r.id FROM reports r JOIN raw_messages m ON m.id = r.raw_message_id "
                   "WHERE m.transport = 'https' LIMIT 1")[0][0]
status, full = api(s1, "/api/v1/reports/{id}", path=f"/api/v1/reports/{https_report}")
check("report from the intake: source says https", "https", full["raw_message"]["transport"])
status, _ = api(s1, "/api/v1/reports/{id}", path="/api/v1/reports/99999999")
check("report: unknown id 404", 404, status)

# Rejected inputs, and their bytes.
ids, cursor = [], None
while True:
    status, page = api(s1, "/api/v1/rejected", urllib.parse.urlencode(dict(limit=5, **({"cursor": cursor} if cursor else {}))))
    ids += [(r["id"], r["reason"], r["size"]) for r in page["rejected"]]
    cursor = page["next_cursor"]
    if not cursor:
        break
check("rejected: every rejected input, newest first",
      [(int(a), b, int(c)) for a, b, c in sql("SELECT id, reason, size FROM raw_messages WHERE outcome = 'rejected' ORDER BY id DESC")], ids)
reason = ids[0][1]
status, page = api(s1, "/api/v1/rejected", "reason=" + reason)
check("rejected: by reason", int(sql("SELECT count(*) FROM raw_messages WHERE reason = $1", reason)[0][0]),
      len(page["rejected"]))
raw_id, raw_path = sql("SELECT id, source->>'path' FROM raw_messages WHERE outcome = 'rejected' AND source ? 'path' LIMIT 1")[0]
status, body = api(s1, "/api/v1/rejected/{id}/raw", path=f"/api/v1/rejected/{raw_id}/raw")
check("rejected raw bytes: exactly the file", Path(raw_path).read_bytes(), body)
stored_id = sql("SELECT id FROM raw_messages WHERE outcome = 'stored' LIMIT 1")[0][0]
status, _ = api(s1, "/api/v1/rejected/{id}/raw", path=f"/api/v1/rejected/{stored_id}/raw")
check("rejected raw: a stored message is not a rejected one (404)", 404, status)

# Bad requests: 400 naming what was wrong.
for query, word in [("bogus=1", "bogus"), ("from=2024-02-30", "from"), ("from=2024-01-01T00:00:00", "from"),
                    ("domain=not%20a%20domain", "domain"), ("policy_type=dane", "policy_type"),
                    ("domain=a.example&domain=b.example", "twice"), ("result_type=Cert!", "result_type"),
                    ("to=%zz", "percent"), ("domain=", "empty")]:
    status, body = api(s1, "/api/v1/summary", query)
    check(f"summary?{query}: 400 naming it", (400, True), (status, word in body.get("error", "")))
for query in ["limit=0", "limit=501", "cursor=abc", "cursor=-5"]:
    status, body = api(s1, "/api/v1/reports", query)
    check(f"reports?{query}: 400", 400, status)
status, body = api(s1, "/api/v1/timeseries", "bucket=week")
check("timeseries?bucket=week: 400", 400, status)
status, body = api(s1, "/api/v1/rejected", "reason=no-such-reason")
check("rejected?reason=unknown: 400", 400, status)
status, _, _ = s1.request("/api/v1/domains", method="POST", body=b"")
check("POST on a GET route: 405", 405, status)
status, _, _ = s1.request("/api/v2/nothing")
check("unknown route: 404", 404, status)

# --- 3. /metrics: promtool accepts it; the numbers agree with what was stored ---------------
status, hdrs, text = s1.request("/metrics")
conforms("/metrics", "GET", status, None, hdrs.get("Content-Type", ""))
(TMP / "metrics.txt").write_bytes(text)
pt = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True)
check("promtool check metrics", (0, b""), (pt.returncode, pt.stderr.strip()))
samples = {}
for line in text.decode().splitlines():
    if line and not line.startswith("#"):
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)


def metric_sum(prefix, **labels):
    return sum(v for k, v in samples.items() if k.split("{")[0] == prefix and
               all(f'{a}="{b}"' in k for a, b in labels.items()))


stored_https = int(sql("SELECT count(*) FROM raw_messages WHERE transport = 'https' AND outcome = 'stored'")[0][0])
check("metrics: https stored messages", stored_https, metric_sum("tlsrpt_messages_total", transport="https", outcome="stored"))
check("metrics: https rejected messages",
      int(sql("SELECT count(*) FROM raw_messages WHERE transport = 'https' AND outcome = 'rejected'")[0][0]),
      metric_sum("tlsrpt_messages_total", transport="https", outcome="rejected"))
check("metrics: https duplicates",
      int(sql("SELECT count(*) FROM raw_messages WHERE transport = 'https' AND outcome = 'duplicate'")[0][0]),
      metric_sum("tlsrpt_messages_total", transport="https", outcome="duplicate"))
https_ok = int(sql("SELECT coalesce(sum(p.total_successful_session_count), 0) FROM policies p JOIN reports r ON "
                   "r.id = p.report_id JOIN raw_messages m ON m.id = r.raw_message_id WHERE m.transport = 'https'")[0][0])
check("metrics: successful sessions of reports stored over https", https_ok,
      metric_sum("tlsrpt_report_sessions_total", result="success"))
domains_in_labels = {k.split('policy_domain="')[1].split('"')[0] for k in samples if 'policy_domain="' in k}
check("metrics: policy_domain labels bounded (max_domains=3, rest _other)", (True, True),
      (len(domains_in_labels - {"_other"}) <= 3, "_other" in domains_in_labels))
check("metrics: rejections by reason pre-registered", True,
      'tlsrpt_rejections_total{reason="gzip-corrupt"}' in samples)
check("metrics: http requests counted by route template", True,
      metric_sum("tlsrpt_http_requests_total", route="/api/v1/reports/{id}") > 0)
reference = Path("docs/http.md").read_text()
families = sorted({l.split()[2] for l in text.decode().splitlines() if l.startswith("# HELP ")})
check("metrics: every family documented in docs/http.md", [], [f for f in families if f"`{f}`" not in reference])
check("metrics: no IPs or report ids in labels", [], [k for k in samples if "127.0.0.1" in k or "report_id" in k])

status, body = api(s1, "/healthz")
check("healthz: 200 ok", (200, "ok"), (status, body["status"]))

# --- 4. The database goes away and comes back ---------------------------------------------
pg = lambda fn: subprocess.run(["bash", "-c", f"source tests/integration/pg.sh; {fn}"], check=True)
pg("pg_down")
status, body = api(s1, "/readyz")
check("database down: readyz 503", 503, status)
status, body = api(s1, "/api/v1/domains", "organization=not-asked-before")
check("database down: API 503 (for a question not in the answer cache)", 503, status)
new_report = json.dumps({"organization-name": "Outage Test", "date-range": {"start-datetime": "2026-11-01T00:00:00Z",
                         "end-datetime": "2026-11-01T23:59:59Z"}, "contact-info": "x@outage.example",
                         "report-id": "outage-1", "policies": [{"policy": {"policy-type": "sts", "policy-domain":
                         "outage.example", "policy-string": [], "mx-host": []}, "summary": {
                         "total-successful-session-count": 5, "total-failure-session-count": 0}}]}).encode()
status, hdrs, _ = s1.request("/tlsrpt", method="POST", body=new_report, headers={"Content-Type": "application/tlsrpt+json"})
check("database down: intake 503 with Retry-After", (503, True), (status, "Retry-After" in hdrs))
pg("pg_up")
status, body = api(s1, "/tlsrpt", method="POST", body=new_report, headers={"Content-Type": "application/tlsrpt+json"})
check("database back: the report is stored (201)", 201, status)
status, body = api(s1, "/readyz")
check("database back: readyz 200", 200, status)
# The answer cache: a repeated question is a hit; a report stored by this server makes it stale.
_, h1, b1 = s1.request("/api/v1/domains?policy_type=sts")
_, h2, b2 = s1.request("/api/v1/domains?policy_type=sts")
check("cache: the same question twice: miss, then hit with the same answer", ("miss", "hit", True),
      (h1.get("X-Cache"), h2.get("X-Cache"), b1 == b2))
later = new_report.replace(b"outage-1", b"outage-2").replace(b"2026-11-01", b"2026-11-02")
status, _ = api(s1, "/tlsrpt", method="POST", body=later, headers={"Content-Type": "application/tlsrpt+json"})
_, h3, b3 = s1.request("/api/v1/domains?policy_type=sts")
d3 = {d["policy_domain"]: d["successful_sessions"] for d in json.loads(b3)["domains"]}
check("cache: after a report is stored the answer is fresh", ("miss", 10), (h3.get("X-Cache"), d3.get("outage.example")))
check("database back: stored once", "1", sql("SELECT count(*) FROM reports WHERE report_id = 'outage-1'")[0][0])
check("open server stops cleanly on SIGTERM", 0, s1.stop())

# --- 5. Tokens, TLS, protected metrics, rate limit ----------------------------------------
read_token, admin_token = "r" * 24, "a" * 24
(TMP / "admin_token").write_text(admin_token + "\n")
s2 = Server("tokens", tls=True, env={"TLSRPT_HTTP_READ_TOKENS": read_token, "TLSRPT_HTTP_ADMIN_TOKENS_FILE":
                                     str(TMP / "admin_token"), "TLSRPT_HTTP_PROTECT_METRICS": "true",
                                     "TLSRPT_HTTP_INTAKE_BURST": "2", "TLSRPT_HTTP_INTAKE_PER_MINUTE": "1"})
bearer = lambda t: {"Authorization": "Bearer " + t}
status, hdrs, body = s2.request("/api/v1/domains")
check("tokens: no token 401 with WWW-Authenticate", (401, True), (status, "Bearer" in hdrs.get("WWW-Authenticate", "")))
conforms("/api/v1/domains", "GET", status, json.loads(body))
status, _ = api(s2, "/api/v1/domains", headers=bearer("x" * 24))
check("tokens: unknown token 401", 401, status)
status, _ = api(s2, "/api/v1/domains", headers=bearer(read_token))
check("tokens: read token, over TLS: 200", 200, status)
status, _ = api(s2, "/api/v1/rejected/{id}/raw", path=f"/api/v1/rejected/{raw_id}/raw", headers=bearer(read_token))
check("tokens: read token may not fetch raw bytes (403)", 403, status)
status, body = api(s2, "/api/v1/rejected/{id}/raw", path=f"/api/v1/rejected/{raw_id}/raw", headers=bearer(admin_token))
check("tokens: admin token (from a _FILE) fetches raw bytes", (200, Path(raw_path).read_bytes()), (status, body))
# The posture routes here: a domain never checked, and their tokens (their 200 answers are in
# tests/e2e/check_test.sh, where serve checks monitored domains).
for route in ("/api/v1/domains/{domain}/posture", "/api/v1/domains/{domain}/policies"):
    status, _ = api(s2, route, path=route.replace("{domain}", "never-checked.example"), headers=bearer(read_token))
    check(f"{route}: 404 for a domain never checked", 404, status)
    status, _ = api(s2, route, path=route.replace("{domain}", "never-checked.example"))
    check(f"{route}: needs a token", 401, status)
status, body = api(s2, "/api/v1/domains/{domain}/readiness", path="/api/v1/domains/never-reported.example/readiness",
                   headers=bearer(read_token))
check("readiness of a domain without reports: insufficient data", (200, "insufficient-data"), (status, body.get("verdict")))
status, _ = api(s2, "/api/v1/domains/{domain}/readiness", path="/api/v1/domains/x/readiness", headers=bearer(read_token))
check("readiness: not a domain name", 400, status)
# The roll-out routes on a server that hosts no policy (their steps: tests/e2e/rollout_test.sh).
R = "/api/v1/domains/{domain}/rollout"
status, body = api(s2, R, path="/api/v1/domains/not-hosted.example/rollout", headers=bearer(read_token))
check("rollout status of a domain not hosted: no policy, and why the first step is blocked", (200, None, "not-hosted"),
      (status, body.get("policy"), (body.get("next", {}).get("blocked_by") or [{}])[0].get("reason")))
form = {"Content-Type": "application/x-www-form-urlencoded"}
status, _ = api(s2, R, method="POST", path="/api/v1/domains/not-hosted.example/rollout", body=b"action=testing",
                headers={**bearer(read_token), **form})
check("rollout step with a read token: 403", 403, status)
status, body = api(s2, R, method="POST", path="/api/v1/domains/not-hosted.example/rollout", body=b"action=testing",
                   headers={**bearer(admin_token), **form})
check("rollout step for a domain not hosted: 409, not-hosted", (409, "not-hosted"),
      (status, (body.get("refused") or [{}])[0].get("reason")))
status, _ = api(s2, R, method="POST", path="/api/v1/domains/not-hosted.example/rollout", body=b"action=sideways",
                headers={**bearer(admin_token), **form})
check("rollout step: an unknown action is 400", 400, status)
status, _ = api(s2, R, method="POST", path="/api/v1/domains/not-hosted.example/rollout", body=b"action=enforce&force=true",
                headers={**bearer(admin_token), **form})
check("rollout step: force without a reason is 400", 400, status)
status, _, _ = s2.request("/metrics")
check("protect_metrics: /metrics needs a token", 401, status)
status, _, _ = s2.request("/metrics", headers=bearer(read_token))
check("protect_metrics: /metrics with a read token", 200, status)
codes = [s2.request("/tlsrpt", method="POST", body=new_report, headers={"Content-Type": "application/tlsrpt+json"})
         for _ in range(3)]
check("rate limit: burst 2 then 429 with Retry-After", [200, 200, 429], [c[0] for c in codes])
check("rate limit: Retry-After given", True, "Retry-After" in codes[2][1])
conforms("/tlsrpt", "POST", 429, json.loads(codes[2][2]))

# The pages' JSON twins (the pages themselves are tested in a browser: tests/e2e/web_test.py).
import hashlib  # noqa: E402
status, ov = api(s2, "/api/v1/overview", "days=400&limit=500", headers=bearer(read_token))
status_d, doms = api(s2, "/api/v1/domains", "from=" + ov["from"], headers=bearer(read_token))
in_range = {d["policy_domain"]: (d["successful_sessions"], d["failed_sessions"]) for d in doms["domains"]}
check("overview: the range's totals equal /api/v1/domains from the same day", in_range,
      {d["policy_domain"]: (d["range"]["successful_sessions"], d["range"]["failed_sessions"]) for d in ov["domains"]
       if d["range"]["successful_sessions"] + d["range"]["failed_sessions"] > 0})
_, every = api(s2, "/api/v1/domains", headers=bearer(read_token))
check("overview: every domain with reports is listed", sorted(d["policy_domain"] for d in every["domains"]),
      sorted(d["policy_domain"] for d in ov["domains"]))
check("overview: 400 daily points per domain, summing to the range", True,
      all(len(d["daily"]) == 400 and sum(p["failed_sessions"] for p in d["daily"]) == d["range"]["failed_sessions"]
          for d in ov["domains"]))
newest = {r[0]: r[1] for r in sql("SELECT policy_domain, utc_text(max(start_datetime)) FROM policies GROUP BY 1")}
check("overview: the newest report's start per domain (SQL)", newest,
      {d["policy_domain"]: d["newest_report"]["start_datetime"] for d in ov["domains"]})
status, _ = api(s2, "/api/v1/overview", "days=401", headers=bearer(read_token))
check("overview: days over 400 is 400", 400, status)
busiest = max(ov["domains"], key=lambda d: d["range"]["failed_sessions"])["policy_domain"]
status, dov = api(s2, "/api/v1/domains/{domain}/overview", "days=400", path=f"/api/v1/domains/{busiest}/overview",
                  headers=bearer(read_token))
_, summ = api(s2, "/api/v1/summary", f"domain={busiest}&from={dov['from']}", headers=bearer(read_token))
_, ready = api(s2, "/api/v1/domains/{domain}/readiness", "days=400", path=f"/api/v1/domains/{busiest}/readiness",
               headers=bearer(read_token))
check("domain overview: its summary is /api/v1/summary's", summ, dov["summary"])
check("domain overview: its readiness is the readiness route's", ready, dov["readiness"])
check("domain overview: at most 10 newest reports, never-checked posture is null", (True, None, None),
      (len(dov["reports"]["reports"]) <= 10, dov["posture"], dov["policies"]))
status, _ = api(s2, "/api/v1/domains/{domain}/overview", path="/api/v1/domains/x/overview", headers=bearer(read_token))
check("domain overview: not a domain name", 400, status)
status, st = api(s2, "/api/v1/status", "days=400", headers=bearer(read_token))
check("status: inputs by transport and outcome (SQL)",
      sorted((r[0], r[1], int(r[2])) for r in sql("SELECT transport, outcome, count(*) FROM raw_messages "
                                                    "WHERE received_at >= now() - interval '400 days' GROUP BY 1, 2")),
      sorted((i["transport"], i["outcome"], i["messages"]) for i in st["inputs"]))
check("status: rejections by reason (SQL)",
      sorted((r[0], int(r[1])) for r in sql("SELECT reason, count(*) FROM raw_messages WHERE outcome = 'rejected' "
                                             "GROUP BY 1")),
      sorted((i["reason"], i["messages"]) for i in st["rejections"]))
status, hints = api(s2, "/api/v1/hints", headers=bearer(read_token))
check("hints: the 11 registered result types and every finding, each with a hint", (11, True),
      (len(hints["result_types"]), all(f["hint"] for f in hints["findings"]) and len(hints["findings"]) > 20))
stored_id, stored_sha = sql("SELECT id, encode(sha256, 'hex') FROM raw_messages WHERE outcome = 'stored' ORDER BY id LIMIT 1")[0]
status, body = api(s2, "/api/v1/messages/{id}/raw", path=f"/api/v1/messages/{stored_id}/raw", headers=bearer(admin_token))
check("messages raw: an admin gets the stored bytes (sha256 as stored)", (200, stored_sha),
      (status, hashlib.sha256(body if isinstance(body, bytes) else body.encode()).hexdigest()))
status, _ = api(s2, "/api/v1/messages/{id}/raw", path=f"/api/v1/messages/{stored_id}/raw", headers=bearer(read_token))
check("messages raw: a read token gets 403", 403, status)
status, _ = api(s2, "/api/v1/messages/{id}/raw", path="/api/v1/messages/999999999/raw", headers=bearer(admin_token))
check("messages raw: 404 for no such message", 404, status)
status, _ = api(s2, "/api/v1/messages/{id}/raw", path=f"/api/v1/messages/{stored_id}/raw")
check("messages raw: 401 without a token", 401, status)
check("token server stops cleanly", 0, s2.stop())

# --- 6. The server refuses an open API on a public address --------------------------------
r = subprocess.run([TLSRPT, "serve", "--http-listen", f"0.0.0.0:{free_port()}"],
                   env=dict(os.environ, TLSRPT_DATABASE_URL=PG_URL, TLSRPT_SMTP_LISTEN=""), capture_output=True,
                   text=True, timeout=30)
check("open API on 0.0.0.0 refused (exit 2, says why)", (2, True), (r.returncode, "tokens" in r.stderr))

check("every documented route and method exercised", sorted(documented), sorted(exercised))
finish("e2e.http")
