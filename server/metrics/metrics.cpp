#include "metrics/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

namespace tlsrpt::metrics {
namespace {

using prometheus::Labels;

// Label values from untrusted text: the configured set, or the first `max` values seen.
class BoundedLabel {
 public:
  BoundedLabel(const std::vector<std::string>& fixed, std::size_t max)
      : allowed_(fixed.begin(), fixed.end()), fixed_(!fixed.empty()), max_(max) {}
  std::string operator()(std::string_view value) {
    std::lock_guard lock(mutex_);
    const std::string v(value);
    if (allowed_.count(v)) return v;
    if (!fixed_ && allowed_.size() < max_ && usable(v)) {
      allowed_.insert(v);
      return v;
    }
    return std::string(other_label);
  }

 private:
  // Printable text of a sane length only (report strings are valid UTF-8 already).
  static bool usable(const std::string& v) {
    return !v.empty() && v.size() <= 128 && v != other_label &&
           std::all_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
  }
  std::mutex mutex_;
  std::set<std::string> allowed_;
  bool fixed_;
  std::size_t max_;
};

const prometheus::Histogram::BucketBoundaries latency_buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                              0.1,    0.25,  0.5,    1,     2.5,   5,     10};

}  // namespace

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  BoundedLabel domains, organizations;

  prometheus::Family<prometheus::Counter>& messages =
      prometheus::BuildCounter().Name("tlsrpt_messages_total")
          .Help("Inputs received, by transport and outcome (stored, duplicate, rejected, deferred: database "
                "unavailable, failed: internal error)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& rejections =
      prometheus::BuildCounter().Name("tlsrpt_rejections_total").Help("Rejected inputs, by reason").Register(*registry);
  prometheus::Family<prometheus::Counter>& bodies_dropped =
      prometheus::BuildCounter().Name("tlsrpt_rejected_bodies_dropped_total")
          .Help("Rejected inputs whose body was not kept (past the rejected-input quota), by transport").Register(*registry);
  prometheus::Family<prometheus::Counter>& quirks =
      prometheus::BuildCounter().Name("tlsrpt_quirks_total")
          .Help("Deviations from RFC 8460 tolerated in newly stored reports, by quirk").Register(*registry);
  prometheus::Family<prometheus::Counter>& dkim_messages =
      prometheus::BuildCounter().Name("tlsrpt_dkim_messages_total")
          .Help("Report messages verified at intake, by transport, DKIM result (pass, fail, none, temperror, permerror) "
                "and reporter (the From address's organisational domain among dkim.known_reporters, else _other)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& dkim_errors =
      prometheus::BuildCounter().Name("tlsrpt_dkim_signature_errors_total")
          .Help("DKIM signatures that do not authenticate their message, by error").Register(*registry);
  prometheus::Family<prometheus::Counter>& unauthenticated_reports =
      prometheus::BuildCounter().Name("tlsrpt_reports_unauthenticated_total")
          .Help("New reports stored from mail that DKIM does not authenticate, left out of the report data series "
                "(dkim.alert_on = authenticated)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& reports =
      prometheus::BuildCounter().Name("tlsrpt_reports_total")
          .Help("Reports read from stored inputs, by transport and outcome (new, duplicate)").Register(*registry);
  prometheus::Family<prometheus::Histogram>& store_seconds =
      prometheus::BuildHistogram().Name("tlsrpt_store_duration_seconds")
          .Help("Time to parse and commit one input, by transport").Register(*registry);
  prometheus::Family<prometheus::Counter>& sessions =
      prometheus::BuildCounter().Name("tlsrpt_report_sessions_total")
          .Help("TLS sessions counted by newly stored reports, by policy domain, policy type and result (success, "
                "a registered result-type, other, or unspecified: failed sessions without a failure-detail)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& last_report =
      prometheus::BuildGauge().Name("tlsrpt_last_report_end_timestamp_seconds")
          .Help("End of the period covered by the newest stored report, by policy domain and reporting organisation")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& http_requests =
      prometheus::BuildCounter().Name("tlsrpt_http_requests_total")
          .Help("HTTP requests, by route and status code").Register(*registry);
  prometheus::Family<prometheus::Histogram>& http_seconds =
      prometheus::BuildHistogram().Name("tlsrpt_http_request_duration_seconds")
          .Help("HTTP request handling time, by route").Register(*registry);

  prometheus::Family<prometheus::Gauge>& posture_findings =
      prometheus::BuildGauge().Name("tlsrpt_posture_findings")
          .Help("Findings of the latest posture check, by monitored domain, finding and severity (how many; series "
                "of findings no longer present are removed)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& posture_cert_expiry =
      prometheus::BuildGauge().Name("tlsrpt_posture_mx_cert_expiry_timestamp_seconds")
          .Help("Not-after of the MX host's STARTTLS certificate (the earliest of its addresses), by monitored "
                "domain and MX host")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& posture_mode =
      prometheus::BuildGauge().Name("tlsrpt_posture_sts_mode")
          .Help("1 for the MTA-STS mode the domain publishes now (enforce, testing, none, absent)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& posture_last =
      prometheus::BuildGauge().Name("tlsrpt_posture_last_check_timestamp_seconds")
          .Help("Start of the latest posture check, by monitored domain").Register(*registry);
  prometheus::Family<prometheus::Gauge>& posture_duration =
      prometheus::BuildGauge().Name("tlsrpt_posture_check_duration_seconds")
          .Help("Duration of the latest posture check, by monitored domain").Register(*registry);
  prometheus::Family<prometheus::Counter>& posture_checks =
      prometheus::BuildCounter().Name("tlsrpt_posture_checks_total")
          .Help("Posture checks run, by monitored domain and outcome (complete, incomplete: a step could not "
                "complete, nothing is known to be clear)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& readiness =
      prometheus::BuildGauge().Name("tlsrpt_readiness")
          .Help("1 for the readiness verdict of a monitored domain now (ready, not-ready, insufficient-data, enforced), "
                "updated after each posture check")
          .Register(*registry);
  std::map<std::string, prometheus::Gauge*> readiness_series;  // by domain
  prometheus::Family<prometheus::Gauge>& drift =
      prometheus::BuildGauge().Name("tlsrpt_policy_drift_sessions")
          .Help("Sessions in the reports of a monitored domain that began in the last 7 days, by policy type and drift "
                "state (current, previous, never-published, unknown), updated after each posture check")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& drift_beyond =
      prometheus::BuildGauge().Name("tlsrpt_policy_drift_beyond_max_age_sessions")
          .Help("Sessions in the reports of a monitored domain that began in the last 7 days under an MTA-STS policy "
                "the domain stopped publishing longer ago than its max_age")
          .Register(*registry);
  std::map<std::string, std::vector<prometheus::Gauge*>> drift_series;  // by domain: replaced each time
  prometheus::Family<prometheus::Gauge>& table_bytes =
      prometheus::BuildGauge().Name("tlsrpt_database_table_bytes")
          .Help("Bytes of each table and partition with its indexes, from the server that runs the maintenance "
                "(every 10 s; the others export none, so a sum over servers stays right)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& table_rows =
      prometheus::BuildGauge().Name("tlsrpt_database_table_rows")
          .Help("Live rows of each table and partition as PostgreSQL's statistics count them (the default partition "
                "of failure_details exactly: dates no month covers), from the server that runs the maintenance")
          .Register(*registry);
  std::vector<std::pair<prometheus::Gauge*, prometheus::Gauge*>> table_series;  // (bytes, rows): replaced each time
  prometheus::Family<prometheus::Gauge>& policy_cert_expiry =
      prometheus::BuildGauge().Name("tlsrpt_policy_certificate_expiry_timestamp_seconds")
          .Help("Not-after of the certificate the policy listener serves for a policy host (policy.cert_dir), by host")
          .Register(*registry);
  std::vector<prometheus::Gauge*> policy_cert_series;  // replaced each time
  prometheus::Family<prometheus::Gauge>& policy_mode =
      prometheus::BuildGauge().Name("tlsrpt_policy_hosted_mode")
          .Help("1 for the mode of the MTA-STS policy tlsrpt serves for a hosted domain, by domain and mode; "
                "dns_pending is 1 while its id is not in DNS yet")
          .Register(*registry);
  std::vector<prometheus::Gauge*> policy_mode_series;
  prometheus::Family<prometheus::Counter>& automatic_steps =
      prometheus::BuildCounter().Name("tlsrpt_rollout_automatic_steps_total")
          .Help("Roll-out steps taken by themselves ([[domain]] auto_enforce_days, auto_rollback), by hosted domain and step "
                "(enforce, rollback); a rollback fires the alert TlsrptRolloutAutoRollback")
          .Register(*registry);
  std::mutex posture_mutex;
  std::map<std::string, std::vector<prometheus::Gauge*>> posture_series;  // by domain: replaced each check

  struct Source {
    std::string name, help;
    Kind kind;
    std::function<double()> read;
    std::vector<std::pair<std::string, std::string>> labels = {};
  };
  std::mutex sources_mutex;
  std::vector<Source> sources;

  LabelSettings labels;

  explicit Impl(const LabelSettings& l)
      : domains(l.domains, l.max_domains), organizations(l.organizations, l.max_organizations), labels(l) {
    // Series that alerts and dashboards compare against exist from the start, at zero.
    for (const char* t : {"cli", "smtp", "imap", "https"})
      for (const char* o : {"stored", "duplicate", "rejected", "deferred", "failed"})
        messages.Add({{"transport", t}, {"outcome", o}});
    for (const auto& r : report::all_reasons()) rejections.Add({{"reason", std::string(r.name)}});
    for (const char* t : {"smtp", "imap", "cli", "https"}) unauthenticated_reports.Add({{"transport", t}});
  }

  void set_last_report(std::string_view domain, std::string_view org, double end) {
    prometheus::Gauge& g = last_report.Add({{"policy_domain", domains(domain)}, {"organization", organizations(org)}});
    if (end > g.Value()) g.Set(end);
  }
};

Metrics::Metrics(LabelSettings labels) : impl_(std::make_unique<Impl>(labels)) {}
Metrics::~Metrics() = default;

void Metrics::stored(std::string_view transport, const pipeline::Result& parsed, const store::StoreResult& result,
                     double store_seconds, bool count_sessions) {
  Impl& m = *impl_;
  const std::string t(transport);
  m.messages.Add({{"transport", t}, {"outcome", std::string(store::to_string(result.outcome))}}).Increment();
  m.store_seconds.Add({{"transport", t}}, latency_buckets).Observe(store_seconds);
  if (result.outcome == store::Outcome::rejected && !parsed.rejections.empty()) {
    m.rejections.Add({{"reason", std::string(report::to_string(parsed.rejections.front().reason))}}).Increment();
    if (result.body_dropped) m.bodies_dropped.Add({{"transport", t}}).Increment();
    return;
  }
  if (result.new_reports) m.reports.Add({{"transport", t}, {"outcome", "new"}}).Increment(result.new_reports);
  if (result.duplicate_reports)
    m.reports.Add({{"transport", t}, {"outcome", "duplicate"}}).Increment(result.duplicate_reports);
  for (std::size_t i = 0; i < parsed.reports.size() && i < result.fresh.size(); ++i) {
    if (!result.fresh[i]) continue;
    const report::Report& r = parsed.reports[i].report;
    r.quirks.for_each([&m](report::Quirk q) { m.quirks.Add({{"quirk", std::string(report::to_string(q))}}).Increment(); });
    if (!count_sessions) {
      m.unauthenticated_reports.Add({{"transport", t}}).Increment();
      continue;
    }
    for (const auto& p : r.policies) {
      const std::string domain = m.domains(p.policy_domain);
      auto add = [&](const std::string& result_label, std::int64_t n) {
        if (n > 0)
          m.sessions.Add({{"policy_domain", domain}, {"policy_type", p.policy_type}, {"result", result_label}})
              .Increment(static_cast<double>(n));
      };
      add("success", p.total_successful_session_count);
      std::int64_t detailed = 0;
      for (const auto& fd : p.failure_details) {
        const std::string_view type = fd.get(report::FailureDetail::result_type);
        add(report::is_registered_result_type(type) ? std::string(type) : "other", fd.failed_session_count);
        detailed += fd.failed_session_count;
      }
      if (p.total_failure_session_count > detailed) add("unspecified", p.total_failure_session_count - detailed);
      m.set_last_report(p.policy_domain, r.organization_name, static_cast<double>(r.end_datetime));
    }
  }
}

void Metrics::dkim(std::string_view transport, const dkim::Verdict& verdict) {
  Impl& m = *impl_;
  std::string reporter(other_label);
  for (const auto& known : m.labels.known_reporters)
    if (verdict.from_organization == known) reporter = known;
  m.dkim_messages.Add({{"transport", std::string(transport)}, {"result", std::string(dkim::to_string(verdict.result))},
                       {"reporter", reporter}})
      .Increment();
  for (const auto& sig : verdict.signatures)
    if (sig.error) m.dkim_errors.Add({{"error", std::string(dkim::to_string(*sig.error))}}).Increment();
}

void Metrics::deferred(std::string_view transport) {
  impl_->messages.Add({{"transport", std::string(transport)}, {"outcome", "deferred"}}).Increment();
}

void Metrics::failed(std::string_view transport) {
  impl_->messages.Add({{"transport", std::string(transport)}, {"outcome", "failed"}}).Increment();
}

void Metrics::seed_last_report(std::string_view domain, std::string_view organization, double end_seconds) {
  impl_->set_last_report(domain, organization, end_seconds);
}

void Metrics::posture(const PostureSample& p) {
  Impl& m = *impl_;
  std::lock_guard lock(m.posture_mutex);
  std::vector<prometheus::Gauge*>& series = m.posture_series[p.domain];
  for (prometheus::Gauge* g : series) {  // each belongs to one of the three families
    m.posture_findings.Remove(g);
    m.posture_cert_expiry.Remove(g);
    m.posture_mode.Remove(g);
  }
  series.clear();
  std::map<std::pair<std::string, std::string>, double> counts;
  for (const auto& f : p.findings) counts[f] += 1;
  for (const auto& [f, n] : counts) {
    prometheus::Gauge& g = m.posture_findings.Add({{"domain", p.domain}, {"finding", f.first}, {"severity", f.second}});
    g.Set(n);
    series.push_back(&g);
  }
  for (const auto& [mx, not_after] : p.cert_expiry) {
    prometheus::Gauge& g = m.posture_cert_expiry.Add({{"domain", p.domain}, {"mx", mx}});
    g.Set(not_after);
    series.push_back(&g);
  }
  prometheus::Gauge& mode = m.posture_mode.Add({{"domain", p.domain}, {"mode", p.mode.empty() ? "absent" : p.mode}});
  mode.Set(1);
  series.push_back(&mode);
  m.posture_last.Add({{"domain", p.domain}}).Set(p.checked_at);
  m.posture_duration.Add({{"domain", p.domain}}).Set(p.duration_seconds);
  m.posture_checks.Add({{"domain", p.domain}, {"outcome", p.complete ? "complete" : "incomplete"}}).Increment();
}

void Metrics::readiness(const std::string& domain, std::string_view verdict) {
  Impl& m = *impl_;
  std::lock_guard lock(m.posture_mutex);
  prometheus::Gauge*& slot = m.readiness_series[domain];
  if (slot) m.readiness.Remove(slot);
  slot = &m.readiness.Add({{"domain", domain}, {"verdict", std::string(verdict)}});
  slot->Set(1);
}

void Metrics::drift(const std::string& domain,
                    const std::map<std::pair<std::string, std::string>, std::int64_t>& sessions,
                    std::int64_t beyond_max_age) {
  Impl& m = *impl_;
  std::lock_guard lock(m.posture_mutex);
  auto& series = m.drift_series[domain];
  for (auto* g : series) m.drift.Remove(g);
  series.clear();
  for (const auto& [key, n] : sessions) {
    auto& g = m.drift.Add({{"domain", domain}, {"policy_type", key.first}, {"state", key.second}});
    g.Set(static_cast<double>(n));
    series.push_back(&g);
  }
  m.drift_beyond.Add({{"domain", domain}}).Set(static_cast<double>(beyond_max_age));
}

void Metrics::tables(const std::vector<std::tuple<std::string, double, double>>& sizes) {
  Impl& m = *impl_;
  std::lock_guard lock(m.posture_mutex);
  for (auto [b, r] : m.table_series) {
    m.table_bytes.Remove(b);
    m.table_rows.Remove(r);
  }
  m.table_series.clear();
  for (const auto& [table, bytes, rows] : sizes) {
    auto& b = m.table_bytes.Add({{"table", table}});
    b.Set(bytes);
    auto& r = m.table_rows.Add({{"table", table}});
    r.Set(rows);
    m.table_series.emplace_back(&b, &r);
  }
}

void Metrics::automatic_step(const std::string& domain, std::string_view step, bool count) {
  auto& c = impl_->automatic_steps.Add({{"domain", domain}, {"step", std::string(step)}});
  if (count) c.Increment();
}

void Metrics::policy_certificates(const std::vector<std::pair<std::string, double>>& not_after) {
  Impl& m = *impl_;
  std::lock_guard lock(m.posture_mutex);
  for (auto* g : m.policy_cert_series) m.policy_cert_expiry.Remove(g);
  m.policy_cert_series.clear();
  for (const auto& [host, when] : not_after) {
    auto& g = m.policy_cert_expiry.Add({{"host", host}});
    g.Set(when);
    m.policy_cert_series.push_back(&g);
  }
}

void Metrics::hosted_policies(const std::vector<std::tuple<std::string, std::string, bool>>& policies) {
  Impl& m = *impl_;
  std::lock_guard lock(m.posture_mutex);
  for (auto* g : m.policy_mode_series) m.policy_mode.Remove(g);
  m.policy_mode_series.clear();
  for (const auto& [domain, mode, pending] : policies) {
    auto& g = m.policy_mode.Add({{"domain", domain}, {"mode", mode}, {"dns_pending", pending ? "1" : "0"}});
    g.Set(1);
    m.policy_mode_series.push_back(&g);
  }
}

void Metrics::http_request(std::string_view route, unsigned status, double seconds) {
  const std::string r(route);
  impl_->http_requests.Add({{"route", r}, {"code", std::to_string(status)}}).Increment();
  impl_->http_seconds.Add({{"route", r}}, latency_buckets).Observe(seconds);
}

void Metrics::add_source(std::string name, std::string help, Kind kind, std::function<double()> read) {
  std::lock_guard lock(impl_->sources_mutex);
  impl_->sources.push_back({std::move(name), std::move(help), kind, std::move(read)});
}

void Metrics::add_source(std::string name, std::string help, Kind kind, const std::atomic<std::uint64_t>& value) {
  add_source(std::move(name), std::move(help), kind, [&value] { return static_cast<double>(value.load()); });
}

void Metrics::add_families(const Families& families) {
  std::lock_guard lock(impl_->sources_mutex);
  for (const auto& f : families)
    impl_->sources.push_back({f.name, f.help, f.counter ? Kind::counter : Kind::gauge, f.read, f.labels});
}

std::string Metrics::expose() const {
  std::vector<prometheus::MetricFamily> families = impl_->registry->Collect();
  {
    std::lock_guard lock(impl_->sources_mutex);
    for (const auto& s : impl_->sources) {
      // Sources of one name (a label's values) are one family.
      auto same = std::find_if(families.begin(), families.end(), [&](const auto& f) { return f.name == s.name; });
      prometheus::MetricFamily fresh;
      prometheus::MetricFamily& f = same != families.end() ? *same : fresh;
      f.name = s.name;
      f.help = s.help;
      prometheus::ClientMetric c;
      for (const auto& [name, value] : s.labels) c.label.push_back({name, value});
      if (s.kind == Kind::counter) {
        f.type = prometheus::MetricType::Counter;
        c.counter.value = s.read();
      } else {
        f.type = prometheus::MetricType::Gauge;
        c.gauge.value = s.read();
      }
      f.metric.push_back(std::move(c));
      if (same == families.end()) families.push_back(std::move(fresh));
    }
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace tlsrpt::metrics
