"""Writes sample TLS-RPT reports (RFC 8460 JSON, one file each) dated relative to today, so that
the quick start (scripts/run.sh) shows a living first page: three domains under the reserved
.example name, reported by two sample reporters over the last 30 days.

- ready.sample.example: clean; the readiness verdict can be read as it would be after weeks;
- certfail.sample.example: an expired certificate on one MX (blocking) and policy fetch errors;
- new.sample.example: reports for the last 5 days only (too few for a verdict).

They are marked as samples: organisations "Sample Reporter A/B", report-ids "sample-...", and
the contact address sample@tlsrpt.example. Ingesting them twice on the same day adds nothing
(the reports deduplicate); on a later day the newest days are added.
Usage: samples.py DIR"""
import datetime
import json
import random
import sys
from pathlib import Path

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
today = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def report(domain, org, days_ago, ok, failures=()):
    start = today - datetime.timedelta(days=days_ago)
    day = start.strftime("%Y-%m-%d")
    rep = {
        "organization-name": org,
        "date-range": {"start-datetime": f"{day}T00:00:00Z", "end-datetime": f"{day}T23:59:59Z"},
        "contact-info": "sample@tlsrpt.example",
        "report-id": f"sample-{org.split()[-1].lower()}-{domain}-{day}",
        "policies": [{
            "policy": {"policy-type": "sts", "policy-domain": domain, "mx-host": [f"mx1.{domain}", f"mx2.{domain}"],
                       "policy-string": ["version: STSv1", "mode: testing", f"mx: mx1.{domain}", f"mx: mx2.{domain}",
                                         "max_age: 604800"]},
            "summary": {"total-successful-session-count": ok,
                        "total-failure-session-count": sum(n for _, _, n in failures)},
            "failure-details": [{"result-type": t, "sending-mta-ip": "192.0.2.25", "receiving-mx-hostname": mx,
                                 "failed-session-count": n} for t, mx, n in failures]}]}
    (out / f"{rep['report-id']}.json").write_text(json.dumps(rep))


rng = random.Random(8460)  # the same figures on every run
for days_ago in range(1, 31):
    for org in ("Sample Reporter A", "Sample Reporter B"):
        report("ready.sample.example", org, days_ago, 400 + rng.randrange(200))
        failures = [("sts-policy-fetch-error", "mx1.certfail.sample.example", rng.randrange(3))]
        if days_ago <= 12:  # the certificate of mx2 expired 12 days ago
            failures.append(("certificate-expired", "mx2.certfail.sample.example", 20 + rng.randrange(30)))
        report("certfail.sample.example", org, days_ago, 300 + rng.randrange(100), failures)
        if days_ago <= 5:
            report("new.sample.example", org, days_ago, 50 + rng.randrange(20))
print(f"{len(list(out.glob('sample-*.json')))} sample reports in {out}")
