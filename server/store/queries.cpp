#include "store/queries.hpp"
#include "json/text.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "pipeline/output.hpp"

namespace tlsrpt::store {
namespace {

using Params = std::vector<std::optional<std::string>>;

// A statement under construction: a condition only for each filter given (so every shape of
// filter is its own prepared statement with a plan that fits it), every value a bound parameter.
class Sql {
 public:
  std::string param(const std::string& value) {
    params_.emplace_back(value);
    return "$" + std::to_string(params_.size());
  }
  const Params& params() const { return params_; }

 private:
  Params params_;
};

// A text[] literal's elements as bound parameters take them: {"a","b"} with '"' and '\' escaped.
std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (const auto& i : items) {
    out += out.size() > 1 ? ",\"" : "\"";
    for (char c : i) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// session_counts rows in the range (against the hour bucket) for the domain, organisation and
// policy type.
std::string counts_where(Sql& q, const Filter& f) {
  std::string w = "TRUE";
  if (f.from) w += " AND bucket >= date_trunc('hour', " + q.param(*f.from) + "::timestamptz, 'UTC')";
  if (f.to) w += " AND bucket < " + q.param(*f.to) + "::timestamptz";
  if (f.policy_domain) w += " AND policy_domain = " + q.param(*f.policy_domain);
  if (f.organization) w += " AND organization_name = " + q.param(*f.organization);
  if (f.policy_type) w += " AND policy_type = " + q.param(*f.policy_type);
  return w;
}

// The DKIM filter on raw_messages m: the message that stored a report had this result.
std::string dkim_condition(Sql& q, const Filter& f) {
  return *f.dkim == "unverified" ? std::string("m.dkim IS NULL") : "m.dkim = " + q.param(*f.dkim);
}

// The hourly rollup rows matching `where`, compacted or still pending, as a FROM item named sc.
// With a DKIM filter, the same rows derived from the base tables (the rollups do not know which
// message stored a report), as the store writes them (store.cpp, counts_sql).
std::string counts_from(Sql& q, const Filter& f, const std::string& where) {
  if (!f.dkim)
    return "(SELECT * FROM session_counts WHERE " + where + " UNION ALL SELECT * FROM session_counts_new WHERE " + where +
           ") AS sc";
  const std::string dkim = dkim_condition(q, f);
  return "(SELECT * FROM (SELECT date_trunc('hour', p.start_datetime, 'UTC') AS bucket, p.policy_domain, "
         "p.organization_name, p.policy_type, k.result, k.mx_host, k.sessions FROM policies p JOIN reports r ON "
         "r.id = p.report_id JOIN raw_messages m ON m.id = r.raw_message_id, LATERAL (SELECT 'success', '', "
         "p.total_successful_session_count UNION ALL SELECT 'failure', '', p.total_failure_session_count UNION ALL "
         "SELECT d.result_type, coalesce(d.receiving_mx_hostname, ''), d.failed_session_count FROM failure_details d "
         "WHERE d.policy_id = p.id) AS k (result, mx_host, sessions) WHERE k.sessions > 0 AND " + dkim +
         ") AS base WHERE " + where + ") AS sc";
}

// Failure-detail rows (of session_counts) narrowed by result type and receiving MX.
std::string details_where(Sql& q, const Filter& f) {
  std::string w = "result NOT IN ('success', 'failure')";
  if (f.result_type) w += " AND result = " + q.param(*f.result_type);
  if (f.mx_host) w += " AND mx_host = " + q.param(*f.mx_host);
  return w;
}

// The range of report start times and the organisation, on reports r.
std::string reports_where(Sql& q, const Filter& f) {
  std::string w = "TRUE";
  if (f.from) w += " AND r.start_datetime >= " + q.param(*f.from) + "::timestamptz";
  if (f.to) w += " AND r.start_datetime < " + q.param(*f.to) + "::timestamptz";
  if (f.organization) w += " AND r.organization_name = " + q.param(*f.organization);
  return w;
}

// Sessions of the sts and tlsa policies in range (domain, organisation, policy type; the report's
// start against from and to) by policy type and drift state (policy_drift(), migration 0007).
std::string drift_by_state(Sql& q, const Filter& f) {
  std::string w = "p.policy_type IN ('sts', 'tlsa')";
  if (f.from) w += " AND p.start_datetime >= " + q.param(*f.from) + "::timestamptz";
  if (f.to) w += " AND p.start_datetime < " + q.param(*f.to) + "::timestamptz";
  if (f.policy_domain) w += " AND p.policy_domain = " + q.param(*f.policy_domain);
  if (f.organization) w += " AND p.organization_name = " + q.param(*f.organization);
  if (f.policy_type) w += " AND p.policy_type = " + q.param(*f.policy_type);
  if (f.dkim)
    w += " AND EXISTS (SELECT 1 FROM reports r JOIN raw_messages m ON m.id = r.raw_message_id WHERE r.id = p.report_id AND " +
         dkim_condition(q, f) + ")";
  return "SELECT p.policy_type, d.state, sum(p.total_successful_session_count + p.total_failure_session_count) AS n "
         "FROM policies p, policy_drift(p.policy_type, p.policy_domain, p.mx_host, p.policy_string, p.start_datetime) d "
         "WHERE " + w + " GROUP BY 1, 2";
}

// Successful and failed totals of the grouping set `k` of g by `column`, as a JSON array whose
// objects name the group `key`.
std::string totals_by(int k, const std::string& column, const std::string& key) {
  return "(SELECT coalesce(json_agg(json_build_object('" + key + "', g, 'successful_sessions', ok, 'failed_sessions', "
         "failed, 'success_ratio', success_ratio(ok, failed)) ORDER BY failed DESC, g), '[]') FROM (SELECT " + column +
         " AS g, coalesce(sum(n) FILTER (WHERE result = 'success'), 0) AS ok, coalesce(sum(n) FILTER "
         "(WHERE result = 'failure'), 0) AS failed FROM g WHERE k = " + std::to_string(k) + " GROUP BY 1) AS x)";
}

// A page of rows of `inner` (which selects id and a JSON object o, newest first, at most
// limit + 1 rows) as {"<key>": [...], "next_cursor": "<id>" or null}.
std::string page_of(const std::string& key, const std::string& inner, const std::string& limit) {
  return "SELECT json_build_object('" + key + "', coalesce(json_agg(o ORDER BY id DESC) FILTER (WHERE n <= " + limit +
         "), '[]'), 'next_cursor', CASE WHEN count(*) > " + limit + " THEN (min(id) FILTER (WHERE n <= " + limit +
         "))::text END)::text FROM (SELECT id, o, row_number() OVER (ORDER BY id DESC) AS n FROM (" + inner + ") AS i) AS x";
}

// The cursor condition and the LIMIT of a page on `id_column`; returns the limit's parameter.
std::string page_tail(Sql& q, const Page& p, const std::string& id_column, std::string& limit) {
  limit = q.param(std::to_string(p.limit)) + "::int";
  std::string t = p.before ? " AND " + id_column + " < " + q.param(std::to_string(*p.before)) + "::bigint" : "";
  return t + " ORDER BY " + id_column + " DESC LIMIT " + limit + " + 1";
}

}  // namespace

std::string domains_json(Store& s, const Filter& f, const Page& page) {
  Sql q;
  const std::string limit = q.param(std::to_string(page.limit)) + "::int";
  const std::string after = page.after ? " AND k.domain > " + q.param(*page.after) : "";
  // Each listed domain (known_domains, and those whose reports are not compacted yet) in name
  // order, its rows in range summed; the first limit + 1 that have any.
  const std::string sql =
      "SELECT json_build_object('domains', coalesce(json_agg(json_build_object('policy_domain', policy_domain, "
      "'successful_sessions', ok, 'failed_sessions', failed, 'success_ratio', success_ratio(ok, failed), "
      "'last_report_start', (SELECT utc_text(max(p.start_datetime)) FROM policies p WHERE p.policy_domain = d.policy_domain)) "
      "ORDER BY policy_domain) FILTER (WHERE n <= " + limit + "), '[]'), 'next_cursor', CASE WHEN count(*) > " + limit +
      " THEN max(policy_domain) FILTER (WHERE n <= " + limit + ") END)::text FROM (SELECT k.domain AS policy_domain, c.ok, "
      "c.failed, row_number() OVER (ORDER BY k.domain) AS n FROM (SELECT domain FROM known_domains UNION SELECT DISTINCT "
      "policy_domain FROM session_counts_new) AS k CROSS JOIN LATERAL (SELECT count(*) AS rows, coalesce(sum(sessions) "
      "FILTER (WHERE result = 'success'), 0) AS ok, coalesce(sum(sessions) FILTER (WHERE result = 'failure'), 0) AS failed "
      "FROM " + counts_from(q, f, counts_where(q, f) + " AND policy_domain = k.domain") + ") AS c WHERE c.rows > 0" + after +
      " ORDER BY k.domain LIMIT " + limit + " + 1) AS d";
  return s.query_json(sql, q.params());
}

std::string summary_json(Store& s, const Filter& f) {
  // One pass over the rows in range: grouping sets by (result, mx_host) [k = 6],
  // (policy_type, result) [k = 3] and (organization_name, result) [k = 5]; the rest is small.
  Sql q;
  const std::string where = counts_where(q, f);
  const std::string details = details_where(q, f);
  const std::string sql =
      "WITH g AS (SELECT result, policy_type, organization_name, mx_host, GROUPING(policy_type, organization_name, "
      "mx_host) AS k, sum(sessions) AS n FROM " + counts_from(q, f, where) + " GROUP BY GROUPING SETS ((result, "
      "mx_host), (policy_type, result), (organization_name, result))), "
      "t AS (SELECT coalesce(sum(n) FILTER (WHERE k = 6 AND result = 'success'), 0) AS ok, "
      "coalesce(sum(n) FILTER (WHERE k = 6 AND result = 'failure'), 0) AS failed FROM g) "
      "SELECT json_build_object('successful_sessions', t.ok, 'failed_sessions', t.failed, "
      "'success_ratio', success_ratio(t.ok, t.failed), "
      "'by_result_type', (SELECT coalesce(json_agg(json_build_object('result_type', result, 'sessions', n) "
      "ORDER BY n DESC, result), '[]') FROM (SELECT result, sum(n) AS n FROM g WHERE k = 6 AND " + details +
      " GROUP BY 1) AS x), "
      "'by_policy_type', " + totals_by(3, "policy_type", "policy_type") + ", "
      "'by_organization', " + totals_by(5, "organization_name", "organization_name") + ", "
      "'by_mx_host', (SELECT coalesce(json_agg(json_build_object('mx_host', nullif(mx_host, ''), 'sessions', n) "
      "ORDER BY n DESC, mx_host), '[]') FROM (SELECT mx_host, sum(n) AS n FROM g WHERE k = 6 AND " + details +
      " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1000) AS x), "
      "'by_drift_state', (SELECT coalesce(json_agg(json_build_object('policy_type', policy_type, 'state', state, "
      "'sessions', n) ORDER BY policy_type, state), '[]') FROM (" + drift_by_state(q, f) + ") AS x))::text FROM t";
  return s.query_json(sql, q.params());
}

namespace {

// Daily points from daily_sessions plus what is pending: the common chart (daily, one domain or
// all, optionally one result type) and the domain list. PostgreSQL only hands over rows (its JSON
// functions and jsonb aggregation cost more than the query); a day that also has pending rows
// gets them added here.
struct Point {
  std::int64_t ok = 0, failed = 0;
  std::string by_result;                       // JSON from daily_sessions, if that is all
  std::map<std::string, std::int64_t> merged;  // by result-type, once pending rows are added
};
using Series = std::map<std::int64_t, Point>;  // by day (epoch)

// With per_domain, one series per policy domain; otherwise one under "".
// `only`: these domains (per_domain), else every one.
std::map<std::string, Series> daily_points(Store& s, const Filter& f, bool per_domain,
                                           const std::vector<std::string>* only = nullptr) {
  Sql q;
  std::string daily = "TRUE", pending = "TRUE";
  const std::string day = "date_bin('1 day', bucket, '2000-01-01Z')";
  if (f.from) {
    const std::string p = q.param(*f.from);
    daily += " AND day >= date_bin('1 day', " + p + "::timestamptz, '2000-01-01Z')";
    pending += " AND " + day + " >= date_bin('1 day', " + p + "::timestamptz, '2000-01-01Z')";
  }
  if (f.to) {
    const std::string p = q.param(*f.to);
    daily += " AND day < " + p + "::timestamptz";
    pending += " AND " + day + " < " + p + "::timestamptz";
  }
  if (f.policy_domain) {
    const std::string p = q.param(*f.policy_domain);
    daily += " AND policy_domain = " + p;
    pending += " AND policy_domain = " + p;
  }
  std::string daily_from = "daily_sessions";
  if (only) {  // (each domain's days from the primary key's range: a plan that fits any number of days)
    const std::string p = q.param(text_array(*only));
    daily_from = "unnest(" + p + "::text[]) AS only_domains (d) CROSS JOIN LATERAL (SELECT * FROM daily_sessions WHERE "
                 "policy_domain = only_domains.d AND " + daily + " OFFSET 0) AS daily_sessions";
    pending += " AND policy_domain = ANY(" + p + "::text[])";
  }
  std::string by_result = "by_result";
  if (f.result_type) {
    const std::string p = q.param(*f.result_type);
    by_result = "jsonb_strip_nulls(jsonb_build_object(" + p + "::text, by_result -> " + p + "::text))";
    pending += " AND result IN ('success', 'failure', " + p + "::text)";
  }
  const std::string domain = per_domain ? "policy_domain" : "''";
  // Rows: (domain, day, successful, failed, by_result JSON) from daily_sessions; (domain, day,
  // result, sessions, NULL) from what is pending.
  const std::string sql =
      "SELECT " + domain + ", extract(epoch FROM day)::bigint, successful::text, failed::text, " + by_result +
      "::text FROM " + daily_from + " WHERE " + daily + " UNION ALL SELECT " + domain + ", extract(epoch FROM " + day +
      ")::bigint, result, sum(sessions)::text, NULL FROM session_counts_new WHERE " + pending + " GROUP BY 1, 2, 3";
  std::map<std::string, Series> out;
  simdjson::dom::parser parser;
  const auto merge = [&parser](Point& p) {  // from JSON text to the map, once
    if (p.by_result.empty()) return;
    simdjson::dom::object counts;
    if (parser.parse(p.by_result).get_object().get(counts)) throw Error("daily_sessions.by_result is not an object", false);
    for (const auto field : counts) {
      std::int64_t n = 0;
      if (field.value.get_int64().get(n)) throw Error("daily_sessions.by_result holds a non-integer", false);
      p.merged[std::string(field.key)] += n;
    }
    p.by_result.clear();
  };
  for (const auto& row : s.query_rows(sql, q.params())) {
    Point& p = out[row[0]][std::stoll(row[1])];
    if (!row[4].empty()) {  // a daily_sessions row (one per domain and day)
      p.ok += std::stoll(row[2]);
      p.failed += std::stoll(row[3]);
      const bool alone = p.by_result.empty() && p.merged.empty();
      merge(p);
      p.by_result = row[4];
      if (!alone) merge(p);
    } else if (row[2] == "success") {
      p.ok += std::stoll(row[3]);
    } else if (row[2] == "failure") {
      p.failed += std::stoll(row[3]);
    } else {
      merge(p);
      p.merged[row[2]] += std::stoll(row[3]);
    }
  }
  for (auto& [d, series] : out)
    for (auto& [epoch, p] : series) merge(p);
  return out;
}

std::string daily_series(Store& s, const Filter& f) {
  auto all = daily_points(s, f, false);
  std::string out = "{\"bucket\":\"day\",\"points\":[";
  bool first = true;
  for (auto& [epoch, p] : all[""]) {
    if (p.ok == 0 && p.failed == 0 && p.merged.empty()) continue;  // nothing left after the filter
    out += first ? "{\"time\":\"" : ",{\"time\":\"";
    first = false;
    out += report::format_datetime(epoch) + "\",\"successful_sessions\":" + std::to_string(p.ok) +
           ",\"failed_sessions\":" + std::to_string(p.failed) + ",\"by_result_type\":{";
    bool first_result = true;
    for (const auto& [result, n] : p.merged) {
      if (!first_result) out += ',';
      first_result = false;
      json::append_string(out, result);
      out += ':' + std::to_string(n);
    }
    out += "}}";
  }
  return out + "]}";
}

// {"successful_sessions": ok, "failed_sessions": failed, "success_ratio": ratio or null}, the
// ratio rounded as the SQL function success_ratio() does.
std::string totals_json(std::int64_t ok, std::int64_t failed) {
  std::string out = "{\"successful_sessions\":" + std::to_string(ok) + ",\"failed_sessions\":" + std::to_string(failed) +
                    ",\"success_ratio\":";
  if (ok + failed == 0) return out + "null}";
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%.6f", static_cast<double>(ok) / static_cast<double>(ok + failed));
  std::string r = ratio;
  while (r.back() == '0') r.pop_back();
  if (r.back() == '.') r.pop_back();
  return out + r + "}";
}

}  // namespace

std::string timeseries_json(Store& s, const Filter& f, const std::string& bucket) {
  if (bucket != "day" && bucket != "hour") throw Error("time series bucket must be day or hour", false);
  if (bucket == "day" && !f.organization && !f.policy_type && !f.mx_host && !f.dkim) return daily_series(s, f);
  Sql q;
  const std::string where = counts_where(q, f);
  const std::string sql =
      "WITH b AS (SELECT " + std::string(bucket == "day" ? "date_bin('1 day', bucket, '2000-01-01Z')" : "bucket") +
      " AS t, result, sum(sessions) AS n FROM " + counts_from(q, f, where) + " WHERE (result IN ('success', 'failure') OR (" +
      details_where(q, f) + ")) GROUP BY 1, 2) "
      "SELECT json_build_object('bucket', '" + bucket + "', 'points', coalesce(json_agg(json_build_object('time', "
      "utc_text(t), 'successful_sessions', ok, 'failed_sessions', failed, 'by_result_type', by_result) ORDER BY t), "
      "'[]'))::text FROM (SELECT t, coalesce(sum(n) FILTER (WHERE result = 'success'), 0) AS ok, "
      "coalesce(sum(n) FILTER (WHERE result = 'failure'), 0) AS failed, coalesce(json_object_agg(result, n ORDER BY "
      "result) FILTER (WHERE result NOT IN ('success', 'failure')), '{}') AS by_result FROM b GROUP BY t) AS p";
  return s.query_json(sql, q.params());
}

std::string reports_json(Store& s, const Filter& f, const Page& page) {
  Sql q;
  std::string where = reports_where(q, f);
  if (f.dkim)
    where += " AND EXISTS (SELECT 1 FROM raw_messages m WHERE m.id = r.raw_message_id AND " +
             dkim_condition(q, f) + ")";
  std::string policy = "p.report_id = r.id";
  if (f.policy_domain) policy += " AND p.policy_domain = " + q.param(*f.policy_domain);
  if (f.policy_type) policy += " AND p.policy_type = " + q.param(*f.policy_type);
  if (f.policy_domain || f.policy_type) where += " AND EXISTS (SELECT 1 FROM policies p WHERE " + policy + ")";
  if (f.result_type || f.mx_host) {
    std::string detail = policy;
    if (f.result_type) detail += " AND d.result_type = " + q.param(*f.result_type);
    if (f.mx_host) detail += " AND d.receiving_mx_hostname = " + q.param(*f.mx_host);
    where += " AND EXISTS (SELECT 1 FROM policies p JOIN failure_details d ON d.policy_id = p.id WHERE " + detail + ")";
  }
  std::string limit;
  const std::string tail = page_tail(q, page, "r.id", limit);
  const std::string sql = page_of(
      "reports",
      "SELECT r.id, json_build_object('id', r.id, 'organization_name', r.organization_name, 'report_id', r.report_id, "
      "'start_datetime', utc_text(r.start_datetime), 'end_datetime', utc_text(r.end_datetime), "
      "'successful_sessions', r.successful_sessions, 'failed_sessions', r.failed_sessions, "
      "'policy_domains', (SELECT json_agg(DISTINCT p.policy_domain) FROM policies p WHERE p.report_id = r.id), "
      "'stored_at', utc_text(r.stored_at), 'raw_message_id', r.raw_message_id) AS o FROM reports r WHERE " + where + tail,
      limit);
  return s.query_json(sql, q.params());
}

std::string rejected_json(Store& s, const Filter& f, const std::optional<std::string>& reason, const Page& page) {
  Sql q;
  std::string where = "outcome = 'rejected'";
  if (f.from) where += " AND received_at >= " + q.param(*f.from) + "::timestamptz";
  if (f.to) where += " AND received_at < " + q.param(*f.to) + "::timestamptz";
  if (reason) where += " AND reason = " + q.param(*reason);
  std::string limit;
  const std::string tail = page_tail(q, page, "id", limit);
  const std::string sql = page_of(
      "rejected",
      "SELECT id, json_build_object('id', id, 'received_at', utc_text(received_at), 'transport', transport, "
      "'reason', reason, 'detail', detail, 'size', size, 'source', source, 'dkim', dkim_detail) AS o FROM raw_messages "
      "WHERE " + where + tail,
      limit);
  return s.query_json(sql, q.params());
}

std::optional<StoredReport> stored_report(Store& s, std::int64_t id) {
  // "<json> <dedup key hex> <raw message id>": one round trip for the row, one for the bytes.
  static const std::string sql =
      "SELECT json_build_object('id', r.id, 'stored_at', utc_text(r.stored_at), 'quirks', (SELECT coalesce(json_agg(q.quirk "
      "ORDER BY q.quirk), '[]') FROM report_quirks q WHERE q.report_id = r.id), 'raw_message', json_build_object('id', "
      "m.id, 'received_at', utc_text(m.received_at), 'transport', m.transport, 'source', m.source, 'size', m.size, "
      "'sha256', encode(m.sha256, 'hex'), 'part', r.source_part, 'filename', r.source_filename, 'dkim', m.dkim_detail), "
      // Each policy against what its domain published (migration 0007), in the report's order.
      "'policy_drift', (SELECT coalesce(json_agg(json_build_object('position', p.position, 'policy_type', p.policy_type, "
      "'policy_domain', p.policy_domain, 'state', d.state, 'matched', d.matched, 'last_published', "
      "utc_text(d.last_published), 'max_age', d.max_age, 'beyond_max_age', d.beyond_max_age) ORDER BY p.position), '[]') "
      "FROM policies p LEFT JOIN LATERAL policy_drift(p.policy_type, p.policy_domain, p.mx_host, p.policy_string, "
      "p.start_datetime) d ON true WHERE p.report_id = r.id))::text || ' ' || "
      "encode(r.dedup_key, 'hex') || ' ' || m.id FROM reports r JOIN raw_messages m ON m.id = r.raw_message_id "
      "WHERE r.id = $1::bigint";
  const std::string row = s.query_json(sql, {std::to_string(id)});
  if (row.empty()) return std::nullopt;
  const auto last = row.rfind(' ');
  const auto middle = row.rfind(' ', last - 1);
  StoredReport out;
  out.meta_json = row.substr(0, middle);
  out.dedup_key = row.substr(middle + 1, last - middle - 1);
  auto body = s.raw_body(std::stoll(row.substr(last + 1)), false);
  if (!body) return std::nullopt;
  out.body = std::move(*body);
  return out;
}

std::string posture_json(Store& s, const std::string& domain) {
  static const std::string sql =
      "SELECT json_build_object('domain', c.domain, 'checked_at', utc_text(c.checked_at), 'duration_ms', c.duration_ms, "
      "'complete', c.complete, 'errors', c.errors, 'warnings', c.warnings, "
      "'findings', coalesce((SELECT json_agg(json_build_object('finding', f.finding, 'severity', f.severity, 'subject', "
      "f.subject, 'detail', f.detail, 'since', utc_text((SELECT min(o.checked_at) FROM posture_checks o WHERE "
      "o.domain = c.domain AND o.checked_at > coalesce((SELECT max(g.checked_at) FROM posture_checks g WHERE g.domain = "
      "c.domain AND g.checked_at < c.checked_at AND NOT EXISTS (SELECT 1 FROM posture_findings h WHERE h.check_id = g.id "
      "AND h.finding = f.finding AND h.subject = f.subject)), '-infinity'))))) FROM posture_findings f "
      "WHERE f.check_id = c.id), '[]'), 'result', coalesce(c.result, (SELECT h.result FROM posture_checks h WHERE "
      "h.id = c.result_of))) FROM posture_checks c WHERE c.domain = $1 "
      "ORDER BY c.checked_at DESC, c.id DESC LIMIT 1";
  return s.query_json(sql, {domain});
}

std::string policies_json(Store& s, const std::string& domain) {
  static const std::string sql =
      "SELECT json_build_object('domain', $1::text, 'policies', coalesce((SELECT json_agg(json_build_object('sts_id', "
      "p.sts_id, 'sha256', p.sha256, 'mode', p.mode, 'max_age', p.max_age, 'mx', to_json(p.mx), 'text', p.text, "
      "'first_seen', utc_text(p.first_seen), 'last_seen', utc_text(p.last_seen)) ORDER BY p.last_seen DESC, "
      "p.first_seen DESC) FROM published_policies p WHERE p.domain = $1::text), '[]')) "
      "WHERE EXISTS (SELECT 1 FROM posture_checks WHERE domain = $1::text)";
  return s.query_json(sql, {domain});
}

}  // namespace tlsrpt::store

namespace tlsrpt::store {

std::int64_t range_start(int days, std::int64_t now) {
  return now - now % 86400 - static_cast<std::int64_t>(days - 1) * 86400;
}

namespace {

// The page's domains in order (stage 1 of the domain list) and how many match the filter.
// Sorted by a figure, the domains that have one come first, read in the order of its index;
// those without one (no sessions, no failures, no report) follow by name.
std::pair<std::vector<std::string>, std::int64_t> list_page(Store& s, int days, const std::vector<std::string>& monitored,
                                                            std::int64_t today, const ListPage& page) {
  // $1 monitored, $2 the name filter, $3 the window's days, $4 today; f: the list's domains
  // (known_domains, and those only monitored or with reports not compacted yet).
  const Params params{text_array(monitored), page.name_contains,
                      std::to_string(page.sort == "ratio7" ? 7 : days), report::format_datetime(today)};
  static const std::string f =
      "WITH f AS (SELECT domain FROM (SELECT k.domain FROM known_domains k UNION ALL SELECT m FROM (SELECT unnest($1::text[]) "
      "UNION SELECT DISTINCT policy_domain FROM session_counts_new) AS x (m) WHERE NOT EXISTS (SELECT 1 FROM known_domains "
      "k WHERE k.domain = m)) AS d WHERE strpos(domain, $2) > 0 AND $3::int > 0 AND $4::timestamptz IS NOT NULL) ";
  const std::int64_t offset = (page.page - 1) * page.limit;
  const std::string limit = std::to_string(page.limit);
  const auto domains = [&](const std::string& sql) {
    std::vector<std::string> out;
    for (const auto& row : s.query_rows(sql, params)) out.push_back(row[0]);
    return out;
  };
  const auto count = [&](const std::string& sql) { return std::stoll(s.query_rows(sql, params).at(0).at(0)); };
  const std::int64_t total = count(f + "SELECT count(*)::text FROM f");
  if (page.sort == "name")
    return {domains(f + "SELECT domain FROM f ORDER BY domain LIMIT " + limit + " OFFSET " + std::to_string(offset)), total};
  // The domains with the figure (named `domain`; every parameter typed, as each statement needs),
  // and the figure's order.
  std::string keyed, order;
  const bool by_window = page.sort != "newest";
  if (by_window && count("SELECT count(*)::text FROM window_state WHERE days = $3::int AND as_of = $4::timestamptz "
                         "AND $1::text[] IS NOT NULL AND $2::text IS NOT NULL") == 0) {
    // No built window for this range (another range, or the minutes after midnight): summed.
    const std::string w =
        "SELECT policy_domain, sum(ok) AS ok, sum(bad) AS bad FROM (SELECT policy_domain, successful AS ok, failed "
        "AS bad FROM daily_sessions WHERE day <= $4::timestamptz AND day > $4::timestamptz - make_interval(hours => 24 "
        "* $3::int) UNION ALL SELECT policy_domain, CASE WHEN result = 'success' THEN sessions ELSE 0 END, CASE WHEN "
        "result = 'failure' THEN sessions ELSE 0 END FROM session_counts_new WHERE result IN ('success', 'failure') "
        "AND bucket >= $4::timestamptz - make_interval(hours => 24 * ($3::int - 1)) AND bucket < $4::timestamptz + "
        "interval '24 hours') AS x GROUP BY 1";
    const std::string key = page.sort == "failed" ? "nullif(w.bad, 0) DESC NULLS LAST"
                                                  : "CASE WHEN w.ok + w.bad > 0 THEN round(w.ok::float8 / (w.ok + w.bad) * "
                                                    "1000000) END NULLS LAST";
    return {domains(f + "SELECT f.domain FROM f LEFT JOIN (" + w + ") AS w ON w.policy_domain = f.domain ORDER BY " + key +
                    ", f.domain LIMIT " + limit + " OFFSET " + std::to_string(offset)),
            total};
  }
  if (page.sort == "newest") {
    keyed = "SELECT domain FROM known_domains WHERE newest_bucket IS NOT NULL AND strpos(domain, $2) > 0 AND $3::int > 0 "
            "AND $4::timestamptz IS NOT NULL AND $1::text[] IS NOT NULL";
    order = "newest_bucket DESC, domain";
  } else {
    const std::string key = page.sort == "failed" ? "failed_key" : "ratio_key";
    keyed = "SELECT policy_domain AS domain FROM domain_windows WHERE days = $3::int AND as_of = $4::timestamptz AND " +
            key + " IS NOT NULL AND strpos(policy_domain, $2) > 0 AND $1::text[] IS NOT NULL";
    order = page.sort == "failed" ? "failed_key DESC, policy_domain" : "ratio_key, policy_domain";
  }
  std::vector<std::string> out =
      domains(keyed + " ORDER BY " + order + " LIMIT " + limit + " OFFSET " + std::to_string(offset));
  if (static_cast<std::int64_t>(out.size()) < page.limit) {  // the page reaches the domains without the figure
    const std::int64_t with = count("SELECT count(*)::text FROM (" + keyed + ") AS k");
    for (auto& d : domains(f + "SELECT domain FROM f WHERE domain NOT IN (" + keyed + ") ORDER BY domain LIMIT " +
                           std::to_string(page.limit - static_cast<std::int64_t>(out.size())) + " OFFSET " +
                           std::to_string(std::max<std::int64_t>(0, offset - with))))
      out.push_back(std::move(d));
  }
  return {out, total};
}

}  // namespace

std::string overview_json(Store& s, int days, const std::vector<std::string>& monitored, std::int64_t now,
                          const ListPage& page, const std::function<std::string(const std::string&)>& verdict) {
  const std::int64_t today = range_start(1, now);
  const std::int64_t from = range_start(days, now), from7 = range_start(7, now);
  const auto [domains, total] = list_page(s, days, monitored, today, page);
  Filter f;
  f.from = report::format_datetime(std::min(from, from7));  // (a range under 7 days still has its 7-day figure)
  auto points = daily_points(s, f, true, &domains);
  f.from = report::format_datetime(from);
  // The page's domains in order: its newest report, the organisations that reported in range and
  // the counts of its latest posture check.
  // (each a subquery per domain, read from its primary-key range)
  static const std::string sql =
      "SELECT d.policy_domain, (d.policy_domain = ANY($3::text[]) OR EXISTS (SELECT 1 FROM posture_checks c WHERE "
      "c.domain = d.policy_domain))::text, coalesce((SELECT json_build_object('id', p.report_id, "
      "'organization_name', p.organization_name, 'start_datetime', utc_text(p.start_datetime)) FROM policies p WHERE "
      "p.policy_domain = d.policy_domain ORDER BY p.start_datetime DESC, p.report_id DESC LIMIT 1)::text, 'null'), "
      "(SELECT coalesce(json_agg(o ORDER BY o), '[]')::text FROM (SELECT DISTINCT organization_name FROM policies WHERE "
      "policy_domain = d.policy_domain AND start_datetime >= $1::timestamptz) AS x (o)), "
      "coalesce((SELECT json_build_object('checked_at', utc_text(c.checked_at), "
      "'complete', c.complete, 'errors', c.errors, 'warnings', c.warnings) FROM posture_checks c WHERE c.domain = "
      "d.policy_domain ORDER BY c.checked_at DESC, c.id DESC LIMIT 1)::text, 'null') "
      "FROM unnest($2::text[]) WITH ORDINALITY AS d (policy_domain, n) ORDER BY d.n";
  std::string out = "{\"days\":" + std::to_string(days) + ",\"from\":\"" + *f.from + "\",\"sort\":";
  json::append_string(out, page.sort);
  out += ",\"q\":";
  json::append_string(out, page.name_contains);
  out += ",\"page\":" + std::to_string(page.page) + ",\"limit\":" + std::to_string(page.limit) +
         ",\"total\":" + std::to_string(total) + ",\"pages\":" + std::to_string((total + page.limit - 1) / page.limit) +
         ",\"domains\":[";
  bool first = true;
  for (const auto& row : s.query_rows(sql, {*f.from, text_array(domains), text_array(monitored)})) {
    const std::string& domain = row[0];
    const Series& series = points[domain];
    std::int64_t ok = 0, failed = 0, ok7 = 0, failed7 = 0;
    std::map<std::string, std::int64_t> by_result;
    std::string daily;
    for (std::int64_t day = std::min(from, from7); day <= today; day += 86400) {  // every day, zero when no report
      const auto it = series.find(day);
      const Point none;
      const Point& p = it == series.end() ? none : it->second;
      if (day >= from7) ok7 += p.ok, failed7 += p.failed;
      if (day < from) continue;
      ok += p.ok;
      failed += p.failed;
      for (const auto& [result, n] : p.merged) by_result[result] += n;
      daily += (daily.empty() ? "{\"time\":\"" : ",{\"time\":\"") + report::format_datetime(day) +
               "\",\"successful_sessions\":" + std::to_string(p.ok) + ",\"failed_sessions\":" + std::to_string(p.failed) + "}";
    }
    std::vector<std::pair<std::string, std::int64_t>> results(by_result.begin(), by_result.end());
    std::stable_sort(results.begin(), results.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    out += first ? "{\"policy_domain\":" : ",{\"policy_domain\":";
    first = false;
    json::append_string(out, domain);
    const bool is_monitored = row[1] == "true";
    out += ",\"monitored\":" + std::string(is_monitored ? "true" : "false") + ",\"last_7_days\":" + totals_json(ok7, failed7) +
           ",\"range\":" + totals_json(ok, failed) + ",\"daily\":[" + daily + "],\"by_result_type\":[";
    for (std::size_t i = 0; i < results.size(); ++i) {
      out += i ? ",{\"result_type\":" : "{\"result_type\":";
      json::append_string(out, results[i].first);
      out += ",\"sessions\":" + std::to_string(results[i].second) + "}";
    }
    out += "],\"newest_report\":" + row[2] + ",\"organizations\":" + row[3] + ",\"posture\":" + row[4] + ",\"readiness\":";
    const std::string v = is_monitored && verdict ? verdict(domain) : std::string();
    if (v.empty()) out += "null";
    else json::append_string(out, v);
    out += "}";
  }
  return out + "]}";
}

KnownMx known_mx(Store& s) {
  static const std::string sql =
      "SELECT k.domain, m->>'host' FROM known_domains k CROSS JOIN LATERAL (SELECT coalesce(c.result, (SELECT h.result "
      "FROM posture_checks h WHERE h.id = c.result_of)) AS result FROM posture_checks c WHERE c.domain = k.domain ORDER BY "
      "c.checked_at DESC, c.id DESC LIMIT 1) AS r CROSS JOIN LATERAL jsonb_array_elements(CASE jsonb_typeof(r.result->'mx') "
      "WHEN 'array' THEN r.result->'mx' ELSE '[]' END) AS m WHERE jsonb_typeof(m->'host') = 'string'";
  KnownMx out;
  for (const auto& row : s.query_rows(sql, {})) {
    std::string host = row[1];
    for (char& c : host) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (!host.empty() && host.back() == '.') host.pop_back();
    out[row[0]].insert(std::move(host));
  }
  return out;
}

report::MxOf mx_lookup(std::shared_ptr<const KnownMx> known) {
  return [known = std::move(known)](std::string_view domain, std::string_view host) {
    const auto it = known->find(std::string(domain));
    return it != known->end() && it->second.count(std::string(host)) > 0;
  };
}

int build_domain_windows(Store& s, const std::vector<int>& days) {
  std::vector<std::string> texts;
  for (int d : days) texts.push_back(std::to_string(d));
  return std::stoi(s.query_rows("SELECT build_domain_windows($1::int[], date_bin('1 day', now(), '2000-01-01Z'))::text",
                                {text_array(texts)}).at(0).at(0));
}

}  // namespace tlsrpt::store

namespace tlsrpt::store {

std::string status_json(Store& s, int days) {
  static const std::string sql =
      "WITH m AS (SELECT transport, outcome, reason, dkim, size, received_at FROM raw_messages WHERE received_at >= "
      "now() - make_interval(days => $1::int)) "
      "SELECT json_build_object('days', $1::int, 'database', 'up', 'inputs', (SELECT coalesce(json_agg(json_build_object("
      "'transport', transport, 'outcome', outcome, 'messages', n, 'bytes', b, 'newest', utc_text(t)) ORDER BY transport, "
      "outcome), '[]') FROM (SELECT transport, outcome, count(*) AS n, sum(size) AS b, max(received_at) AS t FROM m "
      "GROUP BY 1, 2) AS x), 'rejections', (SELECT coalesce(json_agg(json_build_object('reason', reason, 'messages', n) "
      "ORDER BY n DESC, reason), '[]') FROM (SELECT reason, count(*) AS n FROM m WHERE outcome = 'rejected' GROUP BY 1) "
      "AS x), 'dkim', (SELECT coalesce(json_agg(json_build_object('result', dkim, 'messages', n) ORDER BY n DESC, dkim), "
      "'[]') FROM (SELECT dkim, count(*) AS n FROM m WHERE outcome <> 'rejected' GROUP BY 1) AS x))::text";
  return s.query_json(sql, {std::to_string(days)});
}

namespace {

// Lines of a text column (string_agg with E'\n'); empty lines skipped.
std::vector<std::string> lines_of(const std::string& text) {
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

}  // namespace

FoundEvidence readiness_evidence(Store& s, const std::string& domain, int days, std::span<const std::string_view> blocking,
                                 bool authenticated_only) {
  // The evidence as JSON (built by PostgreSQL) and, beside it, the figures the verdict needs.
  static const std::string sql = R"SQL(
WITH every AS (
  SELECT p.id, p.report_id, p.policy_type, p.policy_string, p.mx_host, p.total_successful_session_count AS ok,
         p.total_failure_session_count AS failed, p.start_datetime, p.organization_name AS org, r.end_datetime,
         (NOT $4::boolean OR m.dkim = 'pass' OR (m.transport = 'cli' AND m.dkim IS NULL)
          OR (m.transport = 'https' AND coalesce(m.source->>'submitter', '') <> '')) AS counted
  FROM policies p JOIN reports r ON r.id = p.report_id JOIN raw_messages m ON m.id = r.raw_message_id
  WHERE p.policy_domain = $1 AND p.start_datetime >= now() - make_interval(days => $2::int)),
p AS (SELECT * FROM every WHERE counted),
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
  'left_out', json_build_object('reports', (SELECT count(DISTINCT report_id) FROM every WHERE NOT counted),
      'sessions', (SELECT coalesce(sum(ok + failed), 0) FROM every WHERE NOT counted)),
  'posture', CASE WHEN EXISTS (SELECT 1 FROM posture) THEN json_build_object('checked_at', utc_text((SELECT checked_at FROM posture)),
      'complete', (SELECT complete FROM posture), 'open_findings', coalesce((SELECT json_agg(json_build_object('finding', finding,
      'severity', severity, 'subject', subject, 'detail', detail) ORDER BY severity, finding, subject) FROM open), '[]')) END)
    AS evidence,
  (SELECT count(DISTINCT (start_datetime AT TIME ZONE 'UTC')::date) FROM p) AS days_with_reports,
  (SELECT count(*) FROM reporters) AS reporters,
  (SELECT string_agg(org || ': last report ' || utc_text(last), E'\n' ORDER BY org) FROM quiet) AS quiet_reporters,
  (SELECT coalesce(sum(ok + failed), 0) FROM sts) AS sts_sessions,
  (SELECT coalesce(sum(sessions), 0) FROM blocking) AS blocking_sessions,
  (SELECT result_type || ' on ' || CASE mx WHEN '' THEN 'an unnamed MX' ELSE mx END || ' (' || sessions || ' sessions)' FROM worst) AS worst,
  EXISTS (SELECT 1 FROM posture) AS monitored,
  (SELECT mode FROM posture) AS published_mode,
  (SELECT string_agg(finding || '@' || subject, E'\n' ORDER BY finding, subject) FROM open WHERE severity = 'error') AS posture_errors,
  (SELECT string_agg(mode || E'\n' || sessions, E'\n' ORDER BY mode) FROM modes) AS reported_modes,
  (SELECT coalesce(sum(failed), 0) FROM sts) AS sts_failed,
  (SELECT coalesce(sum(sessions), 0) FROM older) AS older_policy_sessions,
  (SELECT string_agg(org || ' applies policy id ' || sts_id || ', last published ' || utc_text(last_seen) ||
      CASE WHEN beyond_max_age THEN ', longer ago than its max_age' ELSE '' END || ' (' || sessions || ' sessions)', '; '
      ORDER BY sessions DESC, org) FROM older) AS older_policy
)SQL";
  std::string types;
  for (auto b : blocking) types += (types.empty() ? "" : ",") + std::string(b);
  const auto rows = s.query_named(sql, {domain, std::to_string(days), types, authenticated_only ? "true" : "false"});
  const auto& r = rows.at(0);
  FoundEvidence out;
  ReadinessEvidence& e = out.evidence;
  e.days_with_reports = std::stoi(r.at("days_with_reports"));
  e.reporters = std::stoi(r.at("reporters"));
  e.quiet_reporters = lines_of(r.at("quiet_reporters"));
  e.sts_sessions = std::stoll(r.at("sts_sessions"));
  e.blocking_sessions = std::stoll(r.at("blocking_sessions"));
  e.worst = r.at("worst");
  e.monitored = r.at("monitored") == "t";
  if (!r.at("published_mode").empty()) e.published_mode = r.at("published_mode");
  e.posture_errors = lines_of(r.at("posture_errors"));
  const auto modes = lines_of(r.at("reported_modes"));
  for (std::size_t i = 0; i + 1 < modes.size(); i += 2) e.reported_modes[modes[i]] = std::stoll(modes[i + 1]);
  e.sts_failed = std::stoll(r.at("sts_failed"));
  e.older_policy_sessions = std::stoll(r.at("older_policy_sessions"));
  e.older_policy = r.at("older_policy");
  out.json = r.at("evidence");
  return out;
}

DriftCounts recent_drift(Store& s, const std::string& domain, int days) {
  static const std::string sql =
      "SELECT p.policy_type, d.state, sum(p.total_successful_session_count + p.total_failure_session_count) AS sessions, "
      "coalesce(sum(p.total_successful_session_count + p.total_failure_session_count) FILTER (WHERE d.beyond_max_age), 0) "
      "AS beyond_max_age "
      "FROM policies p, policy_drift(p.policy_type, p.policy_domain, p.mx_host, p.policy_string, p.start_datetime) d "
      "WHERE p.policy_domain = $1 AND p.start_datetime >= now() - make_interval(days => $2::int) GROUP BY 1, 2";
  DriftCounts out;
  for (const auto& r : s.query_named(sql, {domain, std::to_string(days)})) {
    out.sessions[{r.at("policy_type"), r.at("state")}] = std::stoll(r.at("sessions"));
    out.beyond_max_age += std::stoll(r.at("beyond_max_age"));
  }
  return out;
}

namespace {

const std::string hosted_columns =
    "domain, mode, array_to_string(mx, E'\\n') AS mx, max_age, policy_id, utc_text(changed_at) AS changed_at, "
    "longest_max_age, utc_text(held_until) AS held_until, now() < held_until AS held, dns_state, coalesce(dns_id, '') AS dns_id, "
    "dns_detail, coalesce(utc_text(dns_at), '') AS dns_at, coalesce(utc_text(ready_since), '') AS ready_since, "
    "coalesce(extract(day FROM now() - ready_since)::bigint, 0) AS ready_days";

HostedPolicy hosted_of(const std::map<std::string, std::string>& r) {
  HostedPolicy h;
  h.domain = r.at("domain");
  h.mode = r.at("mode");
  h.mx = lines_of(r.at("mx"));
  h.max_age = std::stoll(r.at("max_age"));
  h.policy_id = r.at("policy_id");
  h.changed_at = r.at("changed_at");
  h.longest_max_age = std::stoll(r.at("longest_max_age"));
  h.held_until = r.at("held_until");
  h.held = r.at("held") == "t";
  h.dns_state = r.at("dns_state");
  h.dns_id = r.at("dns_id");
  h.dns_detail = r.at("dns_detail");
  h.dns_at = r.at("dns_at");
  h.ready_since = r.at("ready_since");
  h.ready_days = std::stoll(r.at("ready_days"));
  return h;
}


}  // namespace

std::optional<HostedPolicy> hosted_policy(Store& s, const std::string& domain) {
  static const std::string sql = "SELECT " + hosted_columns + " FROM hosted_policies WHERE domain = $1";
  const auto rows = s.query_named(sql, {domain});
  if (rows.empty()) return std::nullopt;
  return hosted_of(rows.front());
}

std::vector<HostedPolicy> hosted_policies(Store& s) {
  static const std::string sql = "SELECT " + hosted_columns + " FROM hosted_policies ORDER BY domain";
  std::vector<HostedPolicy> out;
  for (const auto& r : s.query_named(sql, {})) out.push_back(hosted_of(r));
  return out;
}

bool change_policy(Store& s, const PolicyChange& c) {
  static const std::string sql =
      "SELECT rollout_change($1, $2, $3, $4::text[], $5::bigint, $6, $7, $8, $9, $10::boolean) AS applied";
  const auto rows = s.query_named(sql, {c.domain, c.expected, c.mode, text_array(c.mx), std::to_string(c.max_age),
                                        c.policy_id, c.actor, c.action, c.reason, c.forced ? "true" : "false"});
  return !rows.empty() && rows.front().at("applied") == "t";
}

void record_policy_dns(Store& s, const std::string& domain, const std::string& policy_id, const std::string& state,
                       const std::string& dns_id, const std::string& detail) {
  static const std::string sql =
      "UPDATE hosted_policies SET dns_state = $3, dns_id = nullif($4, ''), dns_detail = $5, dns_at = now() "
      "WHERE domain = $1 AND policy_id = $2 AND (dns_state, coalesce(dns_id, ''), dns_detail) IS DISTINCT FROM ($3, $4, $5)";
  s.query_named(sql, {domain, policy_id, state, dns_id, detail});
}

void record_ready(Store& s, const std::string& domain, bool ready) {
  static const std::string sql =
      "UPDATE hosted_policies SET ready_since = CASE WHEN $2::boolean THEN coalesce(ready_since, now()) END WHERE domain = $1";
  s.query_named(sql, {domain, ready ? "true" : "false"});
}

std::string policy_history_json(Store& s, const std::string& domain, std::size_t limit) {
  static const std::string sql =
      "SELECT coalesce(json_agg(json_build_object('at', utc_text(at), 'actor', actor, 'action', action, 'reason', reason, "
      "'forced', forced, 'old', old, 'new', new) ORDER BY at DESC, id DESC), '[]') FROM "
      "(SELECT * FROM policy_changes WHERE domain = $1 ORDER BY at DESC, id DESC LIMIT $2::int) c";
  return s.query_json(sql, {domain, std::to_string(limit)});
}

ObservedMx observed_mx(Store& s, const std::string& domain) {
  static const std::string sql = R"SQL(
WITH c AS (SELECT pc.id, pc.checked_at, coalesce(pc.result, (SELECT result FROM posture_checks o WHERE o.id = pc.result_of)) AS result
           FROM posture_checks pc WHERE pc.domain = $1 ORDER BY pc.checked_at DESC, pc.id DESC LIMIT 1),
hosts AS (SELECT DISTINCT lower(rtrim(m->>'host', '.')) AS host FROM c, jsonb_array_elements(c.result->'mx') m)
SELECT utc_text(c.checked_at) AS checked_at,
       (SELECT string_agg(host, E'\n' ORDER BY host) FROM hosts) AS hosts,
       (SELECT string_agg(lower(rtrim(f.subject, '.')) || E'\n' || f.finding || ': ' || replace(f.detail, E'\n', ' '), E'\n' ORDER BY f.subject, f.finding)
        FROM posture_findings f WHERE f.check_id = c.id AND f.severity = 'error'
          AND lower(rtrim(f.subject, '.')) IN (SELECT host FROM hosts)) AS failing,
       coalesce(c.result->'mta_sts'->>'id', '') AS sts_id
FROM c)SQL";
  ObservedMx out;
  const auto rows = s.query_named(sql, {domain});
  if (rows.empty()) return out;
  const auto& r = rows.front();
  out.checked = true;
  out.checked_at = r.at("checked_at");
  out.hosts = lines_of(r.at("hosts"));
  const auto failing = lines_of(r.at("failing"));
  for (std::size_t i = 0; i + 1 < failing.size(); i += 2) out.failing.emplace_back(failing[i], failing[i + 1]);
  out.sts_id = r.at("sts_id");
  return out;
}

}  // namespace tlsrpt::store
