#include "store/queries.hpp"

namespace tlsrpt::store {
namespace {

using Params = std::vector<std::optional<std::string>>;

// $1..$7 in every statement: the filter.
Params filter_params(const Filter& f) {
  return {f.from, f.to, f.policy_domain, f.organization, f.policy_type, f.result_type, f.mx_host};
}

// session_counts rows in the range ($1, $2 against the hour bucket) for the domain,
// organisation and policy type.
constexpr const char* counts_in_filter =
    "SELECT * FROM session_counts WHERE bucket >= coalesce(date_trunc('hour', $1::timestamptz, 'UTC'), '-infinity') "
    "AND bucket < coalesce($2::timestamptz, 'infinity') AND ($3::text IS NULL OR policy_domain = $3) "
    "AND ($4::text IS NULL OR organization_name = $4) AND ($5::text IS NULL OR policy_type = $5)";

// Failure-detail rows of `sc` narrowed by result type ($6) and receiving MX ($7).
constexpr const char* details_in_filter =
    "SELECT * FROM sc WHERE result NOT IN ('success', 'failure') AND ($6::text IS NULL OR result = $6) "
    "AND ($7::text IS NULL OR mx_host = $7)";

// Successful and failed totals of `sc` grouped by `column`, as a JSON array named by `key`.
std::string totals_by(const std::string& column, const std::string& key) {
  return "(SELECT coalesce(json_agg(json_build_object('" + key + "', g, 'successful_sessions', ok, 'failed_sessions', "
         "failed, 'success_ratio', success_ratio(ok, failed)) ORDER BY failed DESC, g), '[]') FROM (SELECT " + column +
         " AS g, coalesce(sum(sessions) FILTER (WHERE result = 'success'), 0) AS ok, coalesce(sum(sessions) FILTER "
         "(WHERE result = 'failure'), 0) AS failed FROM sc GROUP BY 1) AS x)";
}

// A page of rows of `inner` (which selects id and a JSON object o, newest first, at most
// limit + 1 rows) as {"<key>": [...], "next_cursor": "<id>" or null}. $8 is the limit.
std::string page_of(const std::string& key, const std::string& inner) {
  return "SELECT json_build_object('" + key + "', coalesce(json_agg(o ORDER BY id DESC) FILTER (WHERE n <= $8), '[]'), "
         "'next_cursor', CASE WHEN count(*) > $8 THEN (min(id) FILTER (WHERE n <= $8))::text END)::text FROM (SELECT "
         "id, o, row_number() OVER (ORDER BY id DESC) AS n FROM (" + inner + ") AS i) AS x";
}

Params page_params(const Filter& f, const Page& p) {
  Params a = filter_params(f);
  a.emplace_back(std::to_string(p.limit));
  a.emplace_back(p.before ? std::optional<std::string>(std::to_string(*p.before)) : std::nullopt);
  return a;
}

}  // namespace

std::string domains_json(Store& s, const Filter& f) {
  static const std::string sql =
      std::string("WITH sc AS (") + counts_in_filter + ") "
      "SELECT json_build_object('domains', coalesce(json_agg(json_build_object('policy_domain', policy_domain, "
      "'successful_sessions', ok, 'failed_sessions', failed, 'success_ratio', success_ratio(ok, failed), "
      "'last_report_start', (SELECT utc_text(max(p.start_datetime)) FROM policies p WHERE p.policy_domain = d.policy_domain)) "
      "ORDER BY policy_domain), '[]'))::text FROM (SELECT policy_domain, coalesce(sum(sessions) FILTER (WHERE result = "
      "'success'), 0) AS ok, coalesce(sum(sessions) FILTER (WHERE result = 'failure'), 0) AS failed FROM sc "
      "WHERE $6::text IS NULL AND $7::text IS NULL GROUP BY 1) AS d";  // the route takes neither
  return s.query_json(sql, filter_params(f));
}

std::string summary_json(Store& s, const Filter& f) {
  static const std::string sql =
      std::string("WITH sc AS (") + counts_in_filter + "), dt AS (" + details_in_filter + "), "
      "t AS (SELECT coalesce(sum(sessions) FILTER (WHERE result = 'success'), 0) AS ok, "
      "coalesce(sum(sessions) FILTER (WHERE result = 'failure'), 0) AS failed FROM sc) "
      "SELECT json_build_object('successful_sessions', t.ok, 'failed_sessions', t.failed, "
      "'success_ratio', success_ratio(t.ok, t.failed), "
      "'by_result_type', (SELECT coalesce(json_agg(json_build_object('result_type', result, 'sessions', n) "
      "ORDER BY n DESC, result), '[]') FROM (SELECT result, sum(sessions) AS n FROM dt GROUP BY 1) AS x), "
      "'by_policy_type', " + totals_by("policy_type", "policy_type") + ", "
      "'by_organization', " + totals_by("organization_name", "organization_name") + ", "
      "'by_mx_host', (SELECT coalesce(json_agg(json_build_object('mx_host', nullif(mx_host, ''), 'sessions', n) "
      "ORDER BY n DESC, mx_host), '[]') FROM (SELECT mx_host, sum(sessions) AS n FROM dt GROUP BY 1 "
      "ORDER BY 2 DESC, 1 LIMIT 1000) AS x))::text FROM t";
  return s.query_json(sql, filter_params(f));
}

std::string timeseries_json(Store& s, const Filter& f, const std::string& bucket) {
  static const std::string sql =
      std::string("WITH sc AS (") + counts_in_filter + "), "
      "b AS (SELECT date_trunc($8, bucket, 'UTC') AS t, result, sum(sessions) AS n FROM sc WHERE result IN "
      "('success', 'failure') OR (($6::text IS NULL OR result = $6) AND ($7::text IS NULL OR mx_host = $7)) GROUP BY 1, 2) "
      "SELECT json_build_object('bucket', $8::text, 'points', coalesce(json_agg(json_build_object('time', utc_text(t), "
      "'successful_sessions', ok, 'failed_sessions', failed, 'by_result_type', by_result) ORDER BY t), '[]'))::text "
      "FROM (SELECT t, coalesce(sum(n) FILTER (WHERE result = 'success'), 0) AS ok, "
      "coalesce(sum(n) FILTER (WHERE result = 'failure'), 0) AS failed, coalesce(json_object_agg(result, n ORDER BY result) "
      "FILTER (WHERE result NOT IN ('success', 'failure')), '{}') AS by_result FROM b GROUP BY t) AS p";
  Params a = filter_params(f);
  a.emplace_back(bucket);
  return s.query_json(sql, a);
}

std::string reports_json(Store& s, const Filter& f, const Page& page) {
  static const std::string sql = page_of(
      "reports",
      "SELECT r.id, json_build_object('id', r.id, 'organization_name', r.organization_name, 'report_id', r.report_id, "
      "'start_datetime', utc_text(r.start_datetime), 'end_datetime', utc_text(r.end_datetime), "
      "'successful_sessions', r.successful_sessions, 'failed_sessions', r.failed_sessions, "
      "'policy_domains', (SELECT json_agg(DISTINCT p.policy_domain) FROM policies p WHERE p.report_id = r.id), "
      "'stored_at', utc_text(r.stored_at), 'raw_message_id', r.raw_message_id) AS o FROM reports r "
      "WHERE r.start_datetime >= coalesce($1::timestamptz, '-infinity') AND r.start_datetime < "
      "coalesce($2::timestamptz, 'infinity') AND ($4::text IS NULL OR r.organization_name = $4) "
      "AND ($3::text IS NULL AND $5::text IS NULL OR EXISTS (SELECT 1 FROM policies p WHERE p.report_id = r.id "
      "AND ($3::text IS NULL OR p.policy_domain = $3) AND ($5::text IS NULL OR p.policy_type = $5))) "
      "AND ($6::text IS NULL AND $7::text IS NULL OR EXISTS (SELECT 1 FROM policies p JOIN failure_details d ON "
      "d.policy_id = p.id WHERE p.report_id = r.id AND ($3::text IS NULL OR p.policy_domain = $3) AND ($5::text IS "
      "NULL OR p.policy_type = $5) AND ($6::text IS NULL OR d.result_type = $6) AND ($7::text IS NULL OR "
      "d.receiving_mx_hostname = $7))) AND ($9::bigint IS NULL OR r.id < $9) ORDER BY r.id DESC LIMIT $8::int + 1");
  return s.query_json(sql, page_params(f, page));
}

std::string rejected_json(Store& s, const Filter& f, const std::optional<std::string>& reason, const Page& page) {
  static const std::string sql = page_of(
      "rejected",
      "SELECT id, json_build_object('id', id, 'received_at', utc_text(received_at), 'transport', transport, "
      "'reason', reason, 'detail', detail, 'size', size, 'source', source) AS o FROM raw_messages "
      "WHERE outcome = 'rejected' AND received_at >= coalesce($1::timestamptz, '-infinity') AND received_at < "
      "coalesce($2::timestamptz, 'infinity') AND ($10::text IS NULL OR reason = $10) AND ($9::bigint IS NULL OR "
      "id < $9) AND $3::text IS NULL AND $4::text IS NULL AND $5::text IS NULL AND $6::text IS NULL AND $7::text IS "
      "NULL ORDER BY id DESC LIMIT $8::int + 1");
  Params a = page_params(f, page);
  a.push_back(reason);
  return s.query_json(sql, a);
}

std::optional<StoredReport> stored_report(Store& s, std::int64_t id) {
  // "<json> <dedup key hex> <raw message id>": one round trip for the row, one for the bytes.
  static const std::string sql =
      "SELECT json_build_object('id', r.id, 'stored_at', utc_text(r.stored_at), 'quirks', (SELECT coalesce(json_agg(q.quirk "
      "ORDER BY q.quirk), '[]') FROM report_quirks q WHERE q.report_id = r.id), 'raw_message', json_build_object('id', "
      "m.id, 'received_at', utc_text(m.received_at), 'transport', m.transport, 'source', m.source, 'size', m.size, "
      "'sha256', encode(m.sha256, 'hex'), 'part', r.source_part, 'filename', r.source_filename))::text || ' ' || "
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

}  // namespace tlsrpt::store
