#!/usr/bin/env python3
"""Checks of dashboards/ (run by observability_test.sh): static checks with promtool, amtool and
docker-compose, then the shipped rules and configs running for real: Prometheus scrapes tlsrpt,
every PromQL and SQL query of the dashboards returns data, the certificate-expired alert reaches
Alertmanager."""
import datetime
import json
import os
import re
import smtplib
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import check, finish, free_port, sql, wait_port  # noqa: E402

TLSRPT, PG_URL, TMP = os.environ["TLSRPT"], os.environ["PG_URL"], Path(os.environ["TMP"])
D = Path("dashboards")


def run(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def get_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


# --- Static checks -------------------------------------------------------------------------
r = run("promtool", "check", "rules", str(D / "prometheus/rules/tlsrpt.rules.yml"))
check("promtool check rules", (0, True), (r.returncode, "SUCCESS" in r.stdout))
r = run("promtool", "test", "rules", "tests/tlsrpt.test.yml", cwd=D / "prometheus")
check("promtool test rules: every alert firing and not firing", (0, ""), (r.returncode, r.stderr.strip()))
if r.returncode:
    print(r.stdout[-3000:])
r = run("amtool", "check-config", str(D / "alertmanager/alertmanager.yml"))
check("amtool check-config", (0, True), (r.returncode, "SUCCESS" in r.stdout))
r = run("docker-compose", "--env-file", str(D / "compose.env.example"), "config", "-q")
check("docker-compose config (with compose.env.example)", (0, ""), (r.returncode, r.stderr.strip()))
r = run("docker-compose", "--env-file", str(D / "compose.env.example"), "config")
compose = r.stdout
for svc in ["postgres", "tlsrpt", "prometheus", "alertmanager", "grafana"]:
    check(f"compose has service {svc}", True, f"\n  {svc}:" in compose)
for port in ["8080", "3000", "2525"]:
    check(f"compose publishes {port}", True, f"target: {port}" in compose or f":{port}" in compose)
check("compose keeps data in named volumes", True, all(v in compose for v in
      ["postgres-data", "prometheus-data", "alertmanager-data", "grafana-data"]))
regen = TMP / "regen"
run(sys.executable, str(D / "make_dashboards.py"), str(regen), check=True)
for f in sorted((D / "grafana/dashboards").glob("*.json")):
    check(f"{f.name} is what make_dashboards.py writes", (regen / f.name).read_text(), f.read_text())
dashboards = {f.stem: json.loads(f.read_text()) for f in sorted((D / "grafana/dashboards").glob("*.json"))}
check("three dashboards", ["domain", "ingestion", "overview"], sorted(dashboards))

# --- The database: the corpus through the CLI, the read-only role for Grafana --------------
# Report emails go to the running server over SMTP (below), so that they reach the metrics; the
# bare reports go through the CLI, so that the SQL panels have the whole corpus.
corpus = [Path("tests/fixtures")] + ([Path("../shared/corpus")] if Path("../shared/corpus").is_dir() else [])
files = sorted(f for c in corpus for f in c.rglob("*") if f.is_file())
emails = [f for f in files if f.suffix == ".eml"]

# As shipped, after the migrations: here the tables belong to the test cluster's superuser, not
# to tlsrpt as in compose (where the default privileges cover tables made later), and the test
# cluster has no role tlsrpt, so make one.
run(TLSRPT, "migrate", "--database-url", PG_URL, check=True)
sql("DO $$ BEGIN CREATE ROLE tlsrpt NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
role = run("psql", "-q", "-v", "ON_ERROR_STOP=1", "-v", "grafana_password=grafana-test", PG_URL,
           "-f", str(D / "postgres/grafana-role.sql"))
check("grafana-role.sql creates the read-only role", (0, ""), (role.returncode, role.stderr.strip()))
grafana_url = PG_URL.replace("user=" + PG_URL.split("user=")[1].split()[0], "user=grafana") + " password=grafana-test"

# --- tlsrpt, Prometheus and Alertmanager on loopback ---------------------------------------
http_port, smtp_port, prom_port, am_port = free_port(), free_port(), free_port(), free_port()
# company-y.example is monitored, against a DNS server that never answers: its posture checks
# run, end incomplete (a finding) and reach the database and the metrics like any other. DKIM
# verifies the corpus mails against the same server (temperror or none: their keys cannot be
# fetched here), for the DKIM panels; dkim.alert_on = all lets those reports feed the alerts.
silent_dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
silent_dns.bind(("127.0.0.1", 0))
tlsrpt = subprocess.Popen([TLSRPT, "serve", "--database-url", PG_URL, "--http-listen", f"127.0.0.1:{http_port}",
                           "--smtp-listen", f"127.0.0.1:{smtp_port}", "--smtp-recipients", "tls@localhost",
                           "--data-dir", str(TMP)], stdout=open(TMP / "tlsrpt.log", "w"), stderr=subprocess.STDOUT,
                          env=dict(os.environ, TLSRPT_SMTP_MESSAGE_BURST="100000",  # the corpus comes from one address
                                   TLSRPT_CHECKS_DOMAINS="company-y.example", TLSRPT_CHECKS_INTERVAL="20",
                                   TLSRPT_HTTP_EXTERNAL_URL="https://tlsrpt.example.net/",
                                   TLSRPT_DNS_SERVER=f"127.0.0.1:{silent_dns.getsockname()[1]}", TLSRPT_DNS_TIMEOUT="1",
                                   TLSRPT_DKIM_MODE="record", TLSRPT_DKIM_ALERT_ON="all", TLSRPT_DKIM_TIMEOUT="1"))
wait_port(http_port, "tlsrpt", TMP / "tlsrpt.log")
alertmanager = subprocess.Popen(["prometheus-alertmanager", f"--config.file={D / 'alertmanager/alertmanager.yml'}",
                                 f"--storage.path={TMP / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
                                 "--cluster.listen-address="], stdout=open(TMP / "am.log", "w"),
                                stderr=subprocess.STDOUT)
# The shipped Prometheus config with the compose host names pointed at loopback, the rules
# from the repository, and a 1 s scrape and evaluation interval (instead of 30 s).
prom_yml = (D / "prometheus/prometheus.yml").read_text()
prom_yml = (prom_yml.replace("tlsrpt:8080", f"127.0.0.1:{http_port}").replace("alertmanager:9093", f"127.0.0.1:{am_port}")
            .replace("localhost:9090", f"127.0.0.1:{prom_port}").replace("/etc/prometheus/rules/", str(D.resolve() / "prometheus/rules") + "/")
            .replace("scrape_interval: 30s", "scrape_interval: 1s").replace("evaluation_interval: 30s", "evaluation_interval: 1s"))
(TMP / "prometheus.yml").write_text(prom_yml)
r = run("promtool", "check", "config", str(TMP / "prometheus.yml"))
check("promtool check config (the shipped config on loopback)", 0, r.returncode)
prometheus = subprocess.Popen(["prometheus", f"--config.file={TMP / 'prometheus.yml'}", f"--storage.tsdb.path={TMP / 'prom'}",
                               f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=open(TMP / "prom.log", "w"),
                              stderr=subprocess.STDOUT)
wait_port(am_port, "alertmanager", TMP / "am.log")
wait_port(prom_port, "prometheus", TMP / "prom.log")


def post(body, media="application/tlsrpt+json"):
    req = urllib.request.Request(f"http://127.0.0.1:{http_port}/tlsrpt", data=body, method="POST",
                                 headers={"Content-Type": media})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def report(report_id, domain, failures, zone="Z"):
    return json.dumps({"organization-name": "Observability Test", "date-range": {
        "start-datetime": "2026-11-20T00:00:00" + zone, "end-datetime": "2026-11-20T23:59:59" + zone},
        "contact-info": "tlsrpt@test.example", "report-id": report_id, "policies": [{"policy": {
            "policy-type": "sts", "policy-string": ["version: STSv1", "mode: enforce", f"mx: mx.{domain}", "max_age: 86400"],
            "policy-domain": domain, "mx-host": [f"mx.{domain}"]}, "summary": {
            "total-successful-session-count": 40, "total-failure-session-count": sum(n for _, n in failures)},
            "failure-details": [{"result-type": t, "receiving-mx-hostname": f"mx.{domain}", "failed-session-count": n}
                                for t, n in failures]}]}).encode()


# Let Prometheus see the counters at zero first, then reports arrive: the corpus emails by SMTP
# (among them the RFC 8460 example: 100 certificate-expired sessions for company-y.example).
time.sleep(3)
with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
    refused = 0
    for f in emails:
        try:
            smtp.sendmail("reports@sender.example", ["tls@localhost"], f.read_bytes())
        except smtplib.SMTPException:
            refused += 1
check(f"SMTP: all {len(emails)} corpus emails accepted", 0, refused)
run(TLSRPT, "ingest", "--database-url", PG_URL, "--no-progress", *[str(f) for f in files if f.suffix != ".eml"])
check("intake: an MTA-STS fetch error report", 201, post(report("obs-2", "sts.example", [("sts-policy-fetch-error", 2)], zone="")))  # a quirk: no time zone
check("intake: a bad report is rejected", 400, post(b'{"organization-name": 1}'))
# A report of the monitored domain from yesterday: its drift (last 7 days) is computed at each
# posture check (every 20 s here), for the drift panels.
yesterday = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)).strftime("%Y-%m-%d")
check("intake: yesterday's report of the monitored domain", 201, post(
    report("obs-drift", "company-y.example", [("certificate-expired", 1)]).replace(b"2026-11-20", yesterday.encode())))

PROM = f"http://127.0.0.1:{prom_port}"


def promql(expr):
    return get_json(f"{PROM}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))


up = None
for _ in range(60):
    res = promql('up{job="tlsrpt"}')["data"]["result"]
    if res and res[0]["value"][1] == "1":
        up = 1
        break
    time.sleep(0.5)
check("Prometheus scrapes tlsrpt (up == 1)", 1, up)

# The certificate-expired alert fires and reaches Alertmanager.
seen, firing = None, None
for _ in range(90):
    alerts = get_json(f"http://127.0.0.1:{am_port}/api/v2/alerts")
    seen = [a for a in alerts if a["labels"].get("alertname") == "TlsrptCertificateExpiredSpike"]
    if seen:
        break
    time.sleep(1)
expired = sorted(r[0] for r in sql(
    "SELECT p.policy_domain FROM failure_details d JOIN policies p ON p.id = d.policy_id JOIN reports r ON "
    "r.id = p.report_id JOIN raw_messages m ON m.id = r.raw_message_id WHERE m.transport = 'smtp' AND "
    "d.result_type = 'certificate-expired' GROUP BY 1 HAVING sum(d.failed_session_count) >= 5"))
check("corpus: company-y.example has certificate-expired failures (RFC 8460 example)", True, "company-y.example" in expired)
for _ in range(30):  # every domain's alert, once each has been evaluated
    alerts = get_json(f"http://127.0.0.1:{am_port}/api/v2/alerts")
    seen = [a for a in alerts if a["labels"].get("alertname") == "TlsrptCertificateExpiredSpike"]
    if len(seen) >= len(expired):
        break
    time.sleep(1)
check("the alert links to the domain's page (http.external_url through tlsrpt_build_info)",
      "https://tlsrpt.example.net/domains/company-y.example",
      next((a["annotations"].get("link") for a in (seen or []) if a["labels"].get("policy_domain") == "company-y.example"),
           None))
check("the certificate-expired alert reaches Alertmanager, for each such domain", [(d, "critical") for d in expired],
      sorted((a["labels"].get("policy_domain"), a["labels"].get("severity")) for a in (seen or [])))
rules = get_json(f"{PROM}/api/v1/rules")["data"]["groups"]
state = {r["name"]: r.get("state") for g in rules for r in g["rules"] if r["type"] == "alerting"}
check("Prometheus loaded every shipped alert", 20, len(state))
check("MTA-STS problem alert firing too", "firing", state.get("TlsrptMtaStsPolicyProblem"))
check("no false alarm: tlsrpt and its database are up", ("inactive", "inactive"),
      (state.get("TlsrptDown"), state.get("TlsrptDatabaseDown")))

# The monitored domain's first posture check (it starts within 10 s, then waits for its DNS
# deadlines): in the database and scraped.
for _ in range(120):
    if promql('tlsrpt_posture_findings{domain="company-y.example"}')["data"]["result"]:
        break
    time.sleep(0.5)
seen = sorted({(r["metric"]["finding"], r["metric"]["severity"])
               for r in promql('tlsrpt_posture_findings{domain="company-y.example"}')["data"]["result"]})
check("posture: the monitored domain's check is scraped (incomplete: its DNS never answers)",
      [("check-incomplete", "error")], seen)

# The drift of the monitored domain's report from yesterday, computed at its next posture check.
for _ in range(60):
    if promql('tlsrpt_policy_drift_sessions{domain="company-y.example"}')["data"]["result"]:
        break
    time.sleep(1)

# Every PromQL query of the dashboards runs and returns data.
post(b"not json at all")  # a fresh rejection for the per-interval rejection panel
time.sleep(3)


def panels(d):
    for p in d["panels"]:
        yield p
        yield from p.get("panels", [])


def substitute(text, domain):
    return text.replace("$__rate_interval", "1m").replace("$__range", "1h").replace("$domain", domain)


for name, d in dashboards.items():
    for p in panels(d):
        for t in p["targets"]:
            if t["datasource"]["type"] == "prometheus":
                res = promql(substitute(t["expr"], "company-y.example"))
                check(f"{name} / {p['title']} / PromQL {t['refId']} returns data", ("success", True),
                      (res["status"], len(res["data"]["result"]) > 0))

# Every SQL query of the dashboards runs against the real schema as the grafana role and returns
# rows. Grafana's $__timeFilter(column) becomes a wide range.
domain = sql("SELECT policy_domain FROM policies GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0][0]
queries = [(name, p["title"], t["refId"], t["rawSql"]) for name, d in dashboards.items() for p in panels(d)
           for t in p["targets"] if t["datasource"]["type"] == "grafana-postgresql-datasource"]
queries += [(name, "variable " + v["name"], "-", v["query"]) for name, d in dashboards.items()
            for v in d["templating"]["list"] if v.get("datasource", {}).get("type") == "grafana-postgresql-datasource"]
check("dashboards have SQL panels", True, len(queries) >= 10)
for name, title, ref, text in queries:
    text = re.sub(r"\$__timeFilter\(([^)]+)\)", r"\1 BETWEEN '2000-01-01' AND now() + interval '1 year'", text)
    text = substitute(text, "company-y.example" if "posture_" in text else domain)  # posture: the monitored domain
    r = run("psql", "-qAt", "-v", "ON_ERROR_STOP=1", grafana_url, "-c", text)
    check(f"{name} / {title} / SQL {ref} runs and returns rows", (0, "", True),
          (r.returncode, r.stderr.strip()[:300], len(r.stdout.strip()) > 0))
r = run("psql", "-qAt", grafana_url, "-c", "DELETE FROM reports")
check("the grafana role cannot write", True, r.returncode != 0 and "permission denied" in r.stderr)

for p in (prometheus, alertmanager, tlsrpt):
    p.terminate()
    p.wait(timeout=30)
finish("e2e.observability")
