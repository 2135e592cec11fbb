// The database for commands that use one: options, settings, the embedded default, migration.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "log/log.hpp"
#include "store/embedded.hpp"
#include "store/retention.hpp"
#include "store/store.hpp"

namespace tlsrpt::cli {

// Exit status for a database failure (connection, transaction): distinct from rejections.
inline constexpr int exit_database = 3;

struct DatabaseOptions {
  std::string url;
  std::string data_dir;
  bool no_migrate = false;
};

inline void add_database_options(CLI::App& cmd, DatabaseOptions& o, bool migrate_flag) {
  cmd.add_option("--database-url", o.url,
                 "PostgreSQL connection (URL or key=value); default database.url in the settings file, "
                 "TLSRPT_DATABASE_URL(_FILE), else the embedded cluster");
  cmd.add_option("--data-dir", o.data_dir,
                 "Where the embedded PostgreSQL cluster lives when no URL is given (default database.data_dir, "
                 "TLSRPT_DATA_DIR, else ./data)");
  if (migrate_flag) cmd.add_flag("--no-migrate", o.no_migrate, "Do not apply pending migrations first");
}

// The database: the configured one, or the embedded cluster (kept alive as long as this is).
struct Database {
  std::unique_ptr<store::EmbeddedPostgres> embedded;
  std::unique_ptr<store::Store> store;
  std::string url;
};

// The command line over the settings.
inline void apply(DatabaseOptions& o, const config::Settings& s) {
  if (o.url.empty()) o.url = s.database_url;
  if (o.data_dir.empty()) o.data_dir = s.data_dir;
}

// The database URL: the configured one, or that of the embedded cluster, started in `embedded`.
inline std::string database_url(const DatabaseOptions& o, std::unique_ptr<store::EmbeddedPostgres>& embedded) {
  if (!o.url.empty()) return o.url;
  embedded = std::make_unique<store::EmbeddedPostgres>(o.data_dir.empty() ? "data" : o.data_dir);
  return embedded->url();
}

// retention.* as the store takes it.
inline store::Retention retention(const config::Settings& s) {
  return {s.retention_failure_details, s.retention_reports, s.retention_raw_bodies, s.retention_rejected};
}

// The months of failure_details that retention keeps and the next three, made ahead of time so
// that an insert never waits for one (dates outside them land in the default partition).
inline void ensure_months(store::Store& s, const store::Retention& r) {
  if (const int made = store::ensure_partitions(s, r, 3))
    log::linef(log::Level::info, "migrate", "made %d monthly partitions of failure_details", made);
}

// Opens the database; with `migrate` (the retention of the settings), applies the pending
// migrations and makes the months that retention keeps, else refuses a schema that is behind.
inline Database open_database(const DatabaseOptions& o, const std::optional<store::Retention>& migrate) {
  Database db;
  const std::string url = database_url(o, db.embedded);
  db.url = url;
  db.store = std::make_unique<store::Store>(url);
  if (migrate) {
    for (const auto& name : db.store->migrate()) log::linef(log::Level::info, "migrate", "applied %s", name.c_str());
    ensure_months(*db.store, *migrate);
  } else if (const auto pending = db.store->pending(); !pending.empty()) {
    throw store::Error("the database schema is behind (" + std::to_string(pending.size()) +
                           " migrations pending): run tlsrpt migrate",
                       false);
  }
  return db;
}



// What open_database migrates with: the settings' retention, unless --no-migrate.
inline std::optional<store::Retention> migration(const DatabaseOptions& o, const config::Settings& s) {
  if (o.no_migrate) return std::nullopt;
  return retention(s);
}

// Runs a command; a database failure is one clear line and exit status 3.
template <class F>
int guarded(const char* name, F&& f) {
  try {
    return f();
  } catch (const store::Error& e) {
    std::fprintf(stderr, "tlsrpt %s: database error%s: %s\n", name, e.transient() ? " (temporary, retry later)" : "",
                 e.what());
    return exit_database;
  }
}


// Moves the rollup rows a command appended into the compact rollups (migrations/0002). A failure
// only costs the API some speed (it reads pending rows too), so it is reported, not fatal.
inline void compact_rollups(const std::string& url, const char* command) {
  try {
    store::Store(url).compact();
  } catch (const store::Error& e) {
    log::linef(log::Level::warn, command, "compacting the rollups failed (answers stay right, only slower): %s", e.what());
  }
}

}  // namespace tlsrpt::cli
