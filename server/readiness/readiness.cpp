#include "readiness/readiness.hpp"
#include "json/text.hpp"

#include <array>
#include <cstdio>

#include "pipeline/output.hpp"
#include "report/kebab.hpp"
#include "store/store.hpp"

namespace tlsrpt::readiness {
namespace {

#define TLSRPT_X(name, desc) inline constexpr report::Kebab reason_name_##name{#name};
TLSRPT_READINESS_REASONS(TLSRPT_X)
#undef TLSRPT_X

constexpr std::array reasons{
#define TLSRPT_X(name, desc) ReasonInfo{Reason::name, reason_name_##name.view(), desc},
    TLSRPT_READINESS_REASONS(TLSRPT_X)
#undef TLSRPT_X
};

constexpr std::string_view blocking[] = {"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
                                         "certificate-not-trusted", "validation-failure"};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}



}  // namespace

std::span<const ReasonInfo> all_reasons() { return reasons; }

std::string_view to_string(Reason reason) { return reasons[static_cast<std::size_t>(reason)].name; }

std::span<const std::string_view> blocking_result_types() { return blocking; }

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::ready: return "ready";
    case Verdict::not_ready: return "not-ready";
    case Verdict::insufficient_data: return "insufficient-data";
    case Verdict::enforced: return "enforced";
  }
  return "insufficient-data";
}

Decision decide(const Evidence& e, const Thresholds& t) {
  Decision d;
  auto add = [&d](Reason r, std::string detail) { d.reasons.emplace_back(r, std::move(detail)); };
  const double share = e.sts_sessions > 0 ? double(e.blocking_sessions) / double(e.sts_sessions) : 0;
  char share_text[64];
  std::snprintf(share_text, sizeof share_text, "%.3f%%", share * 100);
  // Enforced: what is published now, else what most senders reported.
  std::int64_t enforce = 0, all = 0;
  for (const auto& [mode, n] : e.reported_modes) {
    all += n;
    if (mode == "enforce") enforce += n;
  }
  const bool enforced = e.published_mode ? *e.published_mode == "enforce" : (all > 0 && enforce * 2 > all);
  if (!e.monitored) add(Reason::not_monitored, "add it to checks.domains for the published policy and its posture");
  for (const auto& q : e.quiet_reporters) add(Reason::reporter_quiet, q);
  if (enforced) {
    d.verdict = Verdict::enforced;
    if (e.blocking_sessions > 0)
      add(Reason::mail_refused, std::to_string(e.blocking_sessions) + " sessions refused (" + share_text + " of " +
                                    std::to_string(e.sts_sessions) + "); most: " + e.worst);
    // Under enforce an MX that fails its check refuses mail from every MTA-STS sender now, long
    // before any report says so: an emergency, never all clear.
    if (!e.posture_errors.empty()) add(Reason::posture_errors, join(e.posture_errors));
    return d;
  }
  bool not_ready = false, insufficient = false;
  // Without a posture check, only reports can say no policy is published (none without reports).
  if ((e.monitored && (!e.published_mode || *e.published_mode == "none")) ||
      (!e.monitored && all == 0 && e.days_with_reports > 0)) {
    add(Reason::no_policy_published, e.monitored ? (e.published_mode ? "the policy's mode is none" : "no policy could be read")
                                                 : "no report shows an MTA-STS policy");
    not_ready = true;
  }
  if (e.blocking_sessions > 0 && share > t.max_blocking_share) {
    add(Reason::blocking_failures, std::to_string(e.blocking_sessions) + " of " + std::to_string(e.sts_sessions) +
                                       " sessions (" + share_text + "); most: " + e.worst);
    not_ready = true;
  }
  if (e.older_policy_sessions > 0) {
    add(Reason::older_policy_in_use, e.older_policy);
    not_ready = true;
  }
  if (!e.posture_errors.empty()) {
    add(Reason::posture_errors, join(e.posture_errors));
    not_ready = true;
  }
  if (e.days_with_reports < t.min_days) {
    add(Reason::too_few_days, std::to_string(e.days_with_reports) + " days with reports, " + std::to_string(t.min_days) +
                                  " needed");
    insufficient = true;
  }
  if (e.reporters < t.min_reporters) {
    add(Reason::too_few_reporters, std::to_string(e.reporters) + " reporting organisations, " +
                                       std::to_string(t.min_reporters) + " needed");
    insufficient = true;
  }
  d.verdict = not_ready ? Verdict::not_ready : insufficient ? Verdict::insufficient_data : Verdict::ready;
  return d;
}

Answer answer(store::Store& store, const std::string& domain, int days, const Thresholds& t) {
  const auto found = store::readiness_evidence(store, domain, days, blocking, t.authenticated_only);
  const Evidence& e = found.evidence;
  const Decision d = decide(e, t);
  std::string out;
  json::Writer w(out, false, json::Input::bytes);
  w.begin_object();
  w.field("domain", domain);
  w.field("verdict", to_string(d.verdict));
  w.key("all_clear");
  w.boolean(all_clear(d));
  w.key("emergency");
  w.boolean(emergency(d));
  w.key("reasons");
  w.begin_array();
  for (const auto& [reason, detail] : d.reasons) {
    w.begin_object();
    w.field("reason", to_string(reason));
    w.field("detail", detail);
    w.end_object();
  }
  w.end_array();
  char share[32];
  std::snprintf(share, sizeof share, "%.6g", t.max_blocking_share);
  w.key("thresholds");
  w.begin_object();
  w.field("min_days", std::int64_t{t.min_days});
  w.field("min_reporters", std::int64_t{t.min_reporters});
  w.key("max_blocking_share");
  w.raw(share);
  w.end_object();
  w.key("evidence");
  w.raw(found.json);  // built by PostgreSQL
  w.end_object();
  return Answer{std::move(out), e, d};
}


bool all_clear(const Decision& d) {
  if (d.verdict == Verdict::ready) return true;
  if (d.verdict != Verdict::enforced) return false;
  for (const auto& [reason, detail] : d.reasons)
    if (reason == Reason::mail_refused || reason == Reason::posture_errors) return false;
  return true;
}

bool emergency(const Decision& d) { return d.verdict == Verdict::enforced && !all_clear(d); }

std::string to_text(const std::string& domain, int days, const Answer& a) {
  const Evidence& e = a.evidence;
  std::string out = domain + ": " + std::string(to_string(a.decision.verdict)) + " (" + std::to_string(e.days_with_reports) +
                    " days with reports in the last " + std::to_string(days) + ", " + std::to_string(e.reporters) +
                    " reporters, " + std::to_string(e.sts_sessions - e.sts_failed) + " successful and " +
                    std::to_string(e.sts_failed) + " failed sessions under MTA-STS, " +
                    std::to_string(e.blocking_sessions) + " that enforce would block)\n";
  for (const auto& [reason, detail] : a.decision.reasons) out += "  " + std::string(to_string(reason)) + ": " + detail + "\n";
  return out;
}

}  // namespace tlsrpt::readiness
