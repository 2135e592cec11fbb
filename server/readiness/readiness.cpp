#include "readiness/readiness.hpp"

#include <array>
#include <cstdio>

#include "pipeline/output.hpp"
#include "report/kebab.hpp"
#include "store/store.hpp"

namespace tlsrpt::readiness {
namespace {

#define TLSRPT_X(name, desc) inline constexpr report::Kebab reason_name_##name{#name};
TLSRPT_READINESS_REASONS(TLSRPT_X)
#undef TLSRPT_X

constexpr std::array reasons{
#define TLSRPT_X(name, desc) ReasonInfo{Reason::name, reason_name_##name.view(), desc},
    TLSRPT_READINESS_REASONS(TLSRPT_X)
#undef TLSRPT_X
};

constexpr std::string_view blocking[] = {"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
                                         "certificate-not-trusted", "validation-failure"};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  for (char c : text + "\n") {
    if (c == '\n') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else {
      item += c;
    }
  }
  return out;
}

std::string str(std::string_view s) { return pipeline::json_literal_for_bytes(s); }

}  // namespace

std::span<const ReasonInfo> all_reasons() { return reasons; }

std::string_view to_string(Reason reason) { return reasons[static_cast<std::size_t>(reason)].name; }

std::span<const std::string_view> blocking_result_types() { return blocking; }

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::ready: return "ready";
    case Verdict::not_ready: return "not-ready";
    case Verdict::insufficient_data: return "insufficient-data";
    case Verdict::enforced: return "enforced";
  }
  return "insufficient-data";
}

Decision decide(const Evidence& e, const Thresholds& t) {
  Decision d;
  auto add = [&d](Reason r, std::string detail) { d.reasons.emplace_back(r, std::move(detail)); };
  const double share = e.sts_sessions > 0 ? double(e.blocking_sessions) / double(e.sts_sessions) : 0;
  char share_text[64];
  std::snprintf(share_text, sizeof share_text, "%.3f%%", share * 100);
  // Enforced: what is published now, else what most senders reported.
  std::int64_t enforce = 0, all = 0;
  for (const auto& [mode, n] : e.reported_modes) {
    all += n;
    if (mode == "enforce") enforce += n;
  }
  const bool enforced = e.published_mode ? *e.published_mode == "enforce" : (all > 0 && enforce * 2 > all);
  if (!e.monitored) add(Reason::not_monitored, "add it to checks.domains for the published policy and its posture");
  for (const auto& q : e.quiet_reporters) add(Reason::reporter_quiet, q);
  if (enforced) {
    d.verdict = Verdict::enforced;
    if (e.blocking_sessions > 0)
      add(Reason::mail_refused, std::to_string(e.blocking_sessions) + " sessions refused (" + share_text + " of " +
                                    std::to_string(e.sts_sessions) + "); most: " + e.worst);
    return d;
  }
  bool not_ready = false, insufficient = false;
  // Without a posture check, only reports can say no policy is published (none without reports).
  if ((e.monitored && (!e.published_mode || *e.published_mode == "none")) ||
      (!e.monitored && all == 0 && e.days_with_reports > 0)) {
    add(Reason::no_policy_published, e.monitored ? (e.published_mode ? "the policy's mode is none" : "no policy could be read")
                                                 : "no report shows an MTA-STS policy");
    not_ready = true;
  }
  if (e.blocking_sessions > 0 && share > t.max_blocking_share) {
    add(Reason::blocking_failures, std::to_string(e.blocking_sessions) + " of " + std::to_string(e.sts_sessions) +
                                       " sessions (" + share_text + "); most: " + e.worst);
    not_ready = true;
  }
  if (e.older_policy_sessions > 0) {
    add(Reason::older_policy_in_use, e.older_policy);
    not_ready = true;
  }
  if (!e.posture_errors.empty()) {
    add(Reason::posture_errors, join(e.posture_errors));
    not_ready = true;
  }
  if (e.days_with_reports < t.min_days) {
    add(Reason::too_few_days, std::to_string(e.days_with_reports) + " days with reports, " + std::to_string(t.min_days) +
                                  " needed");
    insufficient = true;
  }
  if (e.reporters < t.min_reporters) {
    add(Reason::too_few_reporters, std::to_string(e.reporters) + " reporting organisations, " +
                                       std::to_string(t.min_reporters) + " needed");
    insufficient = true;
  }
  d.verdict = not_ready ? Verdict::not_ready : insufficient ? Verdict::insufficient_data : Verdict::ready;
  return d;
}

Answer answer(store::Store& store, const std::string& domain, int days, const Thresholds& t) {
  // The evidence as JSON (built by PostgreSQL) and, beside it, the figures the verdict needs.
  static const std::string sql = R"SQL(
WITH p AS (
  SELECT p.id, p.report_id, p.policy_type, p.policy_string, p.mx_host, p.total_successful_session_count AS ok,
         p.total_failure_session_count AS failed, p.start_datetime, p.organization_name AS org, r.end_datetime
  FROM policies p JOIN reports r ON r.id = p.report_id JOIN raw_messages m ON m.id = r.raw_message_id
  WHERE p.policy_domain = $1 AND p.start_datetime >= now() - make_interval(days => $2::int)
    AND (NOT $4::boolean OR m.dkim = 'pass' OR (m.transport = 'cli' AND m.dkim IS NULL)
         OR (m.transport = 'https' AND coalesce(m.source->>'submitter', '') <> ''))),
sts AS (SELECT * FROM p WHERE policy_type = 'sts'),
blocking AS (
  SELECT d.result_type, coalesce(d.receiving_mx_hostname, '') AS mx, s.org,
         (s.start_datetime AT TIME ZONE 'UTC')::date AS day, sum(d.failed_session_count) AS sessions
  FROM failure_details d JOIN sts s ON s.id = d.policy_id
  WHERE d.result_type = ANY (string_to_array($3, ','))
  GROUP BY 1, 2, 3, 4),
reporters AS (SELECT org, count(DISTINCT report_id) AS reports, max(end_datetime) AS last FROM p GROUP BY 1),
quiet AS (SELECT org, last FROM reporters WHERE reports >= 3 AND last < (SELECT max(last) FROM reporters) - interval '3 days'),
modes AS (
  SELECT coalesce((SELECT lower(btrim(substr(l, 6))) FROM unnest(s.policy_string) AS l WHERE lower(l) LIKE 'mode:%' LIMIT 1),
                  'unknown') AS mode, sum(s.ok + s.failed) AS sessions
  FROM sts s GROUP BY 1),
worst AS (SELECT result_type, mx, sum(sessions) AS sessions FROM blocking GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 1),
-- Drift: each sts policy of a report against the published-policy history (policy_drift(),
-- migration 0007).
drift AS (
  SELECT d.state, s.org, s.ok + s.failed AS sessions, d.matched AS sts_id, d.last_published AS last_seen, d.beyond_max_age
  FROM sts s, policy_drift('sts', $1, s.mx_host, s.policy_string, s.start_datetime) d),
older AS (SELECT org, sts_id, last_seen, sum(sessions) AS sessions, bool_or(beyond_max_age) AS beyond_max_age FROM drift
           WHERE state = 'previous' GROUP BY 1, 2, 3),
posture AS (SELECT id, mode, checked_at, complete FROM posture_checks WHERE domain = $1 ORDER BY checked_at DESC, id DESC LIMIT 1),
open AS (SELECT f.finding, f.severity, f.subject, f.detail FROM posture_findings f
         WHERE f.check_id = (SELECT id FROM posture) AND f.severity IN ('error', 'warning'))
SELECT json_build_object(
  'window', json_build_object('days', $2::int, 'days_with_reports',
      (SELECT count(DISTINCT (start_datetime AT TIME ZONE 'UTC')::date) FROM p),
      'first_report', utc_text((SELECT min(start_datetime) FROM p)), 'last_report', utc_text((SELECT max(end_datetime) FROM p))),
  'reporters', coalesce((SELECT json_agg(json_build_object('organization', org, 'reports', reports, 'last_report', utc_text(last),
      'quiet', org IN (SELECT org FROM quiet)) ORDER BY reports DESC, org) FROM reporters), '[]'),
  'sts_sessions', json_build_object('successful', (SELECT coalesce(sum(ok), 0) FROM sts),
      'failed', (SELECT coalesce(sum(failed), 0) FROM sts)),
  'blocking_failures', json_build_object(
      'sessions', (SELECT coalesce(sum(sessions), 0) FROM blocking),
      'result_types', string_to_array($3, ','),
      'by_result_type', coalesce((SELECT json_object_agg(result_type, n) FROM
          (SELECT result_type, sum(sessions) AS n FROM blocking GROUP BY 1) x), '{}'),
      'by_mx', coalesce((SELECT json_object_agg(mx, n) FROM (SELECT mx, sum(sessions) AS n FROM blocking GROUP BY 1) x), '{}'),
      'by_reporter', coalesce((SELECT json_object_agg(org, n) FROM (SELECT org, sum(sessions) AS n FROM blocking GROUP BY 1) x), '{}'),
      'by_day', coalesce((SELECT json_object_agg(day, n ORDER BY day) FROM (SELECT day, sum(sessions) AS n FROM blocking GROUP BY 1) x), '{}'),
      'rows', coalesce((SELECT json_agg(json_build_object('result_type', result_type, 'mx', mx, 'organization', org, 'day', day,
          'sessions', sessions) ORDER BY day, sessions DESC, result_type, mx, org) FROM blocking), '[]')),
  'drift', json_build_object(
      'sessions', coalesce((SELECT json_object_agg(state, n) FROM (SELECT state, sum(sessions) AS n FROM drift GROUP BY 1) x), '{}'),
      'older_policies', coalesce((SELECT json_agg(json_build_object('organization', org, 'sts_id', sts_id,
          'last_published', utc_text(last_seen), 'sessions', sessions, 'beyond_max_age', beyond_max_age)
          ORDER BY sessions DESC, org) FROM older), '[]')),
  'modes', json_build_object('published', (SELECT mode FROM posture),
      'reported', coalesce((SELECT json_object_agg(mode, sessions) FROM modes), '{}')),
  'posture', CASE WHEN EXISTS (SELECT 1 FROM posture) THEN json_build_object('checked_at', utc_text((SELECT checked_at FROM posture)),
      'complete', (SELECT complete FROM posture), 'open_findings', coalesce((SELECT json_agg(json_build_object('finding', finding,
      'severity', severity, 'subject', subject, 'detail', detail) ORDER BY severity, finding, subject) FROM open), '[]')) END),
  (SELECT count(DISTINCT (start_datetime AT TIME ZONE 'UTC')::date) FROM p),
  (SELECT count(*) FROM reporters),
  (SELECT string_agg(org || ': last report ' || utc_text(last), E'\n' ORDER BY org) FROM quiet),
  (SELECT coalesce(sum(ok + failed), 0) FROM sts),
  (SELECT coalesce(sum(sessions), 0) FROM blocking),
  (SELECT result_type || ' on ' || CASE mx WHEN '' THEN 'an unnamed MX' ELSE mx END || ' (' || sessions || ' sessions)' FROM worst),
  EXISTS (SELECT 1 FROM posture),
  (SELECT mode FROM posture),
  (SELECT string_agg(finding || '@' || subject, E'\n' ORDER BY finding, subject) FROM open WHERE severity = 'error'),
  (SELECT string_agg(mode || E'\n' || sessions, E'\n' ORDER BY mode) FROM modes),
  (SELECT coalesce(sum(failed), 0) FROM sts),
  (SELECT coalesce(sum(sessions), 0) FROM older),
  (SELECT string_agg(org || ' applies policy id ' || sts_id || ', last published ' || utc_text(last_seen) ||
      CASE WHEN beyond_max_age THEN ', longer ago than its max_age' ELSE '' END || ' (' || sessions || ' sessions)', '; '
      ORDER BY sessions DESC, org) FROM older)
)SQL";
  std::string types;
  for (auto b : blocking) types += (types.empty() ? "" : ",") + std::string(b);
  const auto rows = store.query_rows(sql, {domain, std::to_string(days), types, t.authenticated_only ? "true" : "false"});
  const auto& r = rows.at(0);
  Evidence e;
  e.days_with_reports = std::stoi(r[1]);
  e.reporters = std::stoi(r[2]);
  e.quiet_reporters = split(r[3]);
  e.sts_sessions = std::stoll(r[4]);
  e.blocking_sessions = std::stoll(r[5]);
  e.worst = r[6];
  e.monitored = r[7] == "t";
  if (!r[8].empty()) e.published_mode = r[8];
  e.posture_errors = split(r[9]);
  const auto modes = split(r[10]);
  for (std::size_t i = 0; i + 1 < modes.size(); i += 2) e.reported_modes[modes[i]] = std::stoll(modes[i + 1]);
  e.sts_failed = std::stoll(r[11]);
  e.older_policy_sessions = std::stoll(r[12]);
  e.older_policy = r[13];
  const Decision d = decide(e, t);
  std::string out = "{\"domain\":" + str(domain) + ",\"verdict\":" + str(to_string(d.verdict)) + ",\"reasons\":[";
  for (std::size_t i = 0; i < d.reasons.size(); ++i)
    out += std::string(i ? "," : "") + "{\"reason\":" + str(to_string(d.reasons[i].first)) + ",\"detail\":" +
           str(d.reasons[i].second) + "}";
  char share[32];
  std::snprintf(share, sizeof share, "%.6g", t.max_blocking_share);
  out += "],\"thresholds\":{\"min_days\":" + std::to_string(t.min_days) + ",\"min_reporters\":" +
         std::to_string(t.min_reporters) + ",\"max_blocking_share\":" + share + "},\"evidence\":" + r[0] + "}";
  return Answer{std::move(out), std::move(e), d};
}

DriftCounts recent_drift(store::Store& store, const std::string& domain, int days) {
  static const std::string sql =
      "SELECT p.policy_type, d.state, sum(p.total_successful_session_count + p.total_failure_session_count), "
      "coalesce(sum(p.total_successful_session_count + p.total_failure_session_count) FILTER (WHERE d.beyond_max_age), 0) "
      "FROM policies p, policy_drift(p.policy_type, p.policy_domain, p.mx_host, p.policy_string, p.start_datetime) d "
      "WHERE p.policy_domain = $1 AND p.start_datetime >= now() - make_interval(days => $2::int) GROUP BY 1, 2";
  DriftCounts out;
  for (const auto& r : store.query_rows(sql, {domain, std::to_string(days)})) {
    out.sessions[{r[0], r[1]}] = std::stoll(r[2]);
    out.beyond_max_age += std::stoll(r[3]);
  }
  return out;
}

std::string to_text(const std::string& domain, int days, const Answer& a) {
  const Evidence& e = a.evidence;
  std::string out = domain + ": " + std::string(to_string(a.decision.verdict)) + " (" + std::to_string(e.days_with_reports) +
                    " days with reports in the last " + std::to_string(days) + ", " + std::to_string(e.reporters) +
                    " reporters, " + std::to_string(e.sts_sessions - e.sts_failed) + " successful and " +
                    std::to_string(e.sts_failed) + " failed sessions under MTA-STS, " +
                    std::to_string(e.blocking_sessions) + " that enforce would block)\n";
  for (const auto& [reason, detail] : a.decision.reasons) out += "  " + std::string(to_string(reason)) + ": " + detail + "\n";
  return out;
}

}  // namespace tlsrpt::readiness
