// Prometheus metrics (prometheus-cpp): what was ingested and what the reports say.
//
// Purpose: one registry for the whole process, exposed in the text format by the HTTP server's
// /metrics. Counters for ingestion (messages by transport and outcome, rejections by reason,
// quirks, reports new and duplicate, store latency), HTTP requests, sources read at scrape time
// (SMTP counters, database state), and report data for trends: sessions by policy domain, policy
// type and result, and the end of the newest report per policy domain and organisation.
// Trusts: nothing in a report: policy-domain and organisation labels come from a configured set
// or from the first N values seen (others become "_other"); results are the registered
// result-types, "success", "other" or "unspecified"; never an IP, a report-id or free text.
// Thread-safe: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <string_view>
#include <vector>

#include "metrics/family.hpp"
#include "dkim/verify.hpp"
#include "pipeline/pipeline.hpp"
#include "store/store.hpp"

namespace tlsrpt::metrics {

struct LabelSettings {
  std::vector<std::string> domains;        // when set: the only policy_domain label values
  std::vector<std::string> organizations;  // when set: the only organization label values
  std::size_t max_domains = 100;           // otherwise the first this many seen
  std::size_t max_organizations = 50;
  // Reporters named in the DKIM series (organisational domains of the From address); any other
  // is "_other" (dkim.known_reporters).
  std::vector<std::string> known_reporters{"google.com", "microsoft.com", "mail.ru"};
};

// The value every label outside the bounded set is folded into.
inline constexpr std::string_view other_label = "_other";

// The latest posture check of one monitored domain (the only domains posture series exist for).
struct PostureSample {
  std::string domain;
  double checked_at = 0;  // seconds since the epoch
  double duration_seconds = 0;
  bool complete = true;
  std::vector<std::pair<std::string, std::string>> findings;  // (finding, severity), one per finding found
  std::string mode;  // the policy's mode, "absent" when no policy was read
  std::vector<std::pair<std::string, double>> cert_expiry;  // (MX host, earliest not-after of its certificates)
};

class Metrics {
 public:
  explicit Metrics(LabelSettings labels);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // A message the store took: its outcome, the new reports' sessions and quirks, the time spent.
  // `count_sessions`: whether the report data series (sessions, newest report) take the reports
  // (false for mail that DKIM does not authenticate, under dkim.alert_on = authenticated).
  void stored(std::string_view transport, const pipeline::Result& parsed, const store::StoreResult& result,
              double store_seconds, bool count_sessions = true);
  // A message verified at intake: by transport, result and reporter; each signature's error.
  void dkim(std::string_view transport, const dkim::Verdict& verdict);
  void deferred(std::string_view transport);  // database unavailable: the sender retries
  void failed(std::string_view transport);    // a bug: the sender retries
  // Newest report end per domain and organisation known at start-up (seconds since the epoch).
  void seed_last_report(std::string_view domain, std::string_view organization, double end_seconds);

  // A posture check completed: replaces the domain's finding, mode and certificate series.
  void posture(const PostureSample& sample);
  // The readiness verdict of a monitored domain now (ready, not-ready, insufficient-data, enforced).
  void readiness(const std::string& domain, std::string_view verdict);
  // Drift of a monitored domain's recent reports: sessions by (policy type, drift state), replacing
  // the domain's previous series, and the sessions under a policy unpublished beyond its max_age.
  void drift(const std::string& domain, const std::map<std::pair<std::string, std::string>, std::int64_t>& sessions,
             std::int64_t beyond_max_age);

  // `route` is the route template ("/api/v1/reports/{id}"), never the request's path.
  // Each table's (and partition's) bytes and rows, replacing the last ones; empty: none exported
  // (a server that does not run the maintenance).
  void tables(const std::vector<std::tuple<std::string, double, double>>& sizes);
  void http_request(std::string_view route, unsigned status, double seconds);
  // A step the roll-out took by itself (rollout.auto_*): counted by domain and step. count =
  // false makes the series at 0 (at start, so that the alert sees the first step as an increase).
  void automatic_step(const std::string& domain, std::string_view step, bool count = true);
  // The policy listener's certificates: (host, not-after), replacing the last ones.
  void policy_certificates(const std::vector<std::pair<std::string, double>>& not_after);
  // The hosted policies: (domain, mode, whether its id is not in DNS yet), replacing the last ones.
  void hosted_policies(const std::vector<std::tuple<std::string, std::string, bool>>& policies);

  // A value read at every scrape (counters kept elsewhere, the database state).
  enum class Kind { counter, gauge };
  void add_source(std::string name, std::string help, Kind kind, std::function<double()> read);
  // The same for a count kept in an atomic by a listener or poller (it must outlive the scrapes).
  void add_source(std::string name, std::string help, Kind kind, const std::atomic<std::uint64_t>& value);
  // Every family a part defines (metrics/family.hpp).
  void add_families(const Families& families);

  // The exposition in Prometheus' text format 0.0.4.
  std::string expose() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlsrpt::metrics
