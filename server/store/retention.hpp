// Keeping years of reports on one PostgreSQL: the monthly partitions of failure_details
// (migrations/0010) made ahead of time, retention applied by dropping whole months, and the
// sizes an operator watches. Shared by `tlsrpt prune`, `tlsrpt migrate --status` and serve's
// daily maintenance.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace tlsrpt::store {

struct Retention {
  std::chrono::seconds failure_details{std::chrono::days(400)};  // whole months are dropped
  std::chrono::seconds reports{std::chrono::days(400)};          // reports, their policies and quirks
  std::chrono::seconds raw_bodies{std::chrono::days(90)};        // bodies of stored messages (hash, outcome stay)
  std::chrono::seconds rejected{std::chrono::days(400)};         // rejected messages, whole rows
};

// Months of failure_details from `back` before the current one to `ahead` after it (UTC):
// creates those missing; returns how many it created. Safe from several processes at once.
int ensure_partitions(Store& s, int back, int ahead);
// The months ensure_partitions keeps behind the current one for a retention: what it covers.
int months_back(const Retention& r);

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
