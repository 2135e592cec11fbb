#include "cli/runtime.hpp"

#include <malloc.h>

#include <algorithm>

#include "cli/database.hpp"
#include "log/log.hpp"
#include "store/queries.hpp"

namespace tlsrpt::cli {

Maintenance::Maintenance(std::string url, store::Retention retention, bool prune, std::vector<int> windows,
                         metrics::Metrics& metrics)
    : url_(std::move(url)),
      retention_(retention),
      prune_(prune),
      windows_(std::move(windows)),
      metrics_(metrics),
      next_partitions_(std::chrono::steady_clock::now()),
      next_prune_(std::chrono::steady_clock::now() + std::chrono::hours(1)),
      next_windows_(std::chrono::steady_clock::now()) {}

void Maintenance::tick() {
  const auto now = std::chrono::steady_clock::now();
  try {
    if (!conn_) {
      conn_ = std::make_unique<store::Store>(url_);
      leader_ = false;
    }
    static const std::int64_t key = store::advisory_key("maintenance");
    if (!leader_ && !(leader_ = conn_->try_advisory_lock(key))) return;
    std::vector<std::tuple<std::string, double, double>> sizes;
    for (const auto& t : store::table_sizes(*conn_))
      sizes.emplace_back(t.name, static_cast<double>(t.bytes), static_cast<double>(t.rows));
    metrics_.tables(sizes);
    if (now >= next_partitions_) {
      ensure_months(*conn_, retention_);
      next_partitions_ = now + std::chrono::hours(6);
    }
    // (a minute at most after midnight UTC; until then the list sums the daily rows, a little slower)
    if (now >= next_windows_) {
      const auto started = std::chrono::steady_clock::now();
      if (const int built = store::build_domain_windows(*conn_, windows_))
        log::linef(log::Level::info, "serve", "domain list: %d range(s) of per-domain totals built in %.1f s", built,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      next_windows_ = now + std::chrono::minutes(1);
    }
    if (prune_ && now >= next_prune_) {
      const store::PruneResult r = store::prune(*conn_, retention_, false);
      for (const auto& line : r.lines(false)) log::linef(log::Level::info, "prune", "%s", line.c_str());
      log::linef(log::Level::info, "prune", "done in %.1f s; next in 24 h", r.seconds);
      next_prune_ = now + std::chrono::hours(24);
    }
  } catch (const store::Error& e) {
    log::linef(log::Level::warn, "serve", "maintenance (partitions, retention): %s (retrying)", e.what());
    conn_.reset();
    metrics_.tables({});  // another server may take the lock over
  }
}

DatabaseWatch::DatabaseWatch(store::Pool& pool, Maintenance maintenance)
    : maintenance_(std::move(maintenance)), thread_([this, &pool](std::stop_token stop) {
        while (!stop.stop_requested()) {
          bool ok = false;
          try {
            ok = pool.with_store([](store::Store& s) { return s.pending().empty(); });
            if (ok) pool.with_store([](store::Store& s) { return s.compact(); });
          } catch (const store::Error&) {
          }
          up_ = ok;
          if (ok) maintenance_.tick();
          // Give freed memory back to the system (a flood's buffers would otherwise stay in
          // malloc's arenas for good); cheap when there is nothing to return.
          malloc_trim(0);
          std::unique_lock lock(mutex_);
          wake_.wait_for(lock, stop, std::chrono::seconds(10), [] { return false; });
        }
      }) {}

metrics::Families DatabaseWatch::families() const {
  return {{"tlsrpt_database_up", "1 when the database answers and its migrations are applied (checked every 10 s)", false,
           [this] { return up_ ? 1.0 : 0.0; }}};
}

Reloader::Reloader(const config::Settings& started, CommandLine command_line, std::function<config::Settings()> reread,
                   Targets targets)
    : started_(started),
      current_(started),
      command_line_(std::move(command_line)),
      reread_(std::move(reread)),
      targets_(std::move(targets)) {}

namespace {

void reload_tls(const char* name, auto* server, const std::string& cert, const std::string& key) {
  try {
    log::linef(log::Level::info, "serve", "reload: %s TLS certificate %s", name, server->reload_tls(cert, key).c_str());
  } catch (const std::runtime_error& e) {  // a file changed again since the plan read it
    log::linef(log::Level::error, "serve", "reload: %s TLS unchanged: %s", name, e.what());
  }
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& k : items) out += (out.empty() ? "" : ", ") + k;
  return out;
}

}  // namespace

void Reloader::operator()() {
  config::Settings next;
  Plan p;
  try {
    next = reread_();
    p = plan(next, command_line_);
  } catch (const std::exception& e) {  // CLI::ValidationError from the load or the plan
    ++refused_;
    log::linef(log::Level::error, "serve", "reload: refused, nothing changed (the running settings stay): %s", e.what());
    return;
  }
  ++applied_;
  const auto changes = config::changed(current_, next);
  log::set_level(p.log_level);
  log::set_format(p.log_format);
  if (targets_.smtp && targets_.smtp->tls_enabled()) reload_tls("smtp", targets_.smtp, p.smtp.tls_cert, p.smtp.tls_key);
  if (targets_.http && targets_.http->tls()) reload_tls("https", targets_.http, p.http.tls_cert, p.http.tls_key);
  if (targets_.routes)
    for (const auto& what : targets_.routes->reload(p.api))
      log::linef(log::Level::info, "serve", "reload: %s replaced", what.c_str());
  auto changed = [&](std::string_view key) { return std::find(changes.begin(), changes.end(), key) != changes.end(); };
  if (changed("checks.domains") || changed("domain") || changed("smtp.recipients")) targets_.set_monitored(p.monitored);
  for (const auto& key : config::changed(started_, next))
    if (!config::reloadable(key))
      log::linef(log::Level::warn, "serve", "reload: %s changed; it takes effect after a restart", key.c_str());
  log::linef(log::Level::info, "serve", "reload: done (%s)",
             changes.empty() ? "no setting changed" : ("changed: " + joined(changes)).c_str());
  current_ = std::move(next);
}

metrics::Families Reloader::families() const {
  const std::string help = "SIGHUP reloads, by result: applied, or refused (the file did not load or plan; nothing changed)";
  return {{"tlsrpt_config_reloads_total", help, true, [this] { return static_cast<double>(applied_.load()); }, {{"result", "applied"}}},
          {"tlsrpt_config_reloads_total", help, true, [this] { return static_cast<double>(refused_.load()); }, {{"result", "refused"}}}};
}

}  // namespace tlsrpt::cli
