#include "store/retention.hpp"

namespace tlsrpt::store {
namespace {

std::int64_t number(const std::vector<std::vector<std::string>>& rows) {
  return rows.empty() || rows[0].empty() || rows[0][0].empty() ? 0 : std::stoll(rows[0][0]);
}

// now() minus a retention, as SQL.
std::string cutoff(std::chrono::seconds age) {
  return "(now() - interval '" + std::to_string(age.count()) + " seconds')";
}

// Runs `batch` (a statement answering one count) until it removes nothing; returns the total.
std::int64_t in_batches(Store& s, const std::string& batch) {
  std::int64_t total = 0;
  for (std::int64_t n = number(s.execute(batch)); n > 0; n = number(s.execute(batch))) total += n;
  return total;
}

constexpr const char* batch_size = "10000";

}  // namespace

int ensure_partitions(Store& s, int back, int ahead) {
  return static_cast<int>(
      number(s.execute("SELECT tlsrpt_ensure_partitions(" + std::to_string(back) + ", " + std::to_string(ahead) + ")")));
}

int months_back(const Retention& r) {
  return static_cast<int>(r.failure_details / std::chrono::days(30)) + 1;
}

PruneResult prune(Store& s, const Retention& r, bool dry_run) {
  const auto started = std::chrono::steady_clock::now();
  PruneResult out;
  // Months whose end lies before the cutoff.
  const auto months = s.execute(
      "SELECT c.relname FROM pg_inherits i "
      "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'failure_details'::regclass "
      "AND c.relname ~ '^failure_details_[0-9]{4}_[0-9]{2}$' "
      "AND (to_date(right(c.relname, 7), 'YYYY_MM') + interval '1 month') AT TIME ZONE 'UTC' <= " +
      cutoff(r.failure_details) + " ORDER BY c.relname");
  for (const auto& row : months) {
    const std::string& name = row[0];  // matched by the pattern above: safe as an identifier
    PruneResult::Partition p{name, number(s.execute("SELECT count(*) FROM " + name))};
    if (!dry_run) s.execute("DROP TABLE " + name);
    out.partitions.push_back(std::move(p));
  }
  const std::string old_default = "FROM failure_details_default WHERE start_datetime < " + cutoff(r.failure_details);
  const std::string old_reports = "FROM reports WHERE start_datetime < " + cutoff(r.reports);
  const std::string old_bodies = "FROM raw_messages WHERE body IS NOT NULL AND outcome <> 'rejected' AND received_at < " +
                                 cutoff(r.raw_bodies);
  const std::string old_rejected =
      "FROM raw_messages m WHERE outcome = 'rejected' AND received_at < " + cutoff(r.rejected) +
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
