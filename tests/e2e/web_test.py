"""The web pages in headless chromium (see web_test.sh): what a person sees against the API's
answers, links followed from the domain list to a domain, a report and its raw message, hostile
report text rendered inert, login and logout with tokens, security headers, HTML validity
(tidy), phone width and dark mode. Screenshots of every page are saved under $OUT."""
import hashlib
import http.cookiejar
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

TLSRPT, PG_URL, TMP, OUT = os.environ["TLSRPT"], os.environ["PG_URL"], Path(os.environ["TMP"]), Path(os.environ["OUT"])
CORPUS = [Path(c) for c in os.environ["CORPUS"].split()]
sys.path.insert(0, str(Path(__file__).parent))
from harness import check, finish, free_port, sql, wait_port  # noqa: E402

READ, ADMIN = "read-" + "r" * 20, "admin-" + "a" * 20
NOW = datetime.now(timezone.utc)


class Server:
    def __init__(self, name, env=None, tls=False):
        self.port = free_port()
        self.scheme = "https" if tls else "http"
        self.base = f"{self.scheme}://localhost:{self.port}"
        self.log = TMP / f"{name}.log"
        e = dict(os.environ, TLSRPT_DATABASE_URL=PG_URL, TLSRPT_SMTP_LISTEN="", TLSRPT_HTTP_CACHE_SECONDS="0",
                 TLSRPT_DKIM_MODE="off", **(env or {}))
        if tls:
            e.update(TLSRPT_HTTP_TLS_CERT=str(TMP / "cert.pem"), TLSRPT_HTTP_TLS_KEY=str(TMP / "key.pem"))
        self.proc = subprocess.Popen([TLSRPT, "serve", "--http-listen", f"127.0.0.1:{self.port}"], env=e,
                                     stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        wait_port(self.port, name, self.log)

    def request(self, path, method="GET", body=None, headers=None):
        """(status, headers as a list of pairs, body) without following redirects."""
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        ctx = ssl.create_default_context(cafile=str(TMP / "cert.pem")) if self.scheme == "https" else None
        opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=ctx))
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with opener.open(req, timeout=30) as r:
                return r.status, r.headers.items(), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.items(), e.read()

    def json(self, path, token=None):
        status, _, body = self.request(path, headers={"Authorization": f"Bearer {token}"} if token else {})
        return json.loads(body)

    def stop(self):
        self.proc.terminate()
        code = self.proc.wait(timeout=30)
        if code != 0:  # say why (a sanitizer report, say)
            print(f"--- {self.log.name} (exit {code}):\n" + "\n".join(self.log.read_text().splitlines()[-80:]))
        return code


def header(headers, name):
    return [v for k, v in headers if k.lower() == name.lower()]


# --- Data: the corpus, reports of the last 20 days, a hostile report, posture checks -------------
files = sorted(f for c in CORPUS for f in c.rglob("*") if f.is_file())
subprocess.run([TLSRPT, "ingest", "--database-url", PG_URL, "--no-progress", *map(str, files)],
               env=dict(os.environ, TLSRPT_DKIM_MODE="off"), capture_output=True, check=False)


def report(org, rid, day, domain, ok, failures, mx=("mx1.web.example", "mx2.web.example"), policy_string=None):
    start = day.strftime("%Y-%m-%dT00:00:00Z")
    return {"organization-name": org, "date-range": {"start-datetime": start, "end-datetime": day.strftime("%Y-%m-%dT23:59:59Z")},
            "contact-info": "tlsrpt@" + org.split()[0].lower() + ".example", "report-id": rid,
            "policies": [{"policy": {"policy-type": "sts", "policy-string": policy_string or
                                     ["version: STSv1", "mode: testing", "mx: mx1.web.example", "mx: mx2.web.example", "max_age: 86400"],
                                     "policy-domain": domain, "mx-host": list(mx)},
                          "summary": {"total-successful-session-count": ok,
                                      "total-failure-session-count": sum(f[2] for f in failures)},
                          "failure-details": [{"result-type": t, "sending-mta-ip": "192.0.2.7", "receiving-mx-hostname": h,
                                               "receiving-ip": "198.51.100.9", "failed-session-count": n,
                                               "failure-reason-code": code}
                                              for t, h, n, code in [(a, b, c, "X509_V_ERR_HOSTNAME_MISMATCH") for a, b, c in failures]]}]}


fresh = TMP / "fresh"
fresh.mkdir()
for k in range(1, 21):
    day = NOW - timedelta(days=k)
    for org in ("Reporter Alpha", "Reporter Beta"):
        failures = []
        if k % 3 == 0:
            failures.append(("certificate-host-mismatch", "mx2.web.example", 4 + k))
        if k % 5 == 0 and org == "Reporter Beta":
            failures.append(("starttls-not-supported", "mx1.web.example", 2))
        r = report(org, f"{org.split()[1].lower()}-{k}@web.example", day, "web.example", 900 + k, failures)
        (fresh / f"{org.split()[1]}-{k}.json").write_text(json.dumps(r))
subprocess.run([TLSRPT, "ingest", "--database-url", PG_URL, "--no-progress", str(fresh)],
               env=dict(os.environ, TLSRPT_DKIM_MODE="off"), capture_output=True, check=True)

# Posture checks (as serve's checks store them) with findings and details, and a policy history.
def posture(domain, findings):
    sql(f"INSERT INTO posture_checks (domain, checked_at, duration_ms, complete, errors, warnings, sts_id, mode, result) "
        f"VALUES ($1, now(), 10, true, {sum(f[1] == 'error' for f in findings)}, "
        f"{sum(f[1] == 'warning' for f in findings)}, '20261101', 'testing', '{{}}')", domain)
    for name, severity, subject, detail in findings:
        sql("INSERT INTO posture_findings SELECT max(id), $1, $2, $3, $4 FROM posture_checks WHERE domain = $5",
            name, severity, subject, detail, domain)


posture("web.example", [("mx-cert-name-mismatch", "error", "mx2.web.example",
                         "the certificate names mail.web.example, not mx2.web.example"),
                        ("sts-mode-testing", "info", "web.example", "mode: testing")])
sql("INSERT INTO published_policies (domain, sts_id, sha256, mode, max_age, mx, text, first_seen, last_seen, normalized) "
    "SELECT 'web.example', '20261101', md5(t), 'testing', 86400, ARRAY['mx1.web.example', 'mx2.web.example'], t, "
    "now() - interval '30 days', now(), normalized_policy(string_to_array(t, E'\\n')) FROM (SELECT 'version: STSv1' || E'\\n' "
    "|| 'mode: testing' || E'\\n' || 'mx: mx1.web.example' || E'\\n' || 'mx: mx2.web.example' || E'\\n' || 'max_age: 86400' AS t) x")

# Every string a sender controls, hostile: script tags, attribute breakers, javascript: URLs.
HOSTILE = {
    "org": "<script>window.__xss=1</script>",
    "rid": '"onmouseover="window.__xss=2" x="',
    "mx": "javascript:window.__xss=3//",
    "host": '<img src=x onerror="window.__xss=4">',
    "code": "<script>window.__xss=5</script>",
    "info": "javascript:window.__xss=6",
    "type": "<b>javascript:x</b>",
}
xss_report = report(HOSTILE["org"], HOSTILE["rid"], NOW - timedelta(days=1), "xss.example", 10, [], mx=(HOSTILE["mx"],),
                    policy_string=["version: STSv1", "mode: testing", "mx: <script>window.__xss=9</script>", "max_age: 86400"])
xss_report["contact-info"] = '<svg onload="window.__xss=7">'
xss_report["policies"][0]["failure-details"] = [
    {"result-type": "certificate-host-mismatch", "sending-mta-ip": "192.0.2.1", "receiving-mx-hostname": HOSTILE["host"],
     "receiving-ip": "198.51.100.1", "failed-session-count": 3, "failure-reason-code": HOSTILE["code"],
     "additional-information": HOSTILE["info"]},
    {"result-type": HOSTILE["type"], "receiving-mx-hostname": '"onmouseover="window.__xss=10', "failed-session-count": 2,
     "failure-reason-code": "javascript:window.__xss=11"}]
xss_report["policies"][0]["summary"]["total-failure-session-count"] = 5
posture("xss.example", [("mx-cert-untrusted", "error", "<script>window.__xss=13</script>", '"onmouseover="window.__xss=14')])

# --- Server A: open on loopback (no token), plain HTTP --------------------------------------------
a = Server("open")
status, _, body = a.request("/tlsrpt", "POST", json.dumps(xss_report).encode(), {"Content-Type": "application/tlsrpt+json"})
check("the hostile report is stored (it is valid TLS-RPT)", 201, status)
xss_id = int(sql("SELECT id FROM reports WHERE report_id = $1", HOSTILE["rid"])[0][0])
status, _, _ = a.request("/tlsrpt", "POST", b'<script>window.__xss=12</script>{"organization-name": "<b>x</b>"',
                         {"Content-Type": "application/tlsrpt+json"})
check("a hostile non-report is rejected (and listed)", 400, status)

opts = Options()
opts.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
            "--ignore-certificate-errors", f"--user-data-dir={TMP / 'chromium'}"):
    opts.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver", log_path=str(TMP / "chromedriver.log")), options=opts)
driver.set_page_load_timeout(60)
shots = []


def shot(name):
    path = OUT / f"{name}.png"
    driver.save_screenshot(str(path))
    shots.append(path)


def follow(element):
    """Clicks a link or a form's button and waits until the next page has loaded (a click does
    not wait for the navigation it starts, a form's 303 included)."""
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 30).until(expected_conditions.staleness_of(old))
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def text():
    return driver.find_element(By.TAG_NAME, "body").text


def path_of(url):
    return urllib.parse.urlsplit(url).path


def inert(where):
    """No payload ran: the flag it would set is unset, no dialog opened, and the document holds no
    script element, no event-handler attribute and no javascript: link."""
    flag = driver.execute_script("return window.__xss === undefined ? null : window.__xss")
    try:
        driver.switch_to.alert
        dialog = True
    except NoAlertPresentException:
        dialog = False
    handlers = driver.execute_script(
        "return Array.from(document.querySelectorAll('*')).flatMap(e => Array.from(e.attributes))"
        ".filter(a => a.name.startsWith('on')).map(a => a.name)")
    check(f"{where}: no script ran (flag unset, no dialog)", (None, False), (flag, dialog))
    check(f"{where}: no script element, no on* attribute, no javascript: link", (0, [], 0),
          (driver.execute_script("return document.scripts.length"), handlers,
           driver.execute_script("return document.querySelectorAll('[href^=\"javascript:\" i]').length")))


def page_checks(server, path, name, twin=True):
    """Security headers, valid HTML (tidy) and the JSON twin, fetched as the browser would."""
    status, headers, body = server.request(path, headers=cookie_header)
    csp = " ".join(header(headers, "Content-Security-Policy"))
    check(f"{name}: 200 text/html", (200, True), (status, "text/html" in " ".join(header(headers, "Content-Type"))))
    check(f"{name}: CSP with no inline script, no framing", (True, False, True),
          ("frame-ancestors 'none'" in csp, "unsafe-inline" in csp, "default-src 'none'" in csp))
    check(f"{name}: nosniff and a Referrer-Policy", (["nosniff"], True),
          (header(headers, "X-Content-Type-Options"), bool(header(headers, "Referrer-Policy"))))
    (TMP / "page.html").write_bytes(body)
    tidy = subprocess.run(["tidy", "-errors", "-q", "-utf8", str(TMP / "page.html")], capture_output=True, text=True)
    check(f"{name}: tidy finds no error nor warning", (0, ""), (tidy.returncode, tidy.stderr.strip()[:500]))
    if twin:
        m = re.search(rb'<a href="([^"]+)" class="twin">', body)
        check(f"{name}: links its JSON twin", True, m is not None)
        if m:
            status, headers, tbody = server.request(m.group(1).decode().replace("&amp;", "&"), headers=cookie_header)
            check(f"{name}: the twin answers JSON", (200, True), (status, tbody[:1] == b"{"))


cookie_header = {}

# The domain list, against /api/v1/overview.
driver.get(a.base + "/")
shot("domains")
overview = a.json("/api/v1/overview")
rows = driver.find_elements(By.CSS_SELECTOR, "table.domains tbody tr")
seen = {r.find_element(By.CSS_SELECTOR, "a.domain").text: r for r in rows}
check("domain list: every domain of the API, in its order", [d["policy_domain"] for d in overview["domains"]],
      [r.find_element(By.CSS_SELECTOR, "a.domain").text for r in rows])
def grouped(n):
    return f"{n:,}"
check("domain list: each domain's sessions in range equal the API's",
      {d["policy_domain"]: grouped(d["range"]["successful_sessions"] + d["range"]["failed_sessions"]) + " sessions"
       for d in overview["domains"]},
      {name: r.find_elements(By.TAG_NAME, "td")[1].find_element(By.TAG_NAME, "small").text for name, r in seen.items()})
web = next(d for d in overview["domains"] if d["policy_domain"] == "web.example")
cells = seen["web.example"].find_elements(By.TAG_NAME, "td")
ratio7 = web["last_7_days"]["success_ratio"]
check("domain list: web.example's 7-day ratio as the API's",
      f"{ratio7 * 100:.3f} %" if 0.9995 <= ratio7 < 1 else f"{ratio7 * 100:.1f} %", cells[0].text)
check("domain list: failures by result type, with counts", sorted(f"{r['result_type']} {grouped(r['sessions'])}" for r in web["by_result_type"]),
      sorted(cells[3].text.replace("\u00a0", " ").splitlines()))
check("domain list: posture counts and readiness of a checked domain", (True, web["readiness"]),
      ("1 error(s), 0 warning(s)" in cells[6].text, cells[7].text))
days_drawn = sum(d.get_attribute("d").count("M") for d in seen["web.example"].find_elements(By.CSS_SELECTOR, "svg.spark path"))
worst = min((p for p in web["daily"] if p["successful_sessions"] + p["failed_sessions"]),
            key=lambda p: p["successful_sessions"] / (p["successful_sessions"] + p["failed_sessions"]))
check("domain list: a daily chart of 30 days whose text alternative names the worst day", (30, True),
      (days_drawn, worst["time"][:10] in seen["web.example"].find_element(By.CSS_SELECTOR, "svg.spark").get_attribute("aria-label")))
page_checks(a, "/", "domain list")
driver.get(a.base + "/?q=web&sort=failed")
check("domain list: filtered by name", ["web.example"], [e.text for e in driver.find_elements(By.CSS_SELECTOR, "a.domain")])
driver.get(a.base + "/?sort=failed&days=365")
by_failed = sorted(a.json("/api/v1/overview?days=365")["domains"], key=lambda d: -d["range"]["failed_sessions"])
check("domain list: sorted by failed sessions", by_failed[0]["policy_domain"],
      driver.find_elements(By.CSS_SELECTOR, "a.domain")[0].text)
inert("domain list")

# From the list to the domain page.
driver.get(a.base + "/")
follow(driver.find_element(By.LINK_TEXT, "web.example"))
check("link: domain list to the domain page", "/domains/web.example", path_of(driver.current_url))
shot("domain")
dov = a.json("/api/v1/domains/web.example/overview")
check("domain page: the heading", "web.example", driver.find_element(By.TAG_NAME, "h1").text)
hints = {h["result_type"]: h["hint"] for h in a.json("/api/v1/hints")["result_types"]}
finding_hints = {h["finding"]: h["hint"] for h in a.json("/api/v1/hints")["findings"]}
tables = {t.find_element(By.TAG_NAME, "caption").text: t for t in driver.find_elements(By.CSS_SELECTOR, "table")
          if t.find_elements(By.TAG_NAME, "caption")}
result_rows = [[c.text for c in tr.find_elements(By.CSS_SELECTOR, "th, td")]
               for tr in tables["By result type"].find_elements(By.CSS_SELECTOR, "tbody tr")]
check("domain page: failures by result type as the API's summary, each with its hint",
      [[r["result_type"], grouped(r["sessions"]), hints[r["result_type"]]] for r in dov["summary"]["by_result_type"]],
      result_rows)
check("domain page: by MX host as the API's", [[r["mx_host"], grouped(r["sessions"])] for r in dov["summary"]["by_mx_host"]],
      [[c.text for c in tr.find_elements(By.CSS_SELECTOR, "th, td")]
       for tr in tables["By receiving MX host"].find_elements(By.CSS_SELECTOR, "tbody tr")])
check("domain page: by organisation as the API's",
      [[r["organization_name"], grouped(r["successful_sessions"]), grouped(r["failed_sessions"])] for r in dov["summary"]["by_organization"]],
      [[c.text for c in tr.find_elements(By.CSS_SELECTOR, "th, td")][:3]
       for tr in tables["By reporting organisation"].find_elements(By.CSS_SELECTOR, "tbody tr")])
body = text()
check("domain page: readiness verdict and reasons as the API's", True,
      f"Verdict: {dov['readiness']['verdict']}" in body and all(r["reason"] in body for r in dov["readiness"]["reasons"]))
check("domain page: the posture finding with its detail and hint", (True, True, True),
      ("mx-cert-name-mismatch" in body, "the certificate names mail.web.example, not mx2.web.example" in body,
       finding_hints["mx-cert-name-mismatch"] in body))
check("domain page: the published policy history", True, "20261101" in body)
check("domain page: two charts with text alternatives", 2,
      len([s for s in driver.find_elements(By.CSS_SELECTOR, "svg.chart") if s.get_attribute("aria-label")]))
page_checks(a, "/domains/web.example", "domain page")
inert("domain page")

# From a result type to its reports, to a report, to its raw message.
follow(driver.find_element(By.LINK_TEXT, "certificate-host-mismatch"))
check("link: result type to the matching reports", "/reports", path_of(driver.current_url))
shot("reports")
q = urllib.parse.urlsplit(driver.current_url).query
api_reports = a.json("/api/v1/reports?" + q)["reports"]
check("reports page: the API's reports for the domain and result type", [str(r["id"]) for r in api_reports],
      [e.text for e in driver.find_elements(By.CSS_SELECTOR, "tbody th a")])
check("reports page: the reports with that failure in range (SQL)",
      sorted(int(r[0]) for r in sql("SELECT DISTINCT p.report_id FROM policies p JOIN failure_details d ON d.policy_id = p.id "
                                    "WHERE p.policy_domain = 'web.example' AND d.result_type = 'certificate-host-mismatch' "
                                    "AND p.start_datetime >= $1", dov["from"])),
      sorted(r["id"] for r in api_reports))
page_checks(a, "/reports?" + q, "reports page")
first = api_reports[0]
follow(driver.find_element(By.LINK_TEXT, str(first["id"])))
check("link: a report's page", f"/reports/{first['id']}", path_of(driver.current_url))
shot("report")
body = text()
check("report page: organisation, report id and failure details", (True, True, True),
      (first["organization_name"] in body, first["report_id"] in body, "X509_V_ERR_HOSTNAME_MISMATCH" in body))
check("report page: the hint of its result type", True, hints["certificate-host-mismatch"] in body)
raw_link = driver.find_element(By.LINK_TEXT, "The raw message").get_attribute("href")
status, _, raw = a.request(urllib.parse.urlsplit(raw_link).path)
sha = sql("SELECT encode(m.sha256, 'hex') FROM reports r JOIN raw_messages m ON m.id = r.raw_message_id WHERE r.id = $1",
          first["id"])[0][0]
check("link: the raw message, as received (its SHA-256 shown on the page)", (200, sha, True),
      (status, hashlib.sha256(raw).hexdigest(), sha in body))
page_checks(a, f"/reports/{first['id']}", "report page")

# The hostile report and everything listing it.
driver.get(a.base + f"/reports/{xss_id}")
shot("report-hostile")
body = text()
check("hostile report: its text shown as text", [], [k for k, v in HOSTILE.items() if v not in body])
inert("hostile report page")
page_checks(a, f"/reports/{xss_id}", "hostile report page")
for path, name in (("/domains/xss.example", "hostile domain page"), ("/?q=xss", "hostile domain list"),
                   ("/reports?domain=xss.example", "hostile reports list"), ("/rejected", "rejected page"),
                   ("/status", "status page")):
    driver.get(a.base + path)
    shot(name.replace(" ", "-"))
    inert(name)
    page_checks(a, path, name)
driver.get(a.base + "/domains/xss.example")
check("hostile posture finding shown as text", True, "<script>window.__xss=13</script>" in text())
driver.get(a.base + "/rejected")
rejected_api = a.json("/api/v1/rejected")["rejected"]
check("rejected page: the reasons of the API's rejected inputs", [], [r["reason"] for r in rejected_api if r["reason"] not in text()])
check("rejected page: one row per rejected input of the API's first page", len(rejected_api),
      len(driver.find_elements(By.CSS_SELECTOR, "tbody tr")))
driver.get(a.base + "/status")
st = a.json("/api/v1/status")
check("status page: database up and the inputs by transport", (True, True),
      ("✓ up" in text(), all(i["transport"] in text() for i in st["inputs"])))

# Errors are pages too; unknown parameters are named.
driver.get(a.base + "/?bogus=1")
check("a bad parameter: an error page naming it", True, "bogus" in text() and "Error 400" in text())
status, _, _ = a.request("/domains/not_a_domain")
check("a domain page for a non-name: 400", 400, status)

# Phone width and dark mode.
driver.set_window_size(390, 844)
for path, name in (("/", "domains-phone"), ("/domains/web.example", "domain-phone"), (f"/reports/{first['id']}", "report-phone")):
    driver.get(a.base + path)
    shot(name)
    check(f"{name}: nothing wider than the screen", True,
          driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"))
driver.set_window_size(1400, 1000)
driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
driver.get(a.base + "/domains/web.example")
shot("domain-dark")
bg = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
check("dark mode: a dark background under prefers-color-scheme: dark", True,
      sum(int(x) for x in re.findall(r"\d+", bg)[:3]) < 150)
driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
# The database goes away: the status page says so (503), the other pages are error pages; it
# comes back and so do they.
pg = lambda fn: subprocess.run(["bash", "-c", f"source tests/integration/pg.sh; {fn}"], check=True)
pg("pg_down")
status, _, body = a.request("/status")
check("database down: the status page says so (503)", (503, True), (status, b"unavailable" in body))
status, _, body = a.request("/domains/web.example")
check("database down: a page is a 503 error page", (503, True), (status, b"database unavailable" in body))
driver.get(a.base + "/status")
shot("status-database-down")
pg("pg_up")
for _ in range(50):
    if a.request("/")[0] == 200:
        break
    time.sleep(0.2)
check("database back: the pages answer again", 200, a.request("/domains/web.example")[0])
check("open server stops cleanly", 0, a.stop())

# --- Server B: tokens, TLS: login, sessions, admin-only content, CSRF ----------------------------
b = Server("tokens", env={"TLSRPT_HTTP_READ_TOKENS": READ, "TLSRPT_HTTP_ADMIN_TOKENS": ADMIN}, tls=True)
driver.delete_all_cookies()
driver.get(b.base + "/domains/web.example")
check("no session: the page sends to the login form, keeping where to go", ("/login", "next=%2Fdomains%2Fweb.example"),
      (path_of(driver.current_url), urllib.parse.urlsplit(driver.current_url).query))
shot("login")
status, headers, _ = b.request("/reports")
check("no session: 303 to /login", (303, ["/login?next=%2Freports"]), (status, header(headers, "Location")))
status, _, _ = b.request("/api/v1/overview")
check("no session, no token: the JSON twin is 401", 401, status)


def login(token):
    driver.get(b.base + "/login")
    driver.find_element(By.ID, "token").send_keys(token)
    follow(driver.find_element(By.CSS_SELECTOR, "form.login button"))


login("wrong-token-" + "x" * 20)
check("wrong token: the form again, saying so", ("/login", True), (path_of(driver.current_url), "Unknown token." in text()))
driver.get(b.base + "/domains/web.example")
driver.find_element(By.ID, "token").send_keys(READ)
follow(driver.find_element(By.CSS_SELECTOR, "form.login button"))
check("read token: back where the browser was going", "/domains/web.example", path_of(driver.current_url))
session = driver.get_cookie("tlsrpt_session")
check("session cookie: HttpOnly, Secure over TLS, SameSite=Strict", (True, True, "Strict"),
      (session["httpOnly"], session["secure"], session["sameSite"]))
cookie_header = {"Cookie": f"tlsrpt_session={session['value']}"}
page_checks(b, "/domains/web.example", "domain page over TLS with a session")
driver.get(b.base + f"/reports/{first['id']}")
check("read session: no raw message link", [], driver.find_elements(By.LINK_TEXT, "The raw message"))
status, _, _ = b.request(f"/api/v1/messages/{sql('SELECT raw_message_id FROM reports WHERE id = $1', first['id'])[0][0]}/raw",
                         headers=cookie_header)
check("read session: raw bytes refused (403)", 403, status)
driver.get(b.base + "/rejected")
check("read session: no raw bytes column on the rejected page", [], driver.find_elements(By.CSS_SELECTOR, "a.raw"))
status, _, _ = b.request("/logout", "POST", b"csrf=" + b"0" * 64,
                         {**cookie_header, "Content-Type": "application/x-www-form-urlencoded"})
check("logout with a wrong CSRF value: 403", 403, status)
status, _, _ = b.request("/", headers=cookie_header)
check("the session survives a forged logout", 200, status)
follow(driver.find_element(By.CSS_SELECTOR, "form.logout button"))
check("logout: back to the login form", "/login", path_of(driver.current_url))
status, _, _ = b.request("/", headers=cookie_header)
check("logout: the session is gone on the server", 303, status)
driver.get(b.base + "/")
check("logout: pages need a session again", "/login", path_of(driver.current_url))
login(ADMIN)
check("admin token: the domain list", "/", path_of(driver.current_url))
driver.get(b.base + f"/reports/{first['id']}")
shot("report-admin")
raw_link = driver.find_element(By.LINK_TEXT, "The raw message").get_attribute("href")
cookie_header = {"Cookie": f"tlsrpt_session={driver.get_cookie('tlsrpt_session')['value']}"}
status, _, raw = b.request(urllib.parse.urlsplit(raw_link).path, headers=cookie_header)
check("admin session: the raw message", (200, sha), (status, hashlib.sha256(raw).hexdigest()))
driver.get(b.base + "/rejected")
check("admin session: raw bytes links on the rejected page", len(rejected_api), len(driver.find_elements(By.CSS_SELECTOR, "a.raw")))
# Login CSRF: a form posted without the cookie the form page set.
status, _, _ = b.request("/login", "POST", f"csrf={'1' * 64}&token={ADMIN}&next=/".encode(),
                         {"Content-Type": "application/x-www-form-urlencoded"})
check("login without the form's cookie: 403", 403, status)
status, headers, _ = b.request("/login", "POST", f"csrf=x&token={ADMIN}&next=//evil.example/".encode(),
                               {"Content-Type": "application/x-www-form-urlencoded", "Cookie": "tlsrpt_login=x"})
check("login: next never leaves the site", (303, ["/"]), (status, header(headers, "Location")))
status, _, _ = b.request("/login", "POST", b"token=x", {"Content-Type": "text/plain"})
check("login: a form of another media type is 415", 415, status)
codes = [b.request("/login", "POST", b"csrf=a&token=b", {"Content-Type": "application/x-www-form-urlencoded"})[0]
         for _ in range(12)]
check("login attempts are rate-limited per address (429)", True, 429 in codes)
driver.quit()
check("token server stops cleanly", 0, b.stop())
check("a screenshot of every page", True, all(p.stat().st_size > 5000 for p in shots) and len(shots) >= 15)
print(f"screenshots: {OUT}")
finish("e2e.web")
