#!/usr/bin/env python3
"""Writes the Grafana dashboards (grafana/dashboards/*.json) from the panel lists below.

The JSON files are what Grafana loads and what the tests check (every PromQL and SQL query runs
against real Prometheus and PostgreSQL; the shape is checked against @grafana/schema); edit this
file and run it, `tests/e2e/observability_test.sh` fails when the JSON is out of date."""
import json
import sys
from pathlib import Path

PROM = {"type": "prometheus", "uid": "tlsrpt-prometheus"}
PG = {"type": "grafana-postgresql-datasource", "uid": "tlsrpt-postgres"}


def prom(expr, legend=""):
    return {"datasource": PROM, "expr": expr, "legendFormat": legend, "range": True}


def sql(query, fmt="table"):
    return {"datasource": PG, "rawSql": " ".join(query.split()), "format": fmt, "rawQuery": True, "editorMode": "code"}


def panel(kind, title, targets, w=12, h=8, unit=None, description=""):
    p = {"type": kind, "title": title, "description": description, "gridPos": {"x": 0, "y": 0, "w": w, "h": h},
         "targets": [dict(t, refId=chr(ord("A") + i)) for i, t in enumerate(targets)],
         "datasource": targets[0]["datasource"], "fieldConfig": {"defaults": {}, "overrides": []}, "options": {}}
    if unit:
        p["fieldConfig"]["defaults"]["unit"] = unit
    return p


# http.external_url of the tlsrpt being scraped (the external_url label of tlsrpt_build_info): the
# dashboards' links to the web pages start with it. Hidden; empty when the setting is not set.
url_var = {"name": "tlsrpt_url", "label": "tlsrpt", "type": "query", "datasource": PROM, "hide": 2,
           "query": {"query": "label_values(tlsrpt_build_info, external_url)", "refId": "tlsrpt_url"},
           "refresh": 1, "includeAll": False,
           "multi": False}


def link(title, path):
    """A dashboard link to a page of tlsrpt's web interface (http.external_url + path)."""
    return {"title": title, "type": "link", "url": "${tlsrpt_url}" + path, "targetBlank": True, "icon": "external link",
            "tooltip": "tlsrpt's web page (set http.external_url)", "asDropdown": False, "includeVars": False,
            "keepTime": False, "tags": []}


def dashboard(uid, title, description, panels, variables=(), time_from="now-30d", links=()):
    x = y = row_h = 0
    for i, p in enumerate(panels, 1):  # lay panels out left to right, 24 columns wide
        p["id"] = i
        g = p["gridPos"]
        if x + g["w"] > 24:
            x, y, row_h = 0, y + row_h, 0
        g["x"], g["y"] = x, y
        x, row_h = x + g["w"], max(row_h, g["h"])
    return {"uid": uid, "title": title, "description": description, "tags": ["tlsrpt"], "editable": True,
            "schemaVersion": 39, "version": 1, "time": {"from": time_from, "to": "now"}, "timezone": "utc",
            "refresh": "5m", "graphTooltip": 1, "panels": panels, "templating": {"list": list(variables) + [url_var]},
            "annotations": {"list": []}, "links": list(links)}


DAILY_RESULTS = """SELECT day AS "time", r.key AS metric, sum(r.value::bigint) AS value
  FROM tlsrpt_daily, jsonb_each_text(by_result) AS r WHERE $__timeFilter(day) {and_domain}
  GROUP BY 1, 2 ORDER BY 1"""

overview = dashboard("tlsrpt-overview", "TLS reporting: overview",
                     "How TLS went for mail to your domains, from the reports in tlsrpt's database.", [
    panel("bargauge", "Success ratio per policy domain", [sql("""
        SELECT policy_domain AS domain, sum(successful)::float8 / nullif(sum(successful + failed), 0) AS "success ratio"
        FROM tlsrpt_daily WHERE $__timeFilter(day) GROUP BY 1 ORDER BY 2 ASC LIMIT 30""")], unit="percentunit",
          description="Successful / all reported sessions in the time range, worst first."),
    panel("timeseries", "Failed sessions by result type", [sql(DAILY_RESULTS.format(and_domain=""), "time_series")],
          description="Failure-details per day, all domains."),
    panel("table", "Top failing receiving MX hosts", [sql("""
        SELECT mx_host AS "receiving MX", sum(sessions) AS "failed sessions", string_agg(DISTINCT result, ', ') AS results
        FROM tlsrpt_sessions WHERE $__timeFilter(bucket) AND result NOT IN ('success', 'failure') AND mx_host <> ''
        GROUP BY 1 ORDER BY 2 DESC LIMIT 20""")]),
    panel("table", "Reporting organisations", [sql("""
        SELECT organization_name AS organisation, count(DISTINCT policy_domain) AS domains,
               sum(sessions) FILTER (WHERE result = 'success') AS successful,
               sum(sessions) FILTER (WHERE result = 'failure') AS failed
        FROM tlsrpt_sessions WHERE $__timeFilter(bucket) GROUP BY 1 ORDER BY 3 DESC NULLS LAST""")]),
    panel("table", "Last report per domain", [sql("""
        SELECT p.policy_domain AS domain, max(r.end_datetime) AS "newest report ends", max(r.stored_at) AS "stored at",
               count(DISTINCT r.organization_name) AS organisations
        FROM policies p JOIN reports r ON r.id = p.report_id GROUP BY 1 ORDER BY 2 ASC""")],
          description="Oldest first: a domain at the top may have stopped getting reports."),
    panel("timeseries", "Reported sessions by result (since tlsrpt started)", [
        prom('sum by (result) (increase(tlsrpt_report_sessions_total[$__rate_interval]))', "{{result}}")],
          description="From the exporter: sessions in reports as they arrive."),
    panel("stat", "Hours since the newest report", [
        prom('(time() - max by (policy_domain) (tlsrpt_last_report_end_timestamp_seconds)) / 3600', "{{policy_domain}}")],
          unit="h"),
    panel("bargauge", "Drift: sessions under a policy no longer published (last 7 days)", [
        prom('sum by (domain) (tlsrpt_policy_drift_sessions{state!="current"})', "{{domain}}")],
          description="Monitored domains whose senders applied a policy that was not the published one when their "
                      "report began (state previous, never-published or unknown), from the reports of the last 7 days."),
], time_from="now-90d", links=[link("tlsrpt: domains", "/")])

domain_var = {"name": "domain", "label": "Policy domain", "type": "query", "datasource": PG,
              "query": "SELECT DISTINCT policy_domain FROM tlsrpt_daily ORDER BY 1", "refresh": 1,
              "includeAll": False, "multi": False, "sort": 1}
domain = dashboard("tlsrpt-domain", "TLS reporting: one domain",
                   "One policy domain in depth; pick it at the top.", [
    panel("timeseries", "Sessions by result type", [
        sql("""SELECT day AS "time", successful AS success FROM tlsrpt_daily
               WHERE $__timeFilter(day) AND policy_domain = '$domain' ORDER BY 1""", "time_series"),
        sql(DAILY_RESULTS.format(and_domain="AND policy_domain = '$domain'"), "time_series")], w=24),
    panel("timeseries", "Failed sessions by reporting organisation", [sql("""
        SELECT date_bin('1 day', bucket, '2000-01-01Z') AS "time", organization_name AS metric, sum(sessions) AS value
        FROM tlsrpt_sessions WHERE $__timeFilter(bucket) AND policy_domain = '$domain' AND result = 'failure'
        GROUP BY 1, 2 ORDER BY 1""", "time_series")]),
    panel("table", "Failures by receiving MX host", [sql("""
        SELECT nullif(mx_host, '') AS "receiving MX", result, sum(sessions) AS sessions FROM tlsrpt_sessions
        WHERE $__timeFilter(bucket) AND policy_domain = '$domain' AND result NOT IN ('success', 'failure')
        GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 50""")]),
    panel("table", "Policy types seen", [sql("""
        SELECT policy_type AS "policy type", min(start_datetime) AS "first seen", max(start_datetime) AS "last seen",
               sum(total_successful_session_count) AS successful, sum(total_failure_session_count) AS failed
        FROM policies WHERE $__timeFilter(start_datetime) AND policy_domain = '$domain' GROUP BY 1 ORDER BY 1""")]),
    panel("table", "Recent reports", [sql("""
        SELECT r.id, r.organization_name AS organisation, r.report_id AS "report-id", r.start_datetime AS start,
               p.total_successful_session_count AS successful, p.total_failure_session_count AS failed
        FROM reports r JOIN policies p ON p.report_id = r.id
        WHERE $__timeFilter(r.start_datetime) AND p.policy_domain = '$domain' ORDER BY r.start_datetime DESC LIMIT 50""")]),
    panel("timeseries", "Reported sessions as they arrive (exporter)", [
        prom('sum by (result) (increase(tlsrpt_report_sessions_total{policy_domain="$domain"}[$__rate_interval]))',
             "{{result}}")], w=24),
    panel("table", "Posture: findings of the latest check", [sql("""
        SELECT f.severity, f.finding, f.subject, f.detail, c.checked_at AS "checked at"
        FROM posture_findings f JOIN posture_checks c ON c.id = f.check_id
        WHERE c.id = (SELECT id FROM posture_checks WHERE domain = '$domain' ORDER BY checked_at DESC, id DESC LIMIT 1)
        ORDER BY CASE f.severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, f.finding, f.subject""")], w=16,
          description="What the domain publishes (MTA-STS, TLS-RPT, MX certificates, DANE) as tlsrpt's latest posture "
                      "check saw it. Monitored domains only (checks.domains); GET /api/v1/domains/{domain}/posture has "
                      "the whole check."),
    panel("stat", "Posture: MTA-STS mode published", [prom('tlsrpt_posture_sts_mode{domain="$domain"} == 1', "{{mode}}")],
          w=8, h=4, description="The mode of the policy the domain publishes now (absent: none could be read)."),
    panel("timeseries", "Posture: findings by severity", [
        prom('sum by (severity) (tlsrpt_posture_findings{domain="$domain"})', "{{severity}}")], w=8, h=4,
          description="Findings of each posture check, by severity (errors page through the tlsrpt-posture alerts)."),
    panel("timeseries", "Drift: sessions by policy type and state (last 7 days)", [
        prom('sum by (policy_type, state) (tlsrpt_policy_drift_sessions{domain="$domain"})', "{{policy_type}} {{state}}")],
          w=16, description="Sessions of the domain's reports of the last 7 days by what the sender applied: the "
                            "published policy (current), an older one (previous), one never seen published "
                            "(never-published), or unknown without a complete posture check. Updated after each "
                            "posture check."),
    panel("stat", "Drift: sessions under a policy unpublished beyond its max_age", [
        prom('tlsrpt_policy_drift_beyond_max_age_sessions{domain="$domain"}')], w=8, h=8,
          description="Senders that apply an MTA-STS policy unpublished for longer than its max_age (they should "
                      "have fetched the new one): the TlsrptSendersOnExpiredPolicy alert."),
], variables=[domain_var], time_from="now-90d",
   links=[link("tlsrpt: this domain", "/domains/${domain}"), link("tlsrpt: its readiness", "/domains/${domain}#readiness")])

ingestion = dashboard("tlsrpt-ingestion", "TLS reporting: ingestion health",
                      "Is tlsrpt receiving, reading and storing what is sent to it?", [
    panel("timeseries", "Inputs by transport and outcome", [
        prom('sum by (transport, outcome) (rate(tlsrpt_messages_total[$__rate_interval]))', "{{transport}} {{outcome}}")],
          unit="reqps"),
    panel("timeseries", "Rejections by reason", [
        prom('sum by (reason) (increase(tlsrpt_rejections_total[$__rate_interval])) > 0', "{{reason}}")]),
    panel("timeseries", "Quirks tolerated", [
        prom('sum by (quirk) (increase(tlsrpt_quirks_total[$__rate_interval]))', "{{quirk}}")]),
    panel("timeseries", "Store latency (p50, p99)", [
        prom('histogram_quantile(0.5, sum by (le, transport) (rate(tlsrpt_store_duration_seconds_bucket[$__rate_interval])))',
             "p50 {{transport}}"),
        prom('histogram_quantile(0.99, sum by (le, transport) (rate(tlsrpt_store_duration_seconds_bucket[$__rate_interval])))',
             "p99 {{transport}}")], unit="s"),
    panel("timeseries", "HTTP requests by route and code", [
        prom('sum by (route, code) (rate(tlsrpt_http_requests_total[$__rate_interval]))', "{{route}} {{code}}")],
          unit="reqps"),
    panel("timeseries", "SMTP sessions", [
        prom('tlsrpt_smtp_active_sessions', "open"),
        prom('rate(tlsrpt_smtp_sessions_refused_total[$__rate_interval])', "refused/s"),
        prom('rate(tlsrpt_smtp_timeouts_total[$__rate_interval])', "timeouts/s")]),
    panel("stat", "tlsrpt up", [prom('up{job="tlsrpt"}', "{{instance}}")], w=6, h=4),
    panel("stat", "Database up", [prom('tlsrpt_database_up', "{{instance}}")], w=6, h=4),
    panel("stat", "Reports stored (new) in the range", [prom('sum(increase(tlsrpt_reports_total{outcome="new"}[$__range]))')],
          w=6, h=4),
    panel("stat", "Duplicates in the range", [prom('sum(increase(tlsrpt_reports_total{outcome="duplicate"}[$__range]))')],
          w=6, h=4),
    panel("timeseries", "Report messages by DKIM result", [
        prom('sum by (result, transport) (rate(tlsrpt_dkim_messages_total[5m]))', "{{transport}} {{result}}")],
        description="Report messages verified at intake (dkim.mode record or require), by transport and DKIM result"),
    panel("timeseries", "DKIM signature errors", [
        prom('sum by (error) (rate(tlsrpt_dkim_signature_errors_total[5m]))', "{{error}}")],
        description="Signatures that do not authenticate their message, by error (docs/dkim.md)"),
    panel("timeseries", "Database: bytes by table and partition", [
        prom('sum by (table) (tlsrpt_database_table_bytes)', "{{table}}")], unit="bytes",
        description="Each table and month partition of failure_details with its indexes (docs/storage.md, Years of reports); "
                    "a month dropped by retention leaves the list"),
    panel("timeseries", "Database: rows by table and partition", [
        prom('sum by (table) (tlsrpt_database_table_rows)', "{{table}}")], unit="short",
        description="Live rows as PostgreSQL's statistics count them; failure_details_default holds dates no month "
                    "covers (a sender's clock far off)"),
], time_from="now-24h", links=[link("tlsrpt: ingestion status", "/status"), link("tlsrpt: rejected inputs", "/rejected")])

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "grafana" / "dashboards")
out.mkdir(parents=True, exist_ok=True)
for name, d in [("overview", overview), ("domain", domain), ("ingestion", ingestion)]:
    (out / f"{name}.json").write_text(json.dumps(d, indent=2) + "\n")
