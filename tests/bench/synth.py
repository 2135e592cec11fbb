"""Synthetic TLS reports and report emails for the benchmarks (shared by bench_*.sh)."""
import base64
import gzip
import json
import time

TYPES = ["certificate-expired", "certificate-host-mismatch", "starttls-not-supported", "validation-failure",
         "sts-policy-fetch-error", "dane-required"]


def report(report_id, domain, details, org="Bench Reporter", day="2026-03-01", ok=100, mx_count=5):
    """An RFC 8460 report for one STS policy with `details` failure-details."""
    fd = [{"result-type": TYPES[k % len(TYPES)], "sending-mta-ip": f"192.0.{k % 250}.{(k * 7) % 250}",
           "receiving-mx-hostname": f"mx{k % mx_count}.{domain}", "receiving-ip": f"198.51.100.{k % 250}",
           "failed-session-count": 1 + k % 9, "failure-reason-code": f"X509_ERR_{k % 30}"} for k in range(details)]
    return {"organization-name": org, "date-range": {"start-datetime": f"{day}T00:00:00Z",
            "end-datetime": f"{day}T23:59:59Z"}, "contact-info": "tlsrpt@bench.example",
            "report-id": report_id, "policies": [{"policy": {"policy-type": "sts",
            "policy-string": ["version: STSv1", "mode: enforce", f"mx: mx.{domain}", "max_age: 86400"],
            "policy-domain": domain, "mx-host": [f"mx.{domain}"]},
            "summary": {"total-successful-session-count": ok,
                        "total-failure-session-count": sum(d["failed-session-count"] for d in fd)},
            "failure-details": fd}]}


def email(i, rep):
    """An mbox entry: the report as a gzip attachment of a multipart/report message."""
    gz = base64.encodebytes(gzip.compress(json.dumps(rep).encode(), mtime=0)).decode().replace("\n", "\r\n")
    dom = rep["policies"][0]["policy"]["policy-domain"]
    return (f"From bench@example Sun Mar  2 00:00:00 2026\r\nFrom: noreply@bench.example\r\nTo: tls@{dom}\r\n"
            f"Subject: Report Domain: {dom} Submitter: bench.example Report-ID: <{rep['report-id']}>\r\n"
            f"Message-ID: <{rep['report-id']}@bench.example>\r\nTLS-Report-Domain: {dom}\r\nTLS-Report-Submitter: bench.example\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b{i}\"\r\n\r\n"
            f"--b{i}\r\nContent-Type: text/plain\r\n\r\nThis is an aggregate TLS report from bench.example\r\n"
            f"--b{i}\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Disposition: attachment; "
            f"filename=\"bench.example!{dom}!1772323200!1772409599!{i}.json.gz\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            f"{gz}--b{i}--\r\n")


def day(base, n):
    """The date n days after the date `base` (YYYY-MM-DD)."""
    t = time.mktime(time.strptime(base, "%Y-%m-%d")) + n * 86400 + 7200
    return time.strftime("%Y-%m-%d", time.localtime(t))


def api_mbox(path, domains, days, details, first="2026-01-01", prefix="api", domain_offset=0, organizations=4):
    """The API benchmarks' data: `domains` x `days` x `organizations` (at most 4) reports of about
    `details` failure-details each (customer<d>.example from d = domain_offset, days from
    `first`), as one mbox at `path`."""
    orgs = ["Google LLC", "Microsoft Corporation", "Mail.Ru", "Bench Reporter"][:organizations]
    i = 0
    with open(path, "w") as f:
        for d in range(domain_offset, domain_offset + domains):
            for n in range(days):
                for o, org in enumerate(orgs):
                    f.write(email(i, report(f"{prefix}-{d}-{n}-{o}", f"customer{d}.example", details + (i % 5) - 2, org=org,
                                            day=day(first, n), ok=1000 + (i * 37) % 500, mx_count=3)))
                    i += 1


def recent_mbox(path, domains, days, details, prefix, organizations=4):
    """api_mbox over the `days` days up to yesterday (UTC), so that ranges ending today hold them."""
    api_mbox(path, domains, days, details, first=time.strftime("%Y-%m-%d", time.gmtime(time.time() - days * 86400)),
             prefix=prefix, organizations=organizations)


if __name__ == "__main__":
    # synth.py recent-mbox PATH DOMAINS DAYS DETAILS PREFIX [ORGANIZATIONS]
    import sys
    if len(sys.argv) not in (7, 8) or sys.argv[1] != "recent-mbox":
        sys.exit("usage: synth.py recent-mbox PATH DOMAINS DAYS DETAILS PREFIX [ORGANIZATIONS]")
    recent_mbox(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6],
                int(sys.argv[7]) if len(sys.argv) == 8 else 4)
