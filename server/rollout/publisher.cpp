#include "rollout/publisher.hpp"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "log/log.hpp"
#include "rollout/rollout.hpp"
#include "store/notify.hpp"

namespace tlsrpt::rollout {

struct Publisher::Impl {
  store::Pool& pool;
  PolicyHost& host;
  metrics::Metrics& metrics;
  PublisherSettings settings;
  std::atomic<bool> stopping{false};
  std::map<std::string, std::chrono::steady_clock::time_point> last_attempt;  // by domain, for refused updates
  std::chrono::steady_clock::time_point last_rescan{};
  std::thread thread;

  Impl(store::Pool& p, PolicyHost& h, metrics::Metrics& m, PublisherSettings s)
      : pool(p), host(h), metrics(m), settings(std::move(s)) {}

  void rescan() {
    if (!settings.certs) return;
    for (const auto& line : settings.certs->rescan()) log::linef(log::Level::info, "policy", "%s", line.c_str());
    std::vector<std::pair<std::string, double>> expiry;
    for (const auto& e : settings.certs->entries())
      if (e.error.empty()) expiry.emplace_back(e.host, static_cast<double>(e.not_after));
    metrics.policy_certificates(expiry);
  }

  // One policy's id one step further into DNS.
  void publish(const store::HostedPolicy& p) {
    const std::string owner = "_mta-sts." + p.domain;
    const std::string record = "v=STSv1; id=" + p.policy_id;
    if (!settings.update_server) {
      const auto seen = pool.with_store([&](store::Store& s) { return store::observed_mx(s, p.domain); });
      if (seen.sts_id == p.policy_id) {
        pool.with_store([&](store::Store& s) {
          store::record_policy_dns(s, p.domain, p.policy_id, "confirmed", p.policy_id, "read by the posture check of " + seen.checked_at);
        });
        log::linef(log::Level::info, "policy", "%s: policy id %s confirmed in DNS", p.domain.c_str(), p.policy_id.c_str());
      }
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (p.dns_state == "failed" && last_attempt.count(p.domain) && now - last_attempt[p.domain] < std::chrono::seconds(30)) return;
    if (p.dns_state == "pending" || p.dns_state == "failed") {
      last_attempt[p.domain] = now;
      const dns::Update u = dns::replace_txt(*settings.update_server, settings.key, owner, record, record_ttl,
                                             settings.dns_timeout);
      pool.with_store([&](store::Store& s) {
        store::record_policy_dns(s, p.domain, p.policy_id, u.ok ? "updated" : "failed", u.ok ? p.policy_id : p.dns_id, u.detail);
      });
      log::linef(u.ok ? log::Level::info : log::Level::warn, "policy", "%s: DNS update of %s to id %s: %s", p.domain.c_str(),
                 owner.c_str(), p.policy_id.c_str(), u.detail.c_str());
      if (!u.ok) return;
    }
    // Read back from the primary itself: the record is there, and it is the only one.
    const auto txt = dns::query_txt(*settings.update_server, owner, settings.dns_timeout);
    if (txt && txt->size() == 1 && txt->front() == record)
      pool.with_store([&](store::Store& s) {
        store::record_policy_dns(s, p.domain, p.policy_id, "confirmed", p.policy_id,
                                 "read back from " + settings.update_server->address + ":" + std::to_string(settings.update_server->port));
      });
  }

  void round() {
    const auto policies = pool.with_store([](store::Store& s) { return store::hosted_policies(s); });
    host.set(policies);  // served before its id is published
    std::vector<std::tuple<std::string, std::string, bool>> modes;
    for (const auto& p : policies) {
      modes.emplace_back(p.domain, p.mode, p.dns_state != "confirmed");
      if (p.dns_state != "confirmed") publish(p);
    }
    metrics.hosted_policies(modes);
  }

  void run() {
    std::unique_ptr<store::Listener> listener;
    while (!stopping) {
      try {
        if (!listener) listener = std::make_unique<store::Listener>(pool.url(), "tlsrpt_policy");
        round();
      } catch (const std::exception& e) {
        log::linef(log::Level::warn, "policy", "hosted policies: %s (retrying)", e.what());
        listener.reset();
      }
      if (std::chrono::steady_clock::now() - last_rescan >= settings.interval) {
        rescan();
        last_rescan = std::chrono::steady_clock::now();
      }
      // Short waits, so that stop() is quick; a notification ends the wait at once.
      for (auto waited = std::chrono::milliseconds(0); !stopping && waited < settings.interval;
           waited += std::chrono::milliseconds(500)) {
        if (listener ? listener->wait(std::chrono::milliseconds(500)) : (std::this_thread::sleep_for(std::chrono::milliseconds(500)), false))
          break;
        if (std::chrono::steady_clock::now() - last_rescan >= settings.interval) break;
      }
    }
  }
};

Publisher::Publisher(store::Pool& pool, PolicyHost& host, metrics::Metrics& metrics, PublisherSettings settings)
    : impl_(std::make_unique<Impl>(pool, host, metrics, std::move(settings))) {
  impl_->rescan();
  impl_->last_rescan = std::chrono::steady_clock::now();
  try {
    impl_->round();  // the policies are served from the first request on
  } catch (const std::exception& e) {
    log::linef(log::Level::warn, "policy", "hosted policies: %s (retrying)", e.what());
  }
  impl_->thread = std::thread([this] { impl_->run(); });
}

Publisher::~Publisher() { stop(); }

void Publisher::stop() {
  impl_->stopping = true;
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace tlsrpt::rollout
