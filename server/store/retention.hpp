// Keeping years of reports on one PostgreSQL: the monthly partitions of failure_details
// (migrations/0010) made ahead of time, retention applied by dropping whole months, and the
// sizes an operator watches. Shared by `tlsrpt prune`, `tlsrpt migrate --status` and serve's
// daily maintenance.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.hpp"

namespace tlsrpt::store {

struct Retention {
  std::chrono::seconds failure_details{std::chrono::days(400)};  // whole months are dropped
  std::chrono::seconds reports{std::chrono::days(400)};          // reports, their policies and quirks
  std::chrono::seconds raw_bodies{std::chrono::days(90)};        // bodies of stored messages (hash, outcome stay)
  std::chrono::seconds rejected{std::chrono::days(400)};         // rejected messages, whole rows
};

// The calendar months of failure_details (UTC) that retention keeps, as one function of (now,
// retention) that both `ensure_partitions` (serve, migrate) and `prune` use, so that a month is
// made only if prune keeps it and prune never drops one that ensure would make again.
// A month is a number: year * 12 + (month - 1).
using Month = int;
Month month_of(std::chrono::sys_seconds t);
std::chrono::sys_seconds month_start(Month m);
// "failure_details_2026_03"; month_named parses it back (nullopt for any other name).
std::string month_partition(Month m);
std::optional<Month> month_named(std::string_view partition);
// The first month kept: the one holding now - retention. A month ends at or before that instant
// exactly when it lies before this one; prune drops those and only those.
Month first_kept_month(std::chrono::sys_seconds now, std::chrono::seconds retention);
// Months made ahead of time reach at most this far back: a longer retention keeps older months
// if they exist, and rows dated before them land in the default partition, pruned row by row.
constexpr int max_months_made_back = 120;
struct MonthRange {
  Month first;
  Month last;  // inclusive
};
// The months ensure_partitions makes: the kept ones from at most max_months_made_back before
// now's month, to `ahead` months after it.
MonthRange months_to_make(std::chrono::sys_seconds now, std::chrono::seconds retention, int ahead);
bool prune_drops(Month m, std::chrono::sys_seconds now, std::chrono::seconds retention);

// Makes the months of months_to_make(the database's now, r.failure_details, ahead) that are
// missing; returns how many it made. Safe from several processes at once.
int ensure_partitions(Store& s, const Retention& r, int ahead);

struct PruneResult {
  struct Partition {
    std::string name;
    std::int64_t rows = 0;
  };
  std::vector<Partition> partitions;      // month partitions of failure_details dropped
  std::int64_t default_rows = 0;          // old failure-details deleted from the default partition
  std::int64_t reports = 0;               // reports deleted (with their policies and quirks)
  std::int64_t bodies = 0;                // bodies of stored messages dropped
  std::int64_t rejected = 0;              // rejected messages deleted
  double seconds = 0;
  // One line per kind ("failure-details: dropped failure_details_2025_01 (1234 rows)", ...).
  std::vector<std::string> lines(bool dry_run) const;
};

// Applies `r` (or, with dry_run, counts what it would remove). Failure-details go by whole
// month partitions, never row by row (only the default partition's old rows are deleted);
// reports, bodies and rejected messages go in batches of 10,000 rows, each batch its own
// transaction, so that intake never waits long. The rollups (session_counts, daily_sessions)
// are kept: summaries and time series of older ranges stay right.
PruneResult prune(Store& s, const Retention& r, bool dry_run);

struct TableSize {
  std::string name;
  std::int64_t rows = 0;  // live rows as PostgreSQL's statistics count them (exact for the default partition)
  std::int64_t bytes = 0; // with indexes and TOAST
  bool partition = false; // a month of failure_details, or its default partition
};
// The tables of the schema, largest first; partitions listed after the others.
std::vector<TableSize> table_sizes(Store& s);
// Failure-details no month partition covers (a sender's clock far off): the default partition.
std::int64_t default_partition_rows(Store& s);

}  // namespace tlsrpt::store
