#include "cli/monitoring.hpp"

#include <CLI/CLI.hpp>

#include "cli/dkim_command.hpp"
#include "log/log.hpp"

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>


namespace tlsrpt::cli {

dns::Settings dns_settings(const config::Settings& s) {
  dns::Settings out;
  out.server = s.dns_server;
  out.trust_anchor_file = s.dns_trust_anchor_file;
  out.timeout = s.dns_timeout;
  return out;
}

posture::CheckSettings check_settings(const config::Settings& s) {
  posture::CheckSettings out;
  out.fetch.ca_file = out.probe.ca_file = s.checks_ca_file;
  out.probe.smtp_port = static_cast<unsigned short>(s.checks_smtp_port);  // 1 to 65535 (config)
  out.fetch.https_port = static_cast<unsigned short>(s.checks_https_port);
  out.fetch.timeout = out.probe.timeout = s.checks_timeout;
  out.fetch.public_only = out.probe.public_only = s.checks_public_addresses_only;
  out.probe.expiry_warning_days = out.fetch.expiry_warning_days = static_cast<int>(s.checks_expiry_warning_days);
  return out;
}

std::string default_rua(const config::Settings& s) {
  for (const auto& r : s.smtp_recipients)
    if (!r.starts_with('@')) return r;
  return {};
}

std::vector<std::string> hosted_domains(const config::Settings& s) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& d : s.domains)
    if (const auto name = policy::normalize_domain(d.name); d.hosted && name && seen.insert(*name).second) out.push_back(*name);
  for (const auto& d : s.policy_domains)
    if (const auto name = policy::normalize_domain(d); name && seen.insert(*name).second) out.push_back(*name);
  return out;
}

rollout::Settings rollout_settings(const config::Settings& s) {
  rollout::Settings out;
  out.testing_max_age = s.rollout_testing_max_age.count();
  out.enforce_max_age = s.rollout_enforce_max_age.count();
  out.dns_update = !s.dns_update_server.empty();
  return out;
}

std::vector<posture::Monitored> monitored_domains(const config::Settings& s) {
  // Each entry with the key it came from: checks.domains, or domain[N] for the tables.
  std::vector<std::pair<std::string, config::MonitoredDomain>> entries;
  for (const auto& d : s.checks_domains) entries.emplace_back("checks.domains", d);
  for (std::size_t i = 0; i < s.domains.size(); ++i) entries.emplace_back("domain[" + std::to_string(i) + "]", s.domains[i]);
  const std::string rua = default_rua(s);
  std::vector<posture::Monitored> out;
  std::set<std::string> seen;
  for (const auto& [key, e] : entries) {
    const bool table = key != "checks.domains";
    const auto name = policy::normalize_domain(e.name);
    if (!name) throw CLI::ValidationError(table ? key + ".name" : key, "'" + e.name + "' is not a domain name");
    if (!seen.insert(*name).second) throw CLI::ValidationError(table ? key + ".name" : key, *name + " is listed twice");
    const std::string own = e.rua.empty() ? rua : e.rua;
    if (!own.empty() && (own.find('@') == std::string::npos || own.starts_with('@') || own.ends_with('@')))
      throw CLI::ValidationError(table ? key + ".rua" : key, "the rua of " + *name + ", '" + own + "', is not user@domain");
    out.push_back({*name, own});
  }
  // A hosted domain is monitored too (the roll-out's evidence is its posture), unless it already is.
  for (const auto& d : s.policy_domains) {
    const auto name = policy::normalize_domain(d);
    if (!name) throw CLI::ValidationError("policy.domains", "'" + d + "' is not a domain name");
    if (seen.insert(*name).second) out.push_back({*name, rua});
  }
  return out;
}

int readiness_days(const config::Settings& s) {
  return static_cast<int>(s.readiness_days);  // 1 to 400 (config)
}

readiness::Thresholds readiness_thresholds(const config::Settings& s) {
  readiness::Thresholds t;
  t.min_days = static_cast<int>(s.readiness_min_days);
  t.min_reporters = static_cast<int>(s.readiness_min_reporters);
  t.max_blocking_share = s.readiness_max_blocking_share;
  t.authenticated_only = dkim_alert_on_authenticated(s);
  return t;
}

namespace {

metrics::PostureSample sample(const posture::Checked& c) {
  metrics::PostureSample out;
  out.domain = c.result.domain;
  out.checked_at = std::chrono::duration<double>(c.at.time_since_epoch()).count();
  out.duration_seconds = std::chrono::duration<double>(c.took).count();
  out.complete = !c.result.incomplete();
  for (const auto& f : c.result.findings)
    out.findings.emplace_back(std::string(policy::to_string(f.finding)),
                              std::string(policy::to_string(policy::info(f.finding).severity)));
  out.mode = c.result.policy ? std::string(policy::to_string(c.result.policy->mode)) : "absent";
  for (const auto& mx : c.result.mx) {
    std::optional<std::int64_t> earliest;
    for (const auto& p : mx.probes)
      if (p.not_after && (!earliest || *p.not_after < *earliest)) earliest = p.not_after;
    if (earliest) out.cert_expiry.emplace_back(mx.host, static_cast<double>(*earliest));
  }
  return out;
}

}  // namespace

struct ScheduledChecks::Impl {
  store::Pool& pool;
  metrics::Metrics& metrics;
  std::size_t max_queued;
  std::mutex mutex;
  std::condition_variable_any wake;
  struct Item {
    std::string json, domain;
    std::int64_t duration_ms;
    bool operator==(const Item&) const = default;
  };
  std::deque<Item> queue;
  readiness::Thresholds thresholds;
  int readiness_days;
  std::map<std::string, rollout::Automation> automation;  // hosted domains with an automatic step
  rollout::Settings rollout_settings;
  std::jthread writer;
  std::unique_ptr<posture::Monitor> monitor;  // last: stopped first

  Impl(const config::Settings& settings, std::vector<posture::Monitored> domains, store::Pool& p, metrics::Metrics& m)
      : pool(p), metrics(m), max_queued(domains.size() * 2 + 100), thresholds(readiness_thresholds(settings)),
        readiness_days(cli::readiness_days(settings)), rollout_settings(cli::rollout_settings(settings)) {
    for (const auto& d : settings.domains)
      if (const auto name = policy::normalize_domain(d.name); name && d.hosted && (d.auto_rollback || d.auto_enforce_days > 0))
        automation[*name] = rollout::Automation{d.auto_enforce_days, d.auto_rollback};
    for (const auto& [name, a] : automation) {
      if (a.rollback) metrics.automatic_step(name, "rollback", false);
      if (a.enforce_after_days > 0) metrics.automatic_step(name, "enforce", false);
    }
    posture::MonitorSettings ms;
    ms.check = check_settings(settings);
    ms.dns = dns_settings(settings);
    ms.interval = settings.checks_interval;
    ms.concurrency = static_cast<std::size_t>(settings.checks_concurrency);
    ms.first_delay = std::min(ms.first_delay, ms.interval);
    ms.domains = std::move(domains);
    writer = std::jthread([this](std::stop_token stop) { write(stop); });
    monitor = std::make_unique<posture::Monitor>(
        std::move(ms), [this](posture::Checked&& c) { done(std::move(c)); }, [this] { return lead(); });
  }

  // On the monitor's thread: whether this server runs the checks (it holds the advisory lock on
  // its monitor-thread connection; the database down: it checks anyway, results queue).
  bool lead() {
    static const std::int64_t key = store::advisory_key("posture checks");
    try {
      const bool held = pool.with_store([](store::Store& s) { return s.try_advisory_lock(key); });
      if (!held && !standby_logged) log::linef(log::Level::info, "serve", "posture checks: another server runs them; standing by");
      standby_logged = !held;
      return held;
    } catch (const store::Error&) {
      return true;
    }
  }
  bool standby_logged = false;

  void done(posture::Checked&& c) {
    metrics.posture(sample(c));
    std::lock_guard lock(mutex);
    if (queue.size() >= max_queued) {
      log::linef(log::Level::warn, "serve", "posture checks: database unavailable, the oldest unsaved check is dropped");
      queue.pop_front();
    }
    queue.push_back(Item{posture::to_json(c.result), c.result.domain, c.took.count()});
    wake.notify_one();
  }

  void save(const Item& item) {
    pool.with_store([&](store::Store& s) { return s.store_posture(item.json, item.duration_ms); });
    pool.changed();  // drift answers depend on what the checks saw
  }

  void write(std::stop_token stop) {
    std::unique_lock lock(mutex);
    while (!stop.stop_requested()) {
      if (!wake.wait(lock, stop, [this] { return !queue.empty(); })) return;
      auto item = queue.front();
      lock.unlock();
      bool saved = false;
      try {
        save(item);
        saved = true;
        // The verdict, with the check just stored (for the readiness gauge).
        const auto a = pool.with_store([&](store::Store& s) { return readiness::answer(s, item.domain, readiness_days, thresholds); });
        metrics.readiness(item.domain, readiness::to_string(a.decision.verdict));
        const auto drift = pool.with_store([&](store::Store& s) { return store::recent_drift(s, item.domain); });
        metrics.drift(item.domain, drift.sessions, drift.beyond_max_age);
        if (const auto it = automation.find(item.domain); it != automation.end()) automate(item.domain, it->second, a);
      } catch (const store::Error& e) {
        log::linef(log::Level::warn, "serve", "posture checks: %s: %s (retrying in 10 s)", saved ? "the readiness verdict" : "storing a result",
                     e.what());
      }
      lock.lock();
      if (saved) {
        if (!queue.empty() && queue.front() == item) queue.pop_front();
      } else {
        wake.wait_for(lock, stop, std::chrono::seconds(10), [] { return false; });
      }
    }
  }

  // rollout.auto_*: the step the check just stored calls for, if any.
  void automate(const std::string& domain, const rollout::Automation& a, const readiness::Answer& verdict) {
    const auto taken = pool.with_store([&](store::Store& s) {
      return rollout::automate(s, domain, a, rollout_settings, readiness_days, thresholds, verdict);
    });
    if (!taken) return;
    pool.changed();
    const bool back = taken->action == rollout::Action::rollback;
    metrics.automatic_step(domain, rollout::to_string(taken->action));
    log::linef(back ? log::Level::error : log::Level::info, "serve", "rollout %s: %s by itself: %s", domain.c_str(),
               std::string(rollout::to_string(taken->action)).c_str(), taken->reason.c_str());
  }

  void stop() {
    if (monitor) monitor->stop();
    writer.request_stop();
    if (writer.joinable()) writer.join();
    // What is still queued gets one attempt (a server stopping loses no check it can save).
    for (; !queue.empty(); queue.pop_front()) try {
        save(queue.front());
      } catch (const store::Error&) {
      }
  }
  ~Impl() { stop(); }
};

ScheduledChecks::ScheduledChecks(const config::Settings& settings, std::vector<posture::Monitored> domains,
                                 store::Pool& pool, metrics::Metrics& metrics)
    : impl_(std::make_unique<Impl>(settings, std::move(domains), pool, metrics)) {}
ScheduledChecks::~ScheduledChecks() = default;
void ScheduledChecks::stop() { impl_->stop(); }

}  // namespace tlsrpt::cli
