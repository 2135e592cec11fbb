// Posture checks from the settings: what `tlsrpt check` and `tlsrpt serve` share (DNS and check
// settings, the monitored domains), and serve's scheduled checks with their storage and metrics.
#pragma once

#include <memory>
#include <vector>

#include "config/config.hpp"
#include "metrics/metrics.hpp"
#include "store/pool.hpp"
#include "posture/monitor.hpp"
#include "rollout/rollout.hpp"
#include "readiness/readiness.hpp"

namespace tlsrpt::cli {

dns::Settings dns_settings(const config::Settings& s);
// expected_rua left empty (it is each domain's).
posture::CheckSettings check_settings(const config::Settings& s);
// tlsrpt's own address: the first user@domain of smtp.recipients ("" when there is none).
std::string default_rua(const config::Settings& s);
// checks.domains entries ("name" or "name=rua") then [[domain]] tables; each name checked and
// normalised, each without a rua given the default; a name listed twice is a usage error.
std::vector<posture::Monitored> monitored_domains(const config::Settings& s);
// The domains whose policy tlsrpt hosts ([[domain]] hosted = true, then policy.domains), lower
// case, each once; names that are not domains are left to monitored_domains to refuse.
std::vector<std::string> hosted_domains(const config::Settings& s);
rollout::Settings rollout_settings(const config::Settings& s);

// readiness.* (the window in days, 1 to 400, and the thresholds).
int readiness_days(const config::Settings& s);
readiness::Thresholds readiness_thresholds(const config::Settings& s);

// serve's scheduled checks: the Monitor, and a thread that stores each result (so that the
// checks never wait for the database; results queue while it is down, oldest dropped past a
// bound) and updates the metrics. One server among several on a database runs the checks: the
// one holding an advisory lock.
class ScheduledChecks {
 public:
  ScheduledChecks(const config::Settings& settings, std::vector<posture::Monitored> domains, store::Pool& pool,
                  metrics::Metrics& metrics);
  ~ScheduledChecks();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlsrpt::cli
