"""Writes synthetic TLS-RPT reports (RFC 8460 JSON, one file each) for the readiness test, dated
relative to now: DIR gets one file per (domain, reporter, day). Each domain is a situation the
readiness verdict must tell apart (see tests/e2e/readiness_test.sh)."""
import datetime
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
today = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def policy(domain, mode, mx):
    return ["version: STSv1", f"mode: {mode}"] + [f"mx: {m}" for m in mx] + ["max_age: 86400"]


def report(domain, org, day, ok, failures=(), mode="testing", mx=None, tlsa=None):
    """One daily report of `org` about `domain`, `day` days ago: `ok` successful sessions and
    failures as (result-type, receiving MX, sessions); a tlsa policy with the policy-string `tlsa`
    when given."""
    mx = mx or [f"mx.{domain}"]
    start = today - datetime.timedelta(days=day)
    r = {
        "organization-name": org,
        "date-range": {"start-datetime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "end-datetime": (start + datetime.timedelta(seconds=86399)).strftime("%Y-%m-%dT%H:%M:%SZ")},
        "contact-info": f"tls@{org.lower().replace(' ', '')}.example",
        "report-id": f"{org}-{domain}-{day}",
        "policies": [{
            "policy": {"policy-type": "tlsa" if tlsa else "sts", "policy-string": tlsa or policy(domain, mode, mx),
                       "policy-domain": domain, "mx-host": mx},
            "summary": {"total-successful-session-count": ok,
                        "total-failure-session-count": sum(f[2] for f in failures)},
            "failure-details": [{"result-type": t, "sending-mta-ip": "192.0.2.1", "receiving-mx-hostname": m,
                                 "failed-session-count": n} for t, m, n in failures]}]}
    (out / f"{org}-{domain}-{day}.json").write_text(json.dumps(r))


orgs = ["Google Inc.", "Microsoft Corporation"]
for day in range(1, 17):
    for org in orgs:
        report("ready.example", org, day, 100)
        report("certfail.example", org, day, 100,
               [("certificate-expired", "mx2.certfail.example", 3), ("sts-policy-fetch-error", "mx.certfail.example", 5)])
        report("postureerr.example", org, day, 100)
        report("notmonitored.example", org, day, 100)
        report("enforcedbroken.example", org, day, 100, mode="enforce")
        report("forged.example", org, day, 100)
        report("enforcing.example", org, day, 100, [("certificate-not-trusted", "mx.enforcing.example", 2)], mode="enforce")
    # An MX move 10 days ago: Google applies the new policy since, Microsoft still the old one.
    report("drift.example", "Google Inc.", day, 100, mx=["mx.drift.example" if day <= 10 else "mx.old.drift.example"])
    report("drift.example", "Microsoft Corporation", day, 100, mx=["mx.old.drift.example"])
    report("onereporter.example", "Google Inc.", day, 100)
    report("quiet.example", "Google Inc.", day, 100)
    report("quiet.example", "Microsoft Corporation", day, 100)
    if day > 8:  # Mail.ru reported on days 9 to 16 ago, then stopped
        report("quiet.example", "Mail.Ru", day, 100)
for day in range(1, 6):
    for org in orgs:
        report("young.example", org, day, 100)
# DANE: a key rollover on mx.dane.example 5 days ago (the old record until then, the new one
# since). Google sees the new record; Microsoft (as it writes them: one string holding a JSON
# array, data in upper case) still the old one; a third reporter a record never published.
for day in range(1, 4):
    report("dane.example", "Google Inc.", day, 100, tlsa=["3 1 1 aabbccdd"])
    report("dane.example", "Microsoft Corporation", day, 50, tlsa=['["3 1 1 1122AABB"]'])
    report("dane.example", "Mail.Ru", day, 10, tlsa=["3 1 1 deadbeef"])
