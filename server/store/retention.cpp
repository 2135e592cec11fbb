#include "store/retention.hpp"

#include <algorithm>
#include <cstdio>

namespace tlsrpt::store {
namespace {

std::int64_t number(const std::vector<std::vector<std::string>>& rows) {
  return rows.empty() || rows[0].empty() || rows[0][0].empty() ? 0 : std::stoll(rows[0][0]);
}

// The database's clock, whole seconds: every decision of one run is taken at this instant.
std::chrono::sys_seconds database_now(Store& s) {
  return std::chrono::sys_seconds(std::chrono::seconds(number(s.execute("SELECT floor(extract(epoch FROM now()))::bigint"))));
}

// `now` minus a retention, as SQL.
std::string cutoff(std::chrono::sys_seconds now, std::chrono::seconds age) {
  return "(to_timestamp(" + std::to_string(now.time_since_epoch().count()) + ") - interval '" +
         std::to_string(age.count()) + " seconds')";
}

// A month as "2026" `separator` "03".
std::string year_month_text(Month m, char separator) {
  const std::chrono::year_month_day d{std::chrono::floor<std::chrono::days>(month_start(m))};
  char out[16];
  std::snprintf(out, sizeof out, "%04d%c%02u", static_cast<int>(d.year()), separator, static_cast<unsigned>(d.month()));
  return out;
}

// '2026-03-01', the first day of a month, as SQL.
std::string month_date(Month m) { return "'" + year_month_text(m, '-') + "-01'"; }

// Runs `batch` (a statement answering one count) until it removes nothing; returns the total.
std::int64_t in_batches(Store& s, const std::string& batch) {
  std::int64_t total = 0;
  for (std::int64_t n = number(s.execute(batch)); n > 0; n = number(s.execute(batch))) total += n;
  return total;
}

constexpr const char* batch_size = "10000";

}  // namespace

Month month_of(std::chrono::sys_seconds t) {
  const std::chrono::year_month_day d{std::chrono::floor<std::chrono::days>(t)};
  return static_cast<int>(d.year()) * 12 + static_cast<int>(static_cast<unsigned>(d.month())) - 1;
}

std::chrono::sys_seconds month_start(Month m) {
  const int year = m >= 0 ? m / 12 : (m - 11) / 12;
  const auto month = static_cast<unsigned>(m - year * 12 + 1);
  return std::chrono::sys_days(std::chrono::year(year) / std::chrono::month(month) / 1);
}

constexpr std::string_view partition_prefix = "failure_details_";

std::string month_partition(Month m) { return std::string(partition_prefix) + year_month_text(m, '_'); }

std::optional<Month> month_named(std::string_view name) {
  // exactly failure_details_YYYY_MM
  if (name.size() != partition_prefix.size() + 7 || !name.starts_with(partition_prefix)) return std::nullopt;
  const std::string_view ym = name.substr(partition_prefix.size());
  const auto digits = [](std::string_view t) {
    return std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (ym[4] != '_' || !digits(ym.substr(0, 4)) || !digits(ym.substr(5))) return std::nullopt;
  const int year = std::stoi(std::string(ym.substr(0, 4))), month = std::stoi(std::string(ym.substr(5)));
  if (month < 1 || month > 12) return std::nullopt;
  return year * 12 + month - 1;
}

Month first_kept_month(std::chrono::sys_seconds now, std::chrono::seconds retention) {
  return month_of(now - retention);
}

MonthRange months_to_make(std::chrono::sys_seconds now, std::chrono::seconds retention, int ahead) {
  const Month current = month_of(now);
  return {std::max(first_kept_month(now, retention), current - max_months_made_back), current + ahead};
}

bool prune_drops(Month m, std::chrono::sys_seconds now, std::chrono::seconds retention) {
  return m < first_kept_month(now, retention);
}

int ensure_partitions(Store& s, const Retention& r, int ahead) {
  const MonthRange months = months_to_make(database_now(s), r.failure_details, ahead);
  return static_cast<int>(number(s.execute(
      "SELECT count(*) FILTER (WHERE tlsrpt_partition_month(m::date)) FROM generate_series(" + month_date(months.first) +
      "::date, " + month_date(months.last) + "::date, interval '1 month') AS m")));
}

PruneResult prune(Store& s, const Retention& r, bool dry_run) {
  const auto started = std::chrono::steady_clock::now();
  PruneResult out;
  const auto now = database_now(s);
  // Whole months before the first one kept.
  const auto children = s.execute(
      "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
      "WHERE i.inhparent = 'failure_details'::regclass ORDER BY c.relname");
  for (const auto& row : children) {
    const std::string& name = row[0];
    const auto month = month_named(name);  // a name of that form is safe as an identifier
    if (!month || !prune_drops(*month, now, r.failure_details)) continue;
    PruneResult::Partition p{name, number(s.execute("SELECT count(*) FROM " + name))};
    if (!dry_run) s.execute("DROP TABLE " + name);
    out.partitions.push_back(std::move(p));
  }
  const std::string old_default = "FROM failure_details_default WHERE start_datetime < " + cutoff(now, r.failure_details);
  const std::string old_reports = "FROM reports WHERE start_datetime < " + cutoff(now, r.reports);
  const std::string old_bodies = "FROM raw_messages WHERE body IS NOT NULL AND outcome <> 'rejected' AND received_at < " +
                                 cutoff(now, r.raw_bodies);
  const std::string old_rejected =
      "FROM raw_messages m WHERE outcome = 'rejected' AND received_at < " + cutoff(now, r.rejected) +
      " AND NOT EXISTS (SELECT 1 FROM raw_messages d WHERE d.duplicate_of = m.id)";
  if (dry_run) {
    out.default_rows = number(s.execute("SELECT count(*) " + old_default));
    out.reports = number(s.execute("SELECT count(*) " + old_reports));
    out.bodies = number(s.execute("SELECT count(*) " + old_bodies));
    out.rejected = number(s.execute("SELECT count(*) " + old_rejected));
  } else {
    out.default_rows = number(s.execute("WITH d AS (DELETE " + old_default + " RETURNING 1) SELECT count(*) FROM d"));
    out.reports = in_batches(s, std::string("WITH d AS (DELETE FROM reports WHERE id IN (SELECT id ") + old_reports +
                                    " LIMIT " + batch_size + ") RETURNING 1) SELECT count(*) FROM d");
    out.bodies = in_batches(s, std::string("WITH u AS (UPDATE raw_messages SET body = NULL, body_dropped = 'retention' "
                                           "WHERE id IN (SELECT id ") +
                                   old_bodies + " LIMIT " + batch_size + ") RETURNING 1) SELECT count(*) FROM u");
    out.rejected = in_batches(s, std::string("WITH d AS (DELETE FROM raw_messages WHERE id IN (SELECT m.id ") +
                                     old_rejected + " LIMIT " + batch_size + ") RETURNING 1) SELECT count(*) FROM d");
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return out;
}

std::vector<std::string> PruneResult::lines(bool dry_run) const {
  const std::string verb = dry_run ? "would " : "";
  std::vector<std::string> out;
  for (const auto& p : partitions)
    out.push_back("failure-details: " + verb + (dry_run ? "drop " : "dropped ") + p.name + " (" + std::to_string(p.rows) +
                  " rows)");
  auto line = [&](const char* what, std::int64_t n, const char* done, const char* todo) {
    out.push_back(std::string(what) + ": " + (dry_run ? std::string("would ") + todo : std::string(done)) + " " +
                  std::to_string(n));
  };
  line("failure-details in the default partition", default_rows, "deleted", "delete");
  line("reports (with their policies)", reports, "deleted", "delete");
  line("bodies of stored messages", bodies, "dropped", "drop");
  line("rejected messages", rejected, "deleted", "delete");
  return out;
}

std::vector<TableSize> table_sizes(Store& s) {
  std::vector<TableSize> out;
  for (const auto& row : s.execute(
           "SELECT c.relname, coalesce(t.n_live_tup, 0), pg_total_relation_size(c.oid), c.relispartition "
           "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
           "LEFT JOIN pg_stat_user_tables t ON t.relid = c.oid "
           "WHERE n.nspname = current_schema() AND c.relkind = 'r' "
           "ORDER BY c.relispartition, pg_total_relation_size(c.oid) DESC, c.relname"))
    out.push_back({row[0], std::stoll(row[1]), std::stoll(row[2]), row[3] == "t"});
  for (auto& t : out)
    if (t.name == "failure_details_default") t.rows = default_partition_rows(s);
  return out;
}

std::int64_t default_partition_rows(Store& s) { return number(s.execute("SELECT count(*) FROM failure_details_default")); }

}  // namespace tlsrpt::store
