#!/usr/bin/env python3
"""The domain list one page at a time (run by domain_list_test.sh): every sort of
/api/v1/overview and of the page /, over a range whose per-domain totals are built
(domain_windows, kept by every later report) and over one that is summed from the daily rows,
against an order computed here from the reports this test sent. The pages of each sort,
joined, are the whole list in that order; nothing is missing or repeated."""
import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import check, finish, free_port, sql, wait_port  # noqa: E402
from openapi_conforms import OpenAPI  # noqa: E402

TLSRPT, PG_URL, TMP = os.environ["TLSRPT"], os.environ["PG_URL"], Path(os.environ["TMP"])
openapi = OpenAPI()
DAY = 86400
today = int(time.time()) // DAY * DAY

port = free_port()
log = TMP / "serve.log"
env = dict(os.environ, TLSRPT_DATABASE_URL=PG_URL, TLSRPT_SMTP_LISTEN="", TLSRPT_HTTP_CACHE_SECONDS="0",
           TLSRPT_HTTP_INTAKE_BURST="1000", TLSRPT_DKIM_MODE="off")
proc = subprocess.Popen([TLSRPT, "serve", "--http-listen", f"127.0.0.1:{port}", "--data-dir", str(TMP / "data")],
                        env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
wait_port(port, "serve", log)


def get(path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def overview(query):
    status, ctype, body = get("/api/v1/overview?" + query)
    data = json.loads(body)
    resp, at = openapi.response("/api/v1/overview", "GET", status)
    errors = openapi.body_errors(at, "application/json", data) if resp else ["undocumented status"]
    check(f"overview?{query}: 200, as the OpenAPI document says", (200, []), (status, errors))
    return data


# Wait for serve to build the per-domain totals of its ranges (7, 30, 90, 365 days), so that the
# reports below reach the built windows through add_session_counts.
for _ in range(100):
    if "range(s) of per-domain totals built" in log.read_text():
        break
    time.sleep(0.1)
check("serve builds the domain list's ranges at start", [["30"], ["365"], ["7"], ["90"]],
      sql("SELECT days FROM window_state ORDER BY days::text"))

sent = {}  # domain -> [(day, ok, failed)]


def send(domain, day, ok, failed):
    report = {"organization-name": "List Tester", "contact-info": "list@tester.example",
              "report-id": f"{domain}-{day}-{ok}-{failed}-{time.time_ns()}",
              "date-range": {"start-datetime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(day)),
                             "end-datetime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(day + DAY - 1))},
              "policies": [{"policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: testing"],
                                       "policy-domain": domain, "mx-host": ["mx." + domain]},
                            "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed},
                            "failure-details": ([{"result-type": "certificate-expired", "failed-session-count": failed}]
                                                if failed else [])}]}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/tlsrpt", data=json.dumps(report).encode(), method="POST",
                                 headers={"Content-Type": "application/tlsrpt+json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201, r.status
    sent.setdefault(domain, []).append((day, ok, failed))


Y, D20, D40 = today - DAY, today - 20 * DAY, today - 40 * DAY
for domain, day, ok, failed in [
        ("a.list.example", Y, 990, 10), ("b.list.example", Y, 500, 500), ("c.list.example", Y, 1000, 0),
        ("d.list.example", D20, 100, 100), ("e.list.example", Y, 990, 10), ("f.list.example", D40, 5, 5),
        ("g.list.example", Y, 0, 0), ("zz-list.example", Y, 10, 990), ("h.list.example", today - 5 * DAY, 7, 0),
        ("h.list.example", Y, 3, 1)]:
    send(domain, day, ok, failed)
# A domain whose reports count no session at all has no rollup row: it is not listed (nor in
# /api/v1/domains), though its reports are stored.
del sent["g.list.example"]


def settle():
    """Waits for compaction (every 10 s) to move what the intake stored into the rollups: the
    order reads compacted figures (the rows shown include pending ones)."""
    for _ in range(60):
        if sql("SELECT count(*) FROM session_counts_new") == [["0"]]:
            return
        time.sleep(0.5)
    check("compaction within 30 s", True, False)


settle()


def expected(sort, days):
    """The list's order from what was sent: the domains with the figure in its order (ties by
    name), then the rest by name."""
    def totals(d, n):
        rows = [(ok, bad) for day, ok, bad in sent[d] if today - (n - 1) * DAY <= day <= today]
        return sum(r[0] for r in rows), sum(r[1] for r in rows)
    names = sorted(sent)
    if sort == "name":
        return names
    if sort == "newest":
        key = {d: -max(day for day, _, _ in sent[d]) for d in names}
    elif sort == "failed":
        key = {d: -totals(d, days)[1] for d in names if totals(d, days)[1] > 0}
    else:
        n = 7 if sort == "ratio7" else days
        key = {d: round(totals(d, n)[0] / sum(totals(d, n)) * 1e6) for d in names if sum(totals(d, n)) > 0}
    return sorted(key, key=lambda d: (key[d], d)) + [d for d in names if d not in key]


def walk(sort, days, limit):
    """Every page of a sort, joined; the pages' own figures checked on the way."""
    first = overview(f"sort={sort}&days={days}&limit={limit}")
    pages = [first]
    for n in range(2, first["pages"] + 1):
        pages.append(overview(f"sort={sort}&days={days}&limit={limit}&page={n}"))
    check(f"{sort}, {days} days: total and pages", (len(sent), math.ceil(len(sent) / limit)),
          (first["total"], first["pages"]))
    check(f"{sort}, {days} days: every page but the last is full", True,
          all(len(p["domains"]) == limit for p in pages[:-1]))
    return [d["policy_domain"] for p in pages for d in p["domains"]]


def all_sorts(days, what):
    for sort in ("name", "ratio7", "ratio", "failed", "newest"):
        check(f"{what}: {sort} over {days} days, pages of 3 joined", expected(sort, days), walk(sort, days, 3))


all_sorts(30, "a built range (windows kept by each report)")
all_sorts(31, "a range summed from the daily rows")
all_sorts(365, "a built range")

# A later report moves a domain: c.list.example falls from 100 % to 50 %.
send("c.list.example", Y, 0, 1000)
settle()
all_sorts(30, "after a later report")
all_sorts(31, "after a later report")
check("the window equals the daily rows it covers",
      sql("SELECT policy_domain, sum(successful), sum(failed) FROM daily_sessions WHERE day > $1::timestamptz - "
          "interval '30 days' GROUP BY 1 ORDER BY 1", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(today))),
      sql("SELECT policy_domain, successful, failed FROM domain_windows WHERE days = 30 ORDER BY 1"))

# The figures of a row are the range's, whatever the sort.
row = next(d for d in overview("sort=failed&days=30")["domains"] if d["policy_domain"] == "c.list.example")
check("a row's figures: c.list.example over 30 days", (1000, 1000, 0.5),
      (row["range"]["successful_sessions"], row["range"]["failed_sessions"], row["range"]["success_ratio"]))
row = next(d for d in overview("sort=ratio7&days=30")["domains"] if d["policy_domain"] == "d.list.example")
check("a row's figures: d.list.example has sessions in 30 days, none in 7", (200, 0),
      (row["range"]["successful_sessions"] + row["range"]["failed_sessions"],
       row["last_7_days"]["successful_sessions"] + row["last_7_days"]["failed_sessions"]))
row = next(d for d in overview("days=3")["domains"] if d["policy_domain"] == "h.list.example")
check("a range under 7 days still has its 7-day figure", (4, 11),
      (row["range"]["successful_sessions"] + row["range"]["failed_sessions"],
       row["last_7_days"]["successful_sessions"] + row["last_7_days"]["failed_sessions"]))

# Filter, the end of the list, limits.
flt = overview("q=ZZ-&limit=5")
check("q: case-insensitive, a part of the name", (["zz-list.example"], 1, "zz-"),
      ([d["policy_domain"] for d in flt["domains"]], flt["total"], flt["q"]))
past = overview("page=99&limit=5")
check("past the last page: no rows, the count still given", ([], len(sent), math.ceil(len(sent) / 5)),
      (past["domains"], past["total"], past["pages"]))
check("default: 50 a page", (50, 1), (overview("")["limit"], overview("")["page"]))
for bad in ("page=0", "page=1000001", "limit=501", "sort=worst", "page=x", "q=" + "x" * 513):
    status, _, body = get("/api/v1/overview?" + bad)
    check(f"overview?{bad[:20]}: 400 naming the parameter", (400, True),
          (status, bad.split("=")[0] in json.loads(body)["error"]))

# The page / shows one page of the API's answer, in its order, with links to the others.
status, _, body = get("/?sort=ratio&limit=3&page=2")
html = body.decode()
shown = re.findall(r'<a href="/domains/([^"?]+)[^"]*" class="domain">', html)
check("page /: page 2 of the ratio sort, the API's rows in its order", (200, expected("ratio", 30)[3:6]), (status, shown))
check("page /: links to the previous and next pages keep sort and size",
      (True, True), ('href="/?sort=ratio&amp;limit=3" rel="prev"' in html, 'href="/?sort=ratio&amp;limit=3&amp;page=3" rel="next"' in html))
check("page /: says where it is", True,
      f"Page 2 of {math.ceil(len(sent) / 3)}" in html and f"{len(sent)} domain(s), 4 to 6 here" in html)

# DANE policies that name an MX host as their policy-domain (tlsrpt-reporter with Postfix 3.10):
# counted under the report's domain (here from the file name) when the host lies under it or
# is an MX the posture checks saw for it; an unrelated host stays as written.
sql("INSERT INTO posture_checks (domain, checked_at, duration_ms, complete, errors, warnings, result) VALUES "
    "('customer.example', now(), 5, true, 0, 0, '{\"domain\": \"customer.example\", \"mx\": [{\"host\": "
    "\"mx.hoster.example\"}]}')")
day = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(Y))


def dane_file(name, host, ok):
    report = {"organization-name": "Postfix Reporter", "contact-info": "tlsrpt@sender.example", "report-id": name,
              "date-range": {"start-datetime": day, "end-datetime": day.replace("00:00:00", "23:59:59")},
              "policies": [{"policy": {"policy-type": "tlsa", "policy-string": ["3 1 1 " + "ab" * 32],
                                       "policy-domain": host, "mx-host": [host]},
                            "summary": {"total-successful-session-count": ok, "total-failure-session-count": 0}}]}
    path = TMP / name
    path.write_text(json.dumps(report))
    return str(path)


files = [dane_file("sender.example!customer.example!1!2!a.json", "mx.hoster.example", 11),
         dane_file("sender.example!dane.example!1!2!b.json", "mx1.dane.example", 12),
         dane_file("sender.example!third.example!1!2!c.json", "mx.unrelated.example", 13)]
ingest = subprocess.run([TLSRPT, "ingest", "--database-url", PG_URL, "--no-progress", *files], env=env,
                        capture_output=True, text=True)
check("ingest: the three DANE reports stored", (0, True), (ingest.returncode, "stored=3" in ingest.stderr))
check("DANE policy-domain: the provider's MX and a host under the domain are counted under the report's domain; "
      "an unrelated host stays; the host kept in mx-host",
      [["customer.example", "{mx.hoster.example}", "11"], ["dane.example", "{mx1.dane.example}", "12"],
       ["mx.unrelated.example", "{mx.unrelated.example}", "13"]],
      sql("SELECT policy_domain, mx_host, total_successful_session_count FROM policies WHERE policy_type = 'tlsa' "
          "ORDER BY 1"))
check("DANE policy-domain: the quirk is named", [["2"]],
      sql("SELECT count(*) FROM report_quirks WHERE quirk = 'policy-domain-mx-host'"))
again = subprocess.run([TLSRPT, "ingest", "--database-url", PG_URL, "--no-progress", *files], env=env,
                       capture_output=True, text=True)
check("DANE policy-domain: the same files again are duplicates", True, "duplicates=3" in again.stderr)

proc.terminate()
proc.wait(timeout=30)
finish("e2e.domain_list")
