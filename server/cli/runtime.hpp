// serve's long-lived parts besides the listeners: the database watch with its maintenance
// (partitions, retention, table sizes), and the SIGHUP reloader; each with its metrics.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/api.hpp"
#include "cli/serve_plan.hpp"
#include "config/config.hpp"
#include "http/server.hpp"
#include "store/pool.hpp"
#include "metrics/metrics.hpp"
#include "smtp/server.hpp"
#include "store/retention.hpp"
#include "store/store.hpp"

namespace tlsrpt::cli {

// Partitions and retention, run by one server among several on a database (the one holding an
// advisory lock on its own connection; another takes over when that connection ends): the
// months of failure_details ahead of time every 6 hours, and `tlsrpt prune` once a day, the
// first an hour after start (time to look at what a new installation holds before it goes).
class Maintenance {
 public:
  // `windows`: the ranges (days) whose per-domain totals the domain list sorts by, built each
  // UTC day (store::build_domain_windows).
  Maintenance(std::string url, store::Retention retention, bool prune, std::vector<int> windows, metrics::Metrics& metrics);
  void tick();

 private:
  std::string url_;
  store::Retention retention_;
  bool prune_;
  std::vector<int> windows_;
  metrics::Metrics& metrics_;
  std::unique_ptr<store::Store> conn_;
  bool leader_ = false;
  std::chrono::steady_clock::time_point next_partitions_;
  std::chrono::steady_clock::time_point next_prune_;
  std::chrono::steady_clock::time_point next_windows_;
};

// Every 10 s, off the I/O thread: whether the database answers and its migrations are applied
// (so that a scrape never waits for the database), compaction of the rollups, and maintenance.
class DatabaseWatch {
 public:
  DatabaseWatch(store::Pool& pool, Maintenance maintenance);
  bool up() const { return up_; }
  metrics::Families families() const;  // tlsrpt_database_up

 private:
  std::atomic<bool> up_{false};
  Maintenance maintenance_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::jthread thread_;  // last: starts after the members it uses exist
};

// SIGHUP: the settings are read again and planned as at start. A file that does not load or
// plan changes nothing (the log says why; tlsrpt_config_reloads_total{result="refused"}).
// Otherwise what can change safely is applied (log settings, certificates, tokens, monitored
// domains), each part saying in the log what it did, and every other changed key is named as
// needing a restart. Later reloads compare against the last applied settings.
class Reloader {
 public:
  struct Targets {
    smtp_server::Server* smtp = nullptr;
    http_server::Server* http = nullptr;
    api::Api* routes = nullptr;
    std::function<void(std::vector<posture::Monitored>)> set_monitored;
  };
  Reloader(const config::Settings& started, CommandLine command_line, std::function<config::Settings()> reread,
           Targets targets);
  void operator()();
  metrics::Families families() const;  // tlsrpt_config_reloads_total{result}

 private:
  const config::Settings started_;
  config::Settings current_;
  CommandLine command_line_;
  std::function<config::Settings()> reread_;
  Targets targets_;
  std::atomic<std::uint64_t> applied_{0}, refused_{0};
};

}  // namespace tlsrpt::cli
