"""Partitions and retention. Environment: TLSRPT, PG_URL (an empty database), TMP."""
import datetime
import hashlib
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

TLSRPT, PG_URL, TMP = os.environ["TLSRPT"], os.environ["PG_URL"], Path(os.environ["TMP"])
ENV = dict(os.environ, TLSRPT_DATABASE_URL=PG_URL, TLSRPT_DKIM_MODE="off")
TODAY = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
# Dates are placed relative to the cutoff of retention.failure_details (400 days by default), not
# to the calendar: the months kept are those from the cutoff's month on, whatever today is.
RETENTION = datetime.timedelta(days=400)


def run(*args):
    return subprocess.run([TLSRPT, *args], capture_output=True, text=True, env=ENV)


def month_name(day):
    return "failure_details_" + day.strftime("%Y_%m")


def month_index(day):
    return day.year * 12 + day.month - 1


def cutoff_month():
    """The month holding the database's now - retention: the first one prune keeps."""
    now = datetime.datetime.fromtimestamp(float(sql("SELECT extract(epoch FROM now())")[0][0]), datetime.timezone.utc)
    return month_index(now - RETENTION)


def month_partitions():
    """The month partitions there are, as month indexes."""
    return sorted(int(n[16:20]) * 12 + int(n[21:23]) - 1 for n in partitions() if n != "failure_details_default")


def partitions():
    return sorted(r[0] for r in sql("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                    "WHERE i.inhparent = 'failure_details'::regclass"))


# 1. Migration 0010 carries existing failure-details over: the database at 0009, rows written
# as the older schema held them, then `tlsrpt migrate`.
migrations = sorted(Path("migrations").glob("*.sql"))
for m in migrations[:9]:
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-1", PG_URL, "-f", str(m)], check=True, capture_output=True)
    sql("CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, checksum text NOT NULL, "
        "applied_at timestamptz NOT NULL DEFAULT now())")
    sql("INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", m.name, hashlib.sha256(m.read_bytes()).hexdigest())
check("the database is at 0009", [["9"]], sql("SELECT count(*) FROM schema_migrations"))
old_days = {"recent": TODAY - datetime.timedelta(days=40), "old": TODAY - datetime.timedelta(days=700),
            "future": datetime.datetime(2099, 6, 1, tzinfo=datetime.timezone.utc)}
sql("INSERT INTO raw_messages (id, transport, sha256, size, body, outcome, reports) "
    "VALUES (1, 'cli', decode(repeat('ab', 32), 'hex'), 3, 'abc', 'stored', 3)")
for i, (label, day) in enumerate(old_days.items(), 1):
    sql("INSERT INTO reports (id, raw_message_id, dedup_key, organization_name, report_id, start_datetime, end_datetime, "
        "successful_sessions, failed_sessions) VALUES ($1, 1, decode($2, 'hex'), 'Old Org', $3, $4, $4, 1, 5)",
        i, "%064x" % i, "old-" + label, day.isoformat())
    sql("INSERT INTO policies (id, report_id, position, policy_type, policy_string, policy_domain, mx_host, "
        "total_successful_session_count, total_failure_session_count, start_datetime, organization_name) "
        "VALUES ($1, $1, 0, 'sts', '{}', 'carried.example', '{}', 1, 5, $2, 'Old Org')", i, day.isoformat())
    for n in range(5):
        sql("INSERT INTO failure_details (policy_id, result_type, failed_session_count, policy_domain, start_datetime) "
            "VALUES ($1, 'certificate-expired', 1, 'carried.example', $2)", i, day.isoformat())
r = run("migrate")
check("migrate applies 0010", (0, True), (r.returncode, "applied 0010_partitions.sql" in r.stdout))
check("every failure-detail carried over", [["15"]], sql("SELECT count(*) FROM failure_details"))
check("the recent month's rows in its partition", [["5"]],
      sql(f"SELECT count(*) FROM {month_name(old_days['recent'])}"))
check("a date 700 days old and one in 2099 in the default partition", [["10"]],
      sql("SELECT count(*) FROM failure_details_default"))
check("failure_details is partitioned by range of start_datetime", [["p"]],
      sql("SELECT relkind FROM pg_class WHERE relname = 'failure_details'"))
months = partitions()
ahead = [month_name((TODAY.replace(day=1) + datetime.timedelta(days=32 * k)).replace(day=1)) for k in range(0, 4)]
check("this month and the next three exist", True, all(m in months for m in ahead))
check("every month retention keeps exists, from the cutoff's month on", True,
      set(range(cutoff_month(), month_index(TODAY) + 4)) <= set(month_partitions()))
# Migration 0011: deleting policies (here through a report) deletes their failure-details, in
# one statement-level trigger; the other policies' rows stay.
check("migrate applied 0011", [["1"]], sql("SELECT count(*) FROM schema_migrations WHERE name = '0011_details_cascade.sql'"))
check("failure_details has no row-level foreign key left", [["0"]],
      sql("SELECT count(*) FROM pg_constraint WHERE conrelid = 'failure_details'::regclass AND contype = 'f'"))
check("deleting a report deletes its policy's failure-details, and only those", ([["0"]], [["10"]]),
      (sql("DELETE FROM reports WHERE id = 1"), sql("SELECT count(*) FROM failure_details WHERE policy_id = 1"),
       sql("SELECT count(*) FROM failure_details WHERE policy_id IN (2, 3)"))[1:])

# A month made later takes its rows out of the default partition.
old_month = old_days["old"]
check("tlsrpt_partition_month makes a month", [["t"]], sql("SELECT tlsrpt_partition_month($1)", old_month.date().isoformat()))
check("... moving its rows out of the default partition", ([["5"]], [["5"]]),
      (sql(f"SELECT count(*) FROM {month_name(old_month)}"), sql("SELECT count(*) FROM failure_details_default")))
check("... once", [["f"]], sql("SELECT tlsrpt_partition_month($1)", old_month.date().isoformat()))
check("deleting policies of two partitions (a month and the default) at once deletes the failure-details of both", [["0"]],
      (sql("DELETE FROM policies WHERE id IN (2, 3)"), sql("SELECT count(*) FROM failure_details"))[1])
sql("DELETE FROM reports")
sql("DELETE FROM raw_messages")
for seq in ("raw_messages_id_seq", "reports_id_seq", "policies_id_seq"):
    sql(f"SELECT setval('{seq}', 1000)")  # past the ids written by hand above

# 2. Reports through the binary: dated 600 and 480 days ago (before the cutoff's month, which
# starts at most 431 days back, and before any month migration 0010 made, at most 459 days back),
# the day after the cutoff (kept, whatever month that is), 30 and 2 days ago, and far ahead.
def report(n, day, failures):
    details = [{"result-type": "certificate-expired", "sending-mta-ip": "192.0.2.%d" % (k % 250),
                "receiving-mx-hostname": "mx%d.retention.example" % (k % 3), "failed-session-count": 2}
               for k in range(failures)]
    return {"organization-name": "Retention Org", "date-range": {
        "start-datetime": day.strftime("%Y-%m-%dT00:00:00Z"), "end-datetime": day.strftime("%Y-%m-%dT23:59:59Z")},
        "contact-info": "tls@retention.example", "report-id": "retention-%d" % n,
        "policies": [{"policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: testing"],
                                 "policy-domain": "retention.example", "mx-host": ["mx0.retention.example"]},
                      "summary": {"total-successful-session-count": 100, "total-failure-session-count": 2 * failures},
                      "failure-details": details}]}


ages = {600: 400, 480: 300, 30: 200, 2: 100, 399: 50}
inputs = TMP / "reports"
inputs.mkdir()
for n, (age, failures) in enumerate(ages.items()):
    (inputs / f"r{n}.json").write_text(json.dumps(report(n, TODAY - datetime.timedelta(days=age), failures)))
(inputs / "future.json").write_text(json.dumps(report(9, datetime.datetime(2031, 3, 3), 7)))
(inputs / "not-a-report.json").write_text('{"this": "is not a report"}')
sql("SELECT tlsrpt_partition_month($1)", (TODAY - datetime.timedelta(days=600)).date().isoformat())
r = run("ingest", "--no-progress", str(inputs))
check("ingest: stored, one rejected", (1, ""), (r.returncode, r.stderr if r.returncode > 1 else ""))
check("the 600-day-old month has its rows", [[str(2 * 0 + 400)]],
      sql(f"SELECT count(*) FROM {month_name(TODAY - datetime.timedelta(days=600))}"))
check("the 480-day-old rows (before the months kept) and those dated 2031 land in the default partition", [["307"]],
      sql("SELECT count(*) FROM failure_details_default"))
status = run("migrate", "--status").stdout
check("migrate --status: the default partition and its rows", True,
      any(l.split()[:2] == ["failure_details_default", "307"] for l in status.splitlines()))
check("migrate --status: a month partition listed", True, f"  {month_name(TODAY)} " in status)
# Ages for the bodies and rejected messages: a stored message 100 days old, a rejected one 500.
sql("UPDATE raw_messages SET received_at = now() - interval '100 days' "
    "WHERE id = (SELECT raw_message_id FROM reports WHERE report_id = 'retention-2')")
sql("UPDATE raw_messages SET received_at = now() - interval '500 days' WHERE outcome = 'rejected'")


# The API before and after: summaries of the whole span come from the rollups.
port = random.randrange(20000, 32000)
def serve():
    log = open(TMP / "serve.log", "a")
    p = subprocess.Popen([TLSRPT, "serve", "--smtp-listen", "", "--http-listen", f"127.0.0.1:{port}"],
                         stdout=log, stderr=subprocess.STDOUT, env=dict(ENV, TLSRPT_HTTP_CACHE_SECONDS="0",
                                                                        TLSRPT_SERVER_ALLOW_ROOT="true"))
    wait_port(port, "serve", TMP / "serve.log")
    return p


def api(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:
        return json.loads(resp.read())


span = (f"from={(TODAY - datetime.timedelta(days=700)).strftime('%Y-%m-%dT%H:%M:%SZ')}"
        f"&to={(TODAY + datetime.timedelta(days=1)).strftime('%Y-%m-%dT%H:%M:%SZ')}&domain=retention.example")
server = serve()
before = (api("/api/v1/summary?" + span), api("/api/v1/timeseries?bucket=day&" + span))
server.terminate()
server.wait(timeout=30)
rollups_before = sql("SELECT count(*), sum(successful), sum(failed) FROM daily_sessions")
details_before = sql("SELECT count(*) FROM failure_details")

# 3. prune --dry-run changes nothing and says what would go.
old = month_name(TODAY - datetime.timedelta(days=600))
r = run("prune", "--dry-run")
check("prune --dry-run succeeds", 0, r.returncode)
check("prune --dry-run names the old month and its rows", True, f"would drop {old} (400 rows)" in r.stdout)
check("prune --dry-run counts the reports", True, "reports (with their policies): would delete 2" in r.stdout)
check("prune --dry-run counts the bodies and rejected messages", (True, True),
      ("bodies of stored messages: would drop 1" in r.stdout, "rejected messages: would delete 1" in r.stdout))
check("prune --dry-run: nothing changed", (details_before, True), (sql("SELECT count(*) FROM failure_details"), old in partitions()))

# 4. prune: the old month dropped whole, the 450-day-old rows (default partition) deleted, the
# rest kept; rollups and the API's answers unchanged.
r = run("prune")
check("prune succeeds", 0, r.returncode)
print(r.stdout.strip())
check("the old month's partition is gone", False, old in partitions())
check("prune says so", True, f"dropped {old} (400 rows)" in r.stdout)
check("failure-details left: 399, 30 and 2 days old and 2031", [["357"]], sql("SELECT count(*) FROM failure_details"))
check("reports left: 399, 30 and 2 days old and 2031", [["retention-2"], ["retention-3"], ["retention-4"], ["retention-9"]],
      sql("SELECT report_id FROM reports ORDER BY report_id"))
check("no orphan policy", [["0"]], sql("SELECT count(*) FROM policies p WHERE NOT EXISTS (SELECT 1 FROM reports r WHERE r.id = p.report_id)"))
check("the 100-day-old body dropped, its hash and outcome kept", [["", "retention", "stored", "t"]],
      sql("SELECT body, body_dropped, outcome, octet_length(sha256) = 32 FROM raw_messages "
          "WHERE id = (SELECT raw_message_id FROM reports WHERE report_id = 'retention-2')"))
check("newer bodies kept", [["0"]], sql("SELECT count(*) FROM raw_messages WHERE body IS NULL AND outcome = 'stored' "
                                        "AND received_at > now() - interval '1 day'"))
check("the 500-day-old rejected message deleted", [["0"]], sql("SELECT count(*) FROM raw_messages WHERE outcome = 'rejected'"))
check("no month before the cutoff's month is left", [], [m for m in month_partitions() if m < cutoff_month()])
check("the cutoff's month and those after it are kept", True,
      set(range(cutoff_month(), month_index(TODAY) + 4)) <= set(month_partitions()))
check("the day after the cutoff keeps its rows in a month partition", [["50"]],
      sql("SELECT count(*) FROM failure_details f JOIN policies p ON p.id = f.policy_id JOIN reports r ON r.id = p.report_id "
          "WHERE r.report_id = 'retention-4' AND f.tableoid <> 'failure_details_default'::regclass"))
check("the daily rollups are kept", rollups_before, sql("SELECT count(*), sum(successful), sum(failed) FROM daily_sessions"))
server = serve()
after = (api("/api/v1/summary?" + span), api("/api/v1/timeseries?bucket=day&" + span))
server.terminate()
server.wait(timeout=30)
# (by_drift_state counts the sessions of the stored policies: those of pruned reports are gone)
check("the summary of the whole span is the same after the prune",
      {k: v for k, v in before[0].items() if k != "by_drift_state"}, {k: v for k, v in after[0].items() if k != "by_drift_state"})
check("the daily series of the whole span is the same after the prune", before[1], after[1])
check("serve made no month that prune drops", [], [m for m in month_partitions() if m < cutoff_month()])
check("a second prune finds nothing", True, all(l.endswith(" 0") for l in run("prune").stdout.splitlines()[:-1]))

# 5. Dropping a month costs the same whatever it holds: 200,000 rows in a month.
big = TODAY - datetime.timedelta(days=520)
sql("SELECT tlsrpt_partition_month($1)", big.date().isoformat())
sql("INSERT INTO raw_messages (id, transport, sha256, size, body, outcome, reports) "
    "VALUES (100, 'cli', decode(repeat('cd', 32), 'hex'), 3, 'abc', 'stored', 1)")
sql("INSERT INTO reports (id, raw_message_id, dedup_key, organization_name, report_id, start_datetime, end_datetime, "
    "successful_sessions, failed_sessions) VALUES (100, 100, decode(repeat('ef', 32), 'hex'), 'Big', 'big', $1, $1, 0, 200000)",
    big.isoformat())
sql("INSERT INTO policies (id, report_id, position, policy_type, policy_string, policy_domain, mx_host, "
    "total_successful_session_count, total_failure_session_count, start_datetime, organization_name) "
    "VALUES (100, 100, 0, 'sts', '{}', 'big.example', '{}', 0, 200000, $1, 'Big')", big.isoformat())
sql("INSERT INTO failure_details (policy_id, result_type, failed_session_count, policy_domain, start_datetime) "
    "SELECT 100, 'starttls-not-supported', 1, 'big.example', $1 FROM generate_series(1, 200000)", big.isoformat())
started = time.monotonic()
r = run("prune")
took = time.monotonic() - started
check("prune of a 200,000-row month", (0, True), (r.returncode, f"dropped {month_name(big)} (200000 rows)" in r.stdout))
print(f"prune of a month of 200,000 failure-details and its report: {took:.2f} s")
check("... in under 10 s", True, took < 10)
finish("integration.retention")
