#include "store/store.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <libpq-fe.h>
#include <pqxx/pqxx>
#include <map>
#include <set>

#include "store/migrations.hpp"

namespace tlsrpt::store {
namespace {

constexpr long migration_lock = 0x746c7372;  // "tlsr": the advisory lock key for migrations
// The bulk statement takes messages up to this size, this many bytes in all (the bodies travel
// as one parameter) and this many failure-details of first policies in all (each column of them
// one text parameter; PostgreSQL takes at most 1 GB in one).
constexpr std::size_t bulk_message_bytes = 256 * 1024, bulk_total_bytes = 4 * 1024 * 1024, bulk_details = 200000;

std::string hex(const unsigned char* data, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(n * 2, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  return out;
}

// bytea input in PostgreSQL's hex format.
std::string bytea_literal(std::string_view bytes) {
  std::string out;
  out.reserve(2 + 2 * bytes.size());
  out.append("\\x");
  out.append(hex(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()));
  return out;
}

// A text[] literal: {"a","b",NULL}.
class TextArray {
 public:
  void add(std::string_view s) {
    sep();
    out_ += '"';
    for (char c : s) {
      if (c == '"' || c == '\\') out_ += '\\';
      out_ += c;
    }
    out_ += '"';
  }
  void add(std::optional<std::string_view> s) {
    if (s) {
      add(*s);
    } else {
      sep();
      out_ += "NULL";
    }
  }
  std::string str() const { return "{" + out_ + "}"; }

 private:
  void sep() {
    if (!out_.empty()) out_ += ',';
  }
  std::string out_;
};

std::string text_array(const std::vector<std::string>& v) {
  TextArray a;
  for (const auto& s : v) a.add(std::string_view(s));
  return a.str();
}

// Errors the sender or a later run can get past by retrying: the connection, the server
// shutting down, resources, serialization. SQLSTATE classes 08, 57, 53, 40.
bool transient_state(const std::string& state) {
  return state.starts_with("08") || state.starts_with("57") || state.starts_with("53") || state.starts_with("40");
}

template <class F>
auto translate(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const pqxx::broken_connection& e) {
    throw Error(std::string(what) + ": database connection lost: " + e.what(), true);
  } catch (const pqxx::in_doubt_error& e) {
    throw Error(std::string(what) + ": commit in doubt: " + e.what(), true);
  } catch (const pqxx::sql_error& e) {
    // 57014: canceled, here by statement_timeout (the only canceller tlsrpt sets)
    throw Error(std::string(what) + ": " + e.what(), transient_state(e.sqlstate()), e.sqlstate() == "57014");
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(std::string(what) + ": " + e.what(), false);
  }
}


// Every value as text, NULL as "".
std::vector<std::vector<std::string>> rows_of(const pqxx::result& r) {
  std::vector<std::vector<std::string>> out;
  out.reserve(r.size());
  for (const auto& row : r) {
    auto& o = out.emplace_back();
    o.reserve(row.size());
    for (const auto& field : row) o.emplace_back(field.is_null() ? std::string() : field.c_str());
  }
  return out;
}

std::optional<std::string> opt(const std::string& s) { return s.empty() ? std::nullopt : std::optional<std::string>(s); }

}  // namespace

std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string_view header_section(std::string_view bytes) {
  const std::string_view window = bytes.substr(0, 64 * 1024);
  const auto colon = window.find(':');
  const auto eol = window.find('\n');
  if (colon == std::string_view::npos || colon == 0 || eol == std::string_view::npos || colon > eol) return {};
  for (char c : window.substr(0, colon))  // a field name: printable ASCII but ':' and space
    if (c <= ' ' || c > '~') return {};
  for (std::size_t at = eol; at != std::string_view::npos; at = window.find('\n', at + 1)) {
    const std::string_view rest = window.substr(at + 1);
    if (rest.starts_with("\n") || rest.starts_with("\r\n")) return window.substr(0, at + 1);
  }
  return window;  // no end within 64 KiB: the first 64 KiB
}

std::string dedup_key(const report::Report& r) {
  // (the domains as written: a copy is the same report whatever tlsrpt knew of MX hosts then)
  std::set<std::string_view> domains;
  for (const auto& p : r.policies) domains.insert(p.written_domain.empty() ? p.policy_domain : p.written_domain);
  std::string key = r.organization_name;
  key += '\0';
  key += r.report_id;
  key += '\0';
  key += std::to_string(r.start_datetime) + '\0' + std::to_string(r.end_datetime);
  for (auto d : domains) {
    key += '\0';
    key += d;
  }
  return sha256_hex(key);
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr);
  return hex(md, n);
}

std::string_view to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::stored: return "stored";
    case Outcome::duplicate: return "duplicate";
    case Outcome::rejected: return "rejected";
  }
  return "rejected";
}

// A policy's rows of session_counts (see migrations/0002), summed: bucket, policy domain,
// organisation, policy type, result, MX host, sessions. The arguments are SQL expressions: report
// start (epoch seconds), policy domain, organisation, policy type, successful and failed totals,
// and the failure-details' result-type, receiving-mx-hostname and count arrays. `from` limits it
// to when a row exists there ("r, " in the report statement: nothing for a duplicate), or gives
// the rows the expressions name (the bulk statement: one per new report).
std::string counts_select(const std::string& start, const std::string& domain, const std::string& org,
                          const std::string& type, const std::string& ok, const std::string& failed,
                          const std::string& results, const std::string& mx, const std::string& counts,
                          const std::string& from = "") {
  return "SELECT date_trunc('hour', to_timestamp(" + start + "), 'UTC') AS bucket, " + domain + " AS policy_domain, " +
         org + " AS organization_name, " + type + " AS policy_type, k.result, k.mx_host, sum(k.sessions) AS sessions "
         "FROM " + from + "LATERAL (SELECT 'success', '', " + ok + "::bigint UNION ALL SELECT 'failure', '', " + failed +
         "::bigint UNION ALL SELECT t.rt, coalesce(t.mx, ''), t.n FROM unnest(" + results + "::text[], " + mx +
         "::text[], " + counts + "::bigint[]) AS t (rt, mx, n)) AS k (result, mx_host, sessions) WHERE k.sessions > 0 "
         "GROUP BY 1, 2, 3, 4, 5, 6";
}

// Appends a policy's rows (counts_select) to session_counts_new, for compaction to add to the
// rollups: plain inserts, so concurrent writers never wait for each other here.
std::string counts_sql(const std::string& start, const std::string& domain, const std::string& org,
                       const std::string& type, const std::string& ok, const std::string& failed,
                       const std::string& results, const std::string& mx, const std::string& counts,
                       const std::string& from = "") {
  return "INSERT INTO session_counts_new (bucket, policy_domain, organization_name, policy_type, result, mx_host, sessions) " +
         counts_select(start, domain, org, type, ok, failed, results, mx, counts, from);
}

// A report with its quirks, its first policy and that policy's failure-details in one statement
// (data-modifying CTEs); nothing is written for a duplicate. $1 is the raw message id (or an
// expression for it); $2..$26 the report. As a whole statement it returns the report's id.
std::string report_sql(const std::string& raw_id, bool whole = true) {
  std::string sql = std::string(whole ? "WITH " : "") +
                    "r AS (INSERT INTO reports (raw_message_id, dedup_key, organization_name, contact_info, report_id, "
                    "start_datetime, end_datetime, successful_sessions, failed_sessions, source_part, source_filename) "
                    "VALUES (" + raw_id + ", decode($2, 'hex'), $3, $4, $5, to_timestamp($6), to_timestamp($7), $8, $9, "
                    "$10, $11) ON CONFLICT (dedup_key) DO NOTHING RETURNING id), "
                    "q AS (INSERT INTO report_quirks (report_id, quirk) SELECT r.id, unnest($12::text[]) FROM r), "
                    "p AS (INSERT INTO policies (report_id, position, policy_type, policy_string, policy_domain, mx_host, "
                    "total_successful_session_count, total_failure_session_count, start_datetime, organization_name) "
                    "SELECT r.id, 0, $13, $14::text[], $15, $16::text[], $17, $18, to_timestamp($6), $3 FROM r RETURNING id), "
                    "d AS (INSERT INTO failure_details (policy_id, result_type, sending_mta_ip, receiving_mx_hostname, "
                    "receiving_mx_helo, receiving_ip, failed_session_count, additional_information, failure_reason_code, "
                    "policy_domain, start_datetime) SELECT p.id, t.*, $15, to_timestamp($6) FROM p, unnest($19::text[], "
                    "$20::text[], $21::text[], $22::text[], $23::text[], $24::bigint[], $25::text[], $26::text[]) AS t), "
                    "c AS (" + counts_sql("$6", "$15", "$3", "$13", "$17", "$18", "$19", "$21", "$24", "r, ") + ")";
  return whole ? sql + " SELECT id FROM r" : sql;
}

// Many messages of one report each in one statement (the per-statement cost, not the rows, is
// most of a small report's cost): $1..$25 but $5 are arrays with one element per message
// (message n at index n), $26..$34 the failure-details of the messages' first policies,
// flattened, with the index of their message. Ids come from the sequences up front, so every row
// is tied to its message without relying on the order of RETURNING. The caller guarantees that
// no two messages have the same bytes or the same report (dedup key): within one statement,
// neither the earlier body nor the earlier report would be seen. Returns, per message in order,
// its raw message id and its report's id, NULL for a duplicate (whose report is not written);
// the first row also carries the statement's counts, summed over its new reports, as a
// session_counts[] literal (NULL when there are none) for the caller to add to the rollups
// (add_session_counts, migration 0012) last in its transaction (see store_all): one addition per
// statement instead of a row per report for compaction to move.
std::string bulk_sql() {
  // The bodies, most of the bytes, come as one binary bytea ($5: each message's `size` bytes in
  // turn, no hex either way) and are cut out once, by the raw_messages insert; the other CTEs
  // carry only what they use.
  return "WITH m AS (SELECT u.*, sum(u.size) OVER (ORDER BY u.n) - u.size + 1 AS off FROM unnest($1::text[], "
         "$2::text[], $3::text[], $4::int[], $6::text[], "
         "$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[], $14::bigint[], "
         "$15::bigint[], $16::bigint[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], "
         "$23::text[], $24::bigint[], $25::bigint[]) WITH ORDINALITY AS u (transport, source, sha, size, client, "
         "dkim, dkim_json, dedup, org, contact, report_id, start_s, end_s, ok, failed, part, filename, quirks, ptype, "
         "pstring, pdomain, pmx, pok, pfailed, n)), "
         "ids AS MATERIALIZED (SELECT m.*, nextval('raw_messages_id_seq') AS raw_id, nextval('reports_id_seq') AS rid, "
         "nextval('policies_id_seq') AS pid, (SELECT id FROM raw_messages WHERE sha256 = decode(m.sha, 'hex') AND "
         "body IS NOT NULL ORDER BY sha256, id LIMIT 1) AS dup_of FROM m), "
         "raw AS (INSERT INTO raw_messages (id, transport, source, sha256, size, body, duplicate_of, outcome, reports, "
         "client, dkim, dkim_detail) SELECT raw_id, transport, source::jsonb, decode(sha, 'hex'), size, CASE WHEN dup_of "
         "IS NULL THEN substring($5::bytea FROM off::int FOR size) END, dup_of, 'stored', 1, client, dkim, "
         "dkim_json::jsonb FROM ids ORDER BY n), "
         "r AS (INSERT INTO reports (id, raw_message_id, dedup_key, organization_name, contact_info, report_id, "
         "start_datetime, end_datetime, successful_sessions, failed_sessions, source_part, source_filename) SELECT rid, "
         "raw_id, decode(dedup, 'hex'), org, contact, report_id, to_timestamp(start_s), to_timestamp(end_s), ok, failed, "
         "part, filename FROM ids ORDER BY n ON CONFLICT (dedup_key) DO NOTHING RETURNING id), "
         "new AS MATERIALIZED (SELECT ids.n, rid, pid, quirks, ptype, pstring, pdomain, pmx, pok, pfailed, start_s, org "
         "FROM ids JOIN r ON r.id = ids.rid), "
         "q AS (INSERT INTO report_quirks (report_id, quirk) SELECT rid, unnest(quirks::text[]) FROM new), "
         "p AS (INSERT INTO policies (id, report_id, position, policy_type, policy_string, policy_domain, mx_host, "
         "total_successful_session_count, total_failure_session_count, start_datetime, organization_name) SELECT pid, "
         "rid, 0, ptype, pstring::text[], pdomain, pmx::text[], pok, pfailed, to_timestamp(start_s), org FROM new), "
         "det AS MATERIALIZED (SELECT * FROM unnest($26::bigint[], $27::text[], $28::text[], $29::text[], $30::text[], "
         "$31::text[], $32::bigint[], $33::text[], $34::text[]) AS d (n, result_type, sending_mta_ip, mx, helo, rip, "
         "sessions, info, code)), "
         "d AS (INSERT INTO failure_details (policy_id, result_type, sending_mta_ip, receiving_mx_hostname, "
         "receiving_mx_helo, receiving_ip, failed_session_count, additional_information, failure_reason_code, "
         "policy_domain, start_datetime) SELECT new.pid, det.result_type, det.sending_mta_ip, det.mx, det.helo, det.rip, "
         "det.sessions, det.info, det.code, new.pdomain, to_timestamp(new.start_s) FROM det JOIN new ON new.n = det.n), "
         "a AS (SELECT n, array_agg(result_type) AS rt, array_agg(mx) AS mx, array_agg(sessions) AS sessions FROM det "
         "GROUP BY n), "
         "c AS (SELECT array_agg(ROW(k.*)::session_counts)::text AS counts FROM (" +
         counts_select("new.start_s", "new.pdomain", "new.org", "new.ptype", "new.pok", "new.pfailed", "a.rt", "a.mx",
                       "a.sessions", "new LEFT JOIN a ON a.n = new.n, ") + ") AS k) "
         "SELECT ids.raw_id, r.id, CASE WHEN ids.n = 1 THEN c.counts END FROM ids LEFT JOIN r ON r.id = ids.rid, c "
         "ORDER BY ids.n";
}

// Inserts a raw message, keeping its bytes only when no earlier row has the same bytes (then
// duplicate_of points at that one). The arguments are the SQL expressions for the columns.
// `client`, `head` and `dropped` are the client key, the header section kept in place of a
// dropped body, and why it was dropped (NULL when kept); `dkim` and `dkim_json` the DKIM result.
std::string raw_sql(const char* transport, const char* source, const char* sha, const char* size, const char* body,
                    const char* outcome, const char* reason, const char* detail, const char* reports,
                    const char* client, const char* head, const char* dropped, const char* dkim, const char* dkim_json) {
  return std::string("INSERT INTO raw_messages (transport, source, sha256, size, body, duplicate_of, outcome, reason, "
                     "detail, reports, client, head, body_dropped, dkim, dkim_detail) SELECT ") + transport + ", " + source +
         "::jsonb, decode(" + sha + ", 'hex'), " + size + ", CASE WHEN c.id IS NULL THEN " + body + "::bytea END, c.id, " +
         outcome + ", " + reason + ", " + detail + ", " + reports + ", " + client + ", " + head + "::bytea, " + dropped +
         ", " + dkim + ", " + dkim_json + "::jsonb" +
         " FROM (SELECT (SELECT id FROM raw_messages WHERE sha256 = decode(" + sha +
         ", 'hex') AND body IS NOT NULL ORDER BY sha256, id LIMIT 1) AS id) AS c RETURNING id";
}

// Each report's dedup_key, in order.
std::vector<std::string> report_keys(const pipeline::Result& result) {
  std::vector<std::string> out;
  for (const auto& parsed : result.reports) out.push_back(dedup_key(parsed.report));
  return out;
}

// What identifies a message and its reports, worked out once per message: the SHA-256 of its
// bytes (hex) and report_keys().
struct Identities {
  std::string sha;
  std::vector<std::string> reports;
};

struct Store::Impl {
  pqxx::connection conn;
  std::unique_ptr<pqxx::work> batch;
  std::map<std::string, std::string> api_statements;  // statement text -> prepared name

  explicit Impl(const std::string& url) : conn(url) {
    conn.prepare("raw_insert", raw_sql("$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$14"));
    // Adds a rejected input's bytes to its client's and everyone's count for the UTC day; returns both totals.
    conn.prepare("rejected_quota",
                 "WITH mine AS (INSERT INTO rejected_quota AS q (day, client, bytes, messages) "
                 "VALUES ((now() AT TIME ZONE 'UTC')::date, $1, $2, 1) ON CONFLICT (day, client) DO UPDATE "
                 "SET bytes = q.bytes + excluded.bytes, messages = q.messages + 1 RETURNING bytes), "
                 "everyone AS (INSERT INTO rejected_quota AS q (day, client, bytes, messages) "
                 "VALUES ((now() AT TIME ZONE 'UTC')::date, '', $2, 1) ON CONFLICT (day, client) DO UPDATE "
                 "SET bytes = q.bytes + excluded.bytes, messages = q.messages + 1 RETURNING bytes) "
                 "SELECT (SELECT bytes FROM mine), (SELECT bytes FROM everyone)");
    conn.prepare("raw_outcome",
                 "UPDATE raw_messages SET outcome = $2, reason = $3, detail = $4, reports = $5, processed_at = now() WHERE id = $1");
    // A report with its quirks, its first policy and that policy's failure-details: one round
    // trip. Nothing but the report's id comes back, and nothing is written for a duplicate.
    conn.prepare("report_insert", report_sql("$1"));
    // The common case, a message with one report: the raw message and the report in one statement.
    conn.prepare("raw_and_report_insert",
                 "WITH raw AS (" + raw_sql("$1", "$27", "$28", "$29", "$30", "'stored'", "NULL", "NULL", "1", "$31", "NULL",
                                           "NULL", "$32", "$33") + "), " +
                     report_sql("(SELECT id FROM raw)", false) + ", rr AS (SELECT id FROM r) "
                     "SELECT (SELECT id FROM raw), (SELECT id FROM rr)");
    conn.prepare("policy_insert",
                 "INSERT INTO policies (report_id, position, policy_type, policy_string, policy_domain, mx_host, "
                 "total_successful_session_count, total_failure_session_count, start_datetime, organization_name) "
                 "VALUES ($1, $2, $3, $4::text[], $5, $6::text[], $7, $8, to_timestamp($9), $10) RETURNING id");
    conn.prepare("bulk_insert", bulk_sql());
    conn.prepare("counts_add", "SELECT add_session_counts($1::session_counts[])");
    conn.prepare("counts_insert", counts_sql("$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9"));
    conn.prepare("details_insert",
                 "INSERT INTO failure_details (policy_id, result_type, sending_mta_ip, receiving_mx_hostname, "
                 "receiving_mx_helo, receiving_ip, failed_session_count, additional_information, failure_reason_code, "
                 "policy_domain, start_datetime) "
                 "SELECT $1, t.*, $10, to_timestamp($11) FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], "
                 "$6::text[], $7::bigint[], $8::text[], $9::text[]) AS t");
  }

  // Runs a read-only statement, prepared once per connection and statement text (the API builds
  // one text per shape of filter), so that repeated questions skip planning; one round trip.
  pqxx::result run_prepared(const std::string& sql, const std::vector<std::optional<std::string>>& params) {
    auto [it, fresh] = api_statements.try_emplace(sql, "api_" + std::to_string(api_statements.size()));
    if (fresh) conn.prepare(it->second, sql);
    pqxx::nontransaction tx(conn);
    return tx.exec_prepared(it->second, pqxx::prepare::make_dynamic_params(params));
  }

  // Failure-details as the eight column arrays the insert statements unnest, optionally with the
  // index of each detail's message (the bulk statement, which flattens many policies' details).
  class DetailColumns {
   public:
    void add(const report::Policy& p, std::optional<std::int64_t> message = std::nullopt) {
      using F = report::FailureDetail;
      // The text fields' columns (column 5 is failed-session-count).
      const std::pair<F::Field, int> text[] = {{F::result_type, 0},          {F::sending_mta_ip, 1},
                                               {F::receiving_mx_hostname, 2}, {F::receiving_mx_helo, 3},
                                               {F::receiving_ip, 4},          {F::additional_information, 6},
                                               {F::failure_reason_code, 7}};
      for (const auto& fd : p.failure_details) {
        for (const auto& [field, column] : text) cols_[column].add(fd.optional(field));
        cols_[5].add(std::string_view(std::to_string(fd.failed_session_count)));
        if (message) index_.add(std::string_view(std::to_string(*message)));
      }
    }
    // result-type, sending-mta-ip, receiving-mx-hostname, receiving-mx-helo, receiving-ip,
    // failed-session-count, additional-information, failure-reason-code.
    std::vector<std::string> columns() const {
      std::vector<std::string> out;
      for (const auto& c : cols_) out.push_back(c.str());
      return out;
    }
    std::string index() const { return index_.str(); }

   private:
    TextArray cols_[8], index_;
  };

  // Parameters $2..$18 of the report statements: the report (`key`: its dedup_key) and its first
  // policy, without the policy's failure-details.
  static std::vector<std::optional<std::string>> report_fields(const pipeline::Parsed& parsed, const std::string& key) {
    const report::Report& r = parsed.report;
    TextArray quirks;
    r.quirks.for_each([&quirks](report::Quirk k) { quirks.add(report::to_string(k)); });
    const report::Policy& first = r.policies.front();
    return {key, r.organization_name, r.contact_info, r.report_id,
            std::to_string(r.start_datetime), std::to_string(r.end_datetime),
            std::to_string(r.total_successful()), std::to_string(r.total_failure()),
            opt(parsed.origin.part), opt(parsed.origin.filename), quirks.str(),
            first.policy_type, text_array(first.policy_string), first.policy_domain,
            text_array(first.mx_host),
            std::to_string(first.total_successful_session_count),
            std::to_string(first.total_failure_session_count)};
  }

  // Parameters $2..$26 of the report statements.
  static std::vector<std::optional<std::string>> report_args(const pipeline::Parsed& parsed, const std::string& key) {
    auto a = report_fields(parsed, key);
    DetailColumns d;
    d.add(parsed.report.policies.front());
    for (auto& c : d.columns()) a.emplace_back(std::move(c));
    return a;
  }

  // The policies after the first, for a report just inserted.
  void insert_more_policies(pqxx::transaction_base& tx, std::int64_t report_id, const report::Report& r) {
    for (std::size_t i = 1; i < r.policies.size(); ++i) {
      const report::Policy& p = r.policies[i];
      const auto policy_id =
          tx.exec_prepared("policy_insert", report_id, static_cast<int>(i), p.policy_type, text_array(p.policy_string),
                           p.policy_domain, text_array(p.mx_host), p.total_successful_session_count,
                           p.total_failure_session_count, r.start_datetime, r.organization_name)[0][0]
              .as<std::int64_t>();
      DetailColumns d;
      d.add(p);
      const auto pd = d.columns();
      tx.exec_prepared("counts_insert", r.start_datetime, p.policy_domain, r.organization_name, p.policy_type,
                       p.total_successful_session_count, p.total_failure_session_count, pd[0], pd[2], pd[5]);
      if (p.failure_details.empty()) continue;
      tx.exec_prepared("details_insert", policy_id, pd[0], pd[1], pd[2], pd[3], pd[4], pd[5], pd[6], pd[7],
                       p.policy_domain, r.start_datetime);
    }
  }

  // Inserts one report unless it is stored already; returns whether it was new.
  bool insert_report(pqxx::transaction_base& tx, std::int64_t raw_id, const pipeline::Parsed& parsed,
                     const std::string& key) {
    const pqxx::result ins =
        tx.exec_prepared("report_insert", raw_id, pqxx::prepare::make_dynamic_params(report_args(parsed, key)));
    if (ins.empty()) return false;
    insert_more_policies(tx, ins[0][0].as<std::int64_t>(), parsed.report);
    return true;
  }

  // One message by the one-message statements; `ids` are its identities.
  StoreResult store_in(pqxx::transaction_base& tx, const RawMessage& raw, const pipeline::Result& result,
                       const Identities& ids) {
    const std::string& sha = ids.sha;
    if (result.reports.size() == 1) {  // the common case: one statement
      const pipeline::Parsed& parsed = result.reports.front();
      const pqxx::row row = tx.exec_prepared1("raw_and_report_insert", raw.transport,
                                              pqxx::prepare::make_dynamic_params(report_args(parsed, ids.reports[0])),
                                              raw.source_json,
                                              sha, static_cast<std::int64_t>(raw.bytes.size()), bytea_literal(raw.bytes),
                                              opt(raw.client), raw.dkim, raw.dkim_json);
      StoreResult out;
      out.raw_id = row[0].as<std::int64_t>();
      out.fresh.push_back(!row[1].is_null());
      if (row[1].is_null()) {
        out.duplicate_reports = 1;
        mark_duplicate(tx, out, 1);
      } else {
        out.outcome = Outcome::stored;
        out.new_reports = 1;
        insert_more_policies(tx, row[1].as<std::int64_t>(), parsed.report);
      }
      return out;
    }

    StoreResult out;
    const std::optional<std::string> none;
    if (!result.accepted()) {
      const report::Rejection& rej = result.rejections.front();
      out.body_dropped = over_quota(tx, raw);
      const std::optional<std::string> head =
          out.body_dropped ? std::optional<std::string>(bytea_literal(header_section(raw.bytes))) : none;
      out.raw_id = tx.exec_prepared("raw_insert", raw.transport, raw.source_json, sha, static_cast<std::int64_t>(raw.bytes.size()),
                                    out.body_dropped ? none : std::optional<std::string>(bytea_literal(raw.bytes)), "rejected",
                                    std::string(report::to_string(rej.reason)), rej.detail, 0, opt(raw.client), head,
                                    out.body_dropped ? std::optional<std::string>("quota") : none, raw.dkim,
                                    raw.dkim_json)[0][0]
                       .as<std::int64_t>();
      out.outcome = Outcome::rejected;
      return out;
    }
    out.raw_id = tx.exec_prepared("raw_insert", raw.transport, raw.source_json, sha, static_cast<std::int64_t>(raw.bytes.size()),
                                  bytea_literal(raw.bytes), "stored", none, none, static_cast<int>(result.reports.size()), opt(raw.client),
                                  none, none, raw.dkim, raw.dkim_json)[0][0]
                     .as<std::int64_t>();
    record_reports(tx, out, result, ids.reports);
    if (out.outcome == Outcome::duplicate) mark_duplicate(tx, out, result.reports.size());
    return out;
  }

  // Messages of one report each (not rejected, not too large, no two with the same bytes or the
  // same report) go in one bulk statement; every other message goes through store_in, after them
  // and in order, so it sees what the bulk wrote (a later copy is then its duplicate). The bulk's
  // counts go into the rollups last: a transaction then takes rollup row locks (in key order)
  // only once it has written its reports, so it never holds them while it waits for another
  // transaction's copy of a report. Added by the bulk statement itself, they made two `ingest`
  // workers deadlock (one waiting on the other's report, the other on the first's rollup row),
  // in about one run in three over the test corpus, each time a batch replayed.
  std::vector<StoreResult> store_all(pqxx::transaction_base& tx, std::span<const RawMessage> raws,
                                     std::span<const pipeline::Result* const> results) {
    std::vector<StoreResult> out(raws.size());
    std::vector<std::size_t> bulk, rest;
    std::set<std::string> shas, keys;
    std::vector<Identities> ids;
    std::size_t bytes = 0, detail_rows = 0;
    std::optional<std::string> counts;  // the bulk statement's, for the rollups
    // A message whose bytes or report an earlier message of the batch has is left to store_in
    // (after the bulk, as in order); a message in the bulk never shares either with an earlier
    // one, so the bulk coming first changes nothing but the order of ids.
    for (std::size_t i = 0; i < raws.size(); ++i) {
      const pipeline::Result& r = *results[i];
      const std::size_t n_details = r.reports.size() == 1 ? r.reports.front().report.policies.front().failure_details.size() : 0;
      bool one = r.reports.size() == 1 && raws[i].bytes.size() <= bulk_message_bytes &&
                 bytes + raws[i].bytes.size() <= bulk_total_bytes && detail_rows + n_details <= bulk_details;
      const Identities& id = ids.emplace_back(Identities{sha256_hex(raws[i].bytes), report_keys(r)});
      one = shas.insert(id.sha).second && one;
      for (const auto& k : id.reports) one = keys.insert(k).second && one;
      if (one) {
        bytes += raws[i].bytes.size();
        detail_rows += n_details;
      }
      (one ? bulk : rest).push_back(i);
    }
    if (bulk.size() < 2) {  // nothing to share a statement with: the one-message statements
      rest.insert(rest.end(), bulk.begin(), bulk.end());
      bulk.clear();
      std::sort(rest.begin(), rest.end());
    }
    if (!bulk.empty()) {
      constexpr std::size_t message_columns = 24;  // $1..$4 and $6..$25
      std::vector<TextArray> cols(message_columns);
      std::string bodies;  // $5
      bodies.reserve(bytes);
      DetailColumns details;
      for (std::size_t n = 0; n < bulk.size(); ++n) {
        const RawMessage& raw = raws[bulk[n]];
        const pipeline::Parsed& parsed = results[bulk[n]]->reports.front();
        bodies.append(raw.bytes);
        const std::optional<std::string> message[] = {raw.transport, raw.source_json, ids[bulk[n]].sha,
                                                      std::to_string(raw.bytes.size()), opt(raw.client), raw.dkim,
                                                      raw.dkim_json};
        std::size_t c = 0;
        for (const auto& v : message) cols[c++].add(v ? std::optional<std::string_view>(*v) : std::nullopt);
        for (const auto& v : report_fields(parsed, ids[bulk[n]].reports[0])) cols[c++].add(v ? std::optional<std::string_view>(*v) : std::nullopt);
        details.add(parsed.report.policies.front(), static_cast<std::int64_t>(n + 1));
      }
      std::vector<std::optional<std::string>> params;
      for (const auto& c : cols) params.emplace_back(c.str());
      params.emplace_back(details.index());
      for (auto& c : details.columns()) params.emplace_back(std::move(c));
      const pqxx::result rows =
          tx.exec_prepared("bulk_insert", pqxx::prepare::make_dynamic_params(params.begin(), params.begin() + 4),
                           pqxx::binarystring(bodies.data(), bodies.size()),
                           pqxx::prepare::make_dynamic_params(params.begin() + 4, params.end()));
      if (!rows.empty() && !rows[0][2].is_null()) counts = rows[0][2].as<std::string>();
      for (std::size_t n = 0; n < bulk.size(); ++n) {
        StoreResult& o = out[bulk[n]];
        o.raw_id = rows[static_cast<int>(n)][0].as<std::int64_t>();
        const bool fresh = !rows[static_cast<int>(n)][1].is_null();
        o.fresh.push_back(fresh);
        if (!fresh) {
          o.duplicate_reports = 1;
          mark_duplicate(tx, o, 1);
          continue;
        }
        o.outcome = Outcome::stored;
        o.new_reports = 1;
        const report::Report& report = results[bulk[n]]->reports.front().report;
        insert_more_policies(tx, rows[static_cast<int>(n)][1].as<std::int64_t>(), report);
      }
    }
    for (std::size_t i : rest) out[i] = store_in(tx, raws[i], *results[i], ids[i]);
    if (counts) tx.exec_prepared("counts_add", *counts);
    return out;
  }

  // Counts a rejected input against its client's and everyone's quota for the day; whether either
  // is now exceeded (then its body is not kept).
  bool over_quota(pqxx::transaction_base& tx, const RawMessage& raw) {
    if (raw.client.empty() || (raw.quota.per_client == 0 && raw.quota.total == 0)) return false;
    const pqxx::row r = tx.exec_prepared1("rejected_quota", raw.client, static_cast<std::int64_t>(raw.bytes.size()));
    const auto mine = r[0].as<std::uint64_t>(), everyone = r[1].as<std::uint64_t>();
    return (raw.quota.per_client && mine > raw.quota.per_client) || (raw.quota.total && everyone > raw.quota.total);
  }

  // Every report of the message was stored before: the raw message is a duplicate.
  void mark_duplicate(pqxx::transaction_base& tx, StoreResult& out, std::size_t reports) {
    out.outcome = Outcome::duplicate;
    tx.exec_prepared("raw_outcome", out.raw_id, "duplicate", std::optional<std::string>(), std::optional<std::string>(),
                     static_cast<int>(reports));
  }

  void record_reports(pqxx::transaction_base& tx, StoreResult& out, const pipeline::Result& result,
                      const std::vector<std::string>& keys) {
    for (std::size_t i = 0; i < result.reports.size(); ++i) {
      const pipeline::Parsed& parsed = result.reports[i];
      out.fresh.push_back(insert_report(tx, out.raw_id, parsed, keys[i]));
      if (out.fresh.back()) ++out.new_reports;
      else ++out.duplicate_reports;
    }
    out.outcome = out.new_reports > 0 ? Outcome::stored : Outcome::duplicate;
  }
};

Store::Store(const std::string& database_url) {
  translate("connect", [&] {
    impl_ = std::make_unique<Impl>(database_url);
    return 0;
  });
}

Store::~Store() = default;

std::vector<std::string> Store::pending() {
  return translate("pending migrations", [&] {
    pqxx::work tx(impl_->conn);
    std::set<std::string> applied;
    if (!tx.exec("SELECT to_regclass('schema_migrations')")[0][0].is_null())
      for (const auto& row : tx.exec("SELECT name FROM schema_migrations")) applied.insert(row[0].as<std::string>());
    std::vector<std::string> out;
    for (const auto& m : migrations())
      if (!applied.count(std::string(m.name))) out.emplace_back(m.name);
    return out;
  });
}

std::vector<std::string> Store::migrate() {
  return translate("migrate", [&] {
    pqxx::connection& c = impl_->conn;
    pqxx::nontransaction(c).exec("SELECT pg_advisory_lock(" + std::to_string(migration_lock) + ")");
    struct Unlock {
      pqxx::connection& c;
      ~Unlock() {
        try {
          pqxx::nontransaction(c).exec("SELECT pg_advisory_unlock(" + std::to_string(migration_lock) + ")");
        } catch (...) {
        }
      }
    } unlock{c};
    {
      pqxx::work tx(c);
      tx.exec("CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, checksum text NOT NULL, "
              "applied_at timestamptz NOT NULL DEFAULT now())");
      tx.commit();
    }
    std::map<std::string, std::string> applied;
    {
      pqxx::work tx(c);
      for (const auto& row : tx.exec("SELECT name, checksum FROM schema_migrations"))
        applied[row[0].as<std::string>()] = row[1].as<std::string>();
    }
    std::set<std::string> known;
    for (const auto& m : migrations()) known.emplace(m.name);
    for (const auto& [name, sum] : applied)
      if (!known.count(name))
        throw Error("the database has migration " + name + ", which this tlsrpt does not know: upgrade tlsrpt", false);
    std::vector<std::string> done;
    for (const auto& m : migrations()) {
      const std::string name(m.name);
      const std::string sum = sha256_hex(m.sql);
      if (auto it = applied.find(name); it != applied.end()) {
        if (it->second != sum)
          throw Error("migration " + name + " was edited after it was applied (checksum " + it->second.substr(0, 12) +
                          " in the database, " + sum.substr(0, 12) + " now); add a new migration instead",
                      false);
        continue;
      }
      pqxx::work tx(c);
      tx.exec(std::string(m.sql));
      tx.exec_params("INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", name, sum);
      tx.commit();
      done.push_back(name);
    }
    return done;
  });
}

StoreResult Store::store(const RawMessage& raw, const pipeline::Result& result) {
  const pipeline::Result* one = &result;
  return store_all({&raw, 1}, {&one, 1}).front();
}

std::vector<StoreResult> Store::store_all(std::span<const RawMessage> raws,
                                         std::span<const pipeline::Result* const> results) {
  return translate("store", [&] {
    // In a batch a failure ends the batch (rolled back whole), so a message is never half in.
    if (impl_->batch) return impl_->store_all(*impl_->batch, raws, results);
    pqxx::work tx(impl_->conn);
    auto r = impl_->store_all(tx, raws, results);
    tx.commit();
    return r;
  });
}

void Store::begin_batch() {
  translate("begin", [&] {
    impl_->batch = std::make_unique<pqxx::work>(impl_->conn);
    return 0;
  });
}

void Store::commit_batch() {
  translate("commit", [&] {
    if (impl_->batch) impl_->batch->commit();
    impl_->batch.reset();
    return 0;
  });
}

void Store::abort_batch() noexcept {
  try {
    impl_->batch.reset();  // rolls back
  } catch (...) {
  }
}

std::vector<RejectedMessage> Store::rejected(const std::optional<std::string>& reason,
                                             const std::optional<std::string>& since) {
  return translate("list rejected", [&] {
    pqxx::work tx(impl_->conn);
    std::vector<RejectedMessage> out;
    for (const auto& row : tx.exec_params(
             "SELECT id, reason, source::text FROM raw_messages WHERE outcome = 'rejected' AND body_dropped IS NULL "
             "AND ($1::text IS NULL OR reason = $1) AND ($2::timestamptz IS NULL OR received_at >= $2) ORDER BY id",
             reason, since))
      out.push_back({row[0].as<std::int64_t>(), row[1].as<std::string>(), row[2].as<std::string>()});
    return out;
  });
}

std::string Store::body(std::int64_t raw_id) {
  auto bytes = raw_body(raw_id, false);
  if (!bytes) throw Error("raw message " + std::to_string(raw_id) + " has no body", false);
  return std::move(*bytes);
}

std::string Store::query_json(const std::string& sql, const std::vector<std::optional<std::string>>& params) {
  return translate("query", [&] {
    const pqxx::result r = impl_->run_prepared(sql, params);
    return r.empty() || r[0][0].is_null() ? std::string() : r[0][0].as<std::string>();
  });
}

bool Store::try_advisory_lock(std::int64_t key) {
  return translate("advisory lock", [&] {
    pqxx::nontransaction tx(impl_->conn);
    return tx.exec_params("SELECT pg_try_advisory_lock($1)", key)[0][0].as<bool>();
  });
}

bool Store::alive() {
  try {
    pqxx::nontransaction tx(impl_->conn);
    tx.exec("SELECT 1");
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::int64_t Store::compact() {
  return translate("compact rollups", [&] {
    pqxx::nontransaction tx(impl_->conn);
    // Only today's and yesterday's quota counts are ever read again.
    tx.exec("DELETE FROM rejected_quota WHERE day < (now() AT TIME ZONE 'UTC')::date - 1");
    return tx.exec("SELECT compact_session_counts()")[0][0].as<std::int64_t>();
  });
}

std::int64_t Store::store_posture(const std::string& result_json, std::int64_t duration_ms) {
  // Everything is read from the check's own JSON, in one statement (one transaction).
  static const std::string sql =
      "WITH r AS (SELECT $1::jsonb AS j), "
      // The latest check's result (and the check holding it): an equal result is not stored twice.
      "prev AS (SELECT coalesce(p.result_of, p.id) AS id, coalesce(p.result, (SELECT h.result FROM posture_checks h "
      "WHERE h.id = p.result_of)) AS result FROM posture_checks p, r WHERE p.domain = r.j->>'domain' "
      "ORDER BY p.checked_at DESC, p.id DESC LIMIT 1), "
      "c AS (INSERT INTO posture_checks (domain, checked_at, duration_ms, complete, errors, warnings, sts_id, mode, "
      "policy_sha256, result, result_of) SELECT j->>'domain', now(), $2, (j->>'complete')::boolean, "
      "(SELECT count(*) FROM jsonb_array_elements(j->'findings') f WHERE f->>'severity' = 'error'), "
      "(SELECT count(*) FROM jsonb_array_elements(j->'findings') f WHERE f->>'severity' = 'warning'), "
      "j->'mta_sts'->>'id', j->'mta_sts'->>'mode', j->'mta_sts'->>'sha256', "
      "CASE WHEN prev.result = j THEN NULL ELSE j END, CASE WHEN prev.result = j THEN prev.id END "
      "FROM r LEFT JOIN prev ON true RETURNING id), "
      "f AS (INSERT INTO posture_findings (check_id, finding, severity, subject, detail) "
      "SELECT c.id, f->>'finding', f->>'severity', f->>'subject', f->>'detail' FROM c, r, "
      "jsonb_array_elements(r.j->'findings') f), "
      "p AS (INSERT INTO published_policies (domain, sts_id, sha256, mode, max_age, mx, text, first_seen, last_seen, "
      "normalized) SELECT j->>'domain', j->'mta_sts'->>'id', j->'mta_sts'->>'sha256', j->'mta_sts'->>'mode', "
      "(j->'mta_sts'->>'max_age')::bigint, ARRAY(SELECT jsonb_array_elements_text(CASE jsonb_typeof(j->'mta_sts'->'mx') "
      "WHEN 'array' THEN j->'mta_sts'->'mx' ELSE '[]' END)), j->'mta_sts'->>'text', now(), now(), "
      "normalized_policy(string_to_array(replace(j->'mta_sts'->>'text', E'\\r', ''), E'\\n')) FROM r "
      "WHERE j->'mta_sts'->>'id' IS NOT NULL AND j->'mta_sts'->>'text' IS NOT NULL "
      "ON CONFLICT (domain, sts_id, sha256) DO UPDATE SET last_seen = excluded.last_seen), "
      // The TLSA records of each MX host (for the drift of reports' tlsa policies).
      "t AS (INSERT INTO published_tlsa (domain, mx_host, records, first_seen, last_seen) SELECT DISTINCT j->>'domain', "
      "lower(rtrim(m->>'host', '.')), normalized_tlsa(ARRAY(SELECT jsonb_array_elements_text(m->'tlsa'->'records'))), "
      "now(), now() FROM r, jsonb_array_elements(CASE jsonb_typeof(j->'mx') WHEN 'array' THEN j->'mx' ELSE '[]' END) m "
      "WHERE jsonb_typeof(m->'tlsa'->'records') = 'array' AND jsonb_array_length(m->'tlsa'->'records') > 0 "
      "ON CONFLICT (domain, mx_host, records) DO UPDATE SET last_seen = excluded.last_seen) "
      "SELECT id FROM c";
  return translate("store posture check", [&] {
    pqxx::work tx(impl_->conn);
    const auto id = tx.exec_params1(sql, result_json, duration_ms)[0].as<std::int64_t>();
    tx.commit();
    return id;
  });
}

std::vector<LastReport> Store::last_reports(std::size_t limit) {
  return translate("last reports", [&] {
    pqxx::nontransaction tx(impl_->conn);
    std::vector<LastReport> out;
    for (const auto& row : tx.exec_params(
             "SELECT p.policy_domain, p.organization_name, extract(epoch FROM max(r.end_datetime))::bigint FROM policies p "
             "JOIN reports r ON r.id = p.report_id GROUP BY 1, 2 ORDER BY count(DISTINCT r.id) DESC, 3 DESC, 1, 2 LIMIT $1",
             static_cast<std::int64_t>(limit)))
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::int64_t>()});
    return out;
  });
}

std::vector<std::vector<std::string>> Store::query_rows(const std::string& sql,
                                                       const std::vector<std::optional<std::string>>& params) {
  return translate("query", [&] {
    return rows_of(impl_->run_prepared(sql, params));
  });
}

std::vector<std::map<std::string, std::string>> Store::query_named(const std::string& sql,
                                                                   const std::vector<std::optional<std::string>>& params) {
  return translate("query", [&] {
    const pqxx::result r = impl_->run_prepared(sql, params);
    std::vector<std::map<std::string, std::string>> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      auto& o = out.emplace_back();
      for (pqxx::row::size_type i = 0; i < row.size(); ++i)
        o.emplace(r.column_name(i), row[i].is_null() ? std::string() : row[i].c_str());
    }
    return out;
  });
}

std::int64_t advisory_key(std::string_view name) {
  return static_cast<std::int64_t>(std::stoull(sha256_hex(name).substr(0, 15), nullptr, 16));
}

double Store::replication_lag() {
  return translate("replication lag", [&] {
    pqxx::nontransaction tx(impl_->conn);
    return tx.exec(
                 "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 "
                 "WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() "
                 "AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') THEN 0 "
                 "ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8")[0][0]
        .as<double>();
  });
}

std::vector<std::vector<std::string>> Store::execute(const std::string& sql) {
  return translate("maintenance", [&] {
    pqxx::nontransaction tx(impl_->conn);
    return rows_of(tx.exec(sql));
  });
}

std::optional<std::string> Store::raw_body(std::int64_t raw_id, bool rejected_only) {
  return translate("load message", [&]() -> std::optional<std::string> {
    pqxx::nontransaction tx(impl_->conn);
    const auto r = tx.exec_params(
        "SELECT COALESCE(m.body, d.body) FROM raw_messages m LEFT JOIN raw_messages d ON d.id = m.duplicate_of "
        "WHERE m.id = $1 AND (NOT $2 OR m.outcome = 'rejected')",
        raw_id, rejected_only);
    if (r.empty() || r[0][0].is_null()) return std::nullopt;
    return pqxx::binarystring(r[0][0]).str();
  });
}

StoreResult Store::restore(std::int64_t raw_id, const pipeline::Result& result) {
  return translate("reprocess", [&] {
    pqxx::work tx(impl_->conn);
    StoreResult out;
    out.raw_id = raw_id;
    if (result.accepted()) {
      impl_->record_reports(tx, out, result, report_keys(result));
      tx.exec_prepared("raw_outcome", raw_id, std::string(to_string(out.outcome)), std::optional<std::string>(),
                       std::optional<std::string>(), static_cast<int>(result.reports.size()));
    } else {
      const report::Rejection& rej = result.rejections.front();
      tx.exec_prepared("raw_outcome", raw_id, "rejected", std::string(report::to_string(rej.reason)), rej.detail, 0);
      out.outcome = Outcome::rejected;
    }
    tx.commit();
    return out;
  });
}

}  // namespace tlsrpt::store

namespace tlsrpt::store {

std::optional<std::string> connection_string_error(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options) {
    PQconninfoFree(options);
    return std::nullopt;
  }
  std::string out = error ? one_line(error) : "out of memory";
  PQfreemem(error);
  return out;
}

}  // namespace tlsrpt::store
