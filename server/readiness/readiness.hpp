// Readiness: may a domain whose MTA-STS policy is in testing switch to enforce? The verdict and
// its reasons, from the evidence of the stored reports and the posture checks.
//
// Purpose: answer the question the roll-out guides leave to the operator ("watch TLS-RPT for two
// to four weeks, fix what the reports show, then enforce") with a verdict, reasons from a closed
// list, and the evidence behind them. decide() is pure; answer() has the store read the evidence
// (store::readiness_evidence, one statement) and builds the JSON that the API and `tlsrpt readiness` print.
//
// Which failures block delivery under enforce (RFC 8461 section 5, RFC 8460 section 4.3): a
// sender applying an enforce policy refuses an MX that does not offer STARTTLS
// (starttls-not-supported), whose certificate it cannot validate (certificate-host-mismatch,
// certificate-expired, certificate-not-trusted) or that the policy does not list
// (validation-failure). It does not refuse because the policy itself could not be fetched or
// read (sts-policy-fetch-error, sts-policy-invalid, sts-webpki-invalid): it then delivers as
// without a policy, so those do not count. DANE results (tlsa-invalid, dnssec-invalid,
// dane-required) concern DANE, not the MTA-STS switch.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/queries.hpp"

namespace tlsrpt::readiness {

// X(name, description). Names are stable (API values, metric labels).
#define TLSRPT_READINESS_REASONS(X)                                                                              \
  X(no_policy_published, "no MTA-STS policy is published (or none could be read): there is nothing to enforce") \
  X(too_few_days, "fewer days with reports than readiness.min_days")                                            \
  X(too_few_reporters, "fewer reporting organisations than readiness.min_reporters")                            \
  X(blocking_failures, "failures that would block delivery under enforce exceed readiness.max_blocking_share")  \
  X(posture_errors, "the latest posture check has error findings")                                              \
  X(mail_refused, "the policy is enforced and senders refused delivery (failures that block under enforce)")     \
  X(reporter_quiet, "a reporting organisation that used to report has sent nothing for more than 3 days")        \
  X(not_monitored, "the domain is not monitored (checks.domains): the published policy and posture are unknown")  \
  X(older_policy_in_use, "senders still apply a policy the domain no longer published when their report began")

enum class Reason {
#define TLSRPT_X(name, desc) name,
  TLSRPT_READINESS_REASONS(TLSRPT_X)
#undef TLSRPT_X
};

struct ReasonInfo {
  Reason reason;
  std::string_view name;  // kebab-case
  std::string_view description;
};
std::span<const ReasonInfo> all_reasons();
std::string_view to_string(Reason reason);

// The result types that block delivery under an enforce policy (see above).
std::span<const std::string_view> blocking_result_types();

struct Thresholds {
  int min_days = 14;
  int min_reporters = 2;
  double max_blocking_share = 0.001;  // of all sessions under sts policies
  // dkim.alert_on = authenticated: only reports from authenticated inputs are evidence (mail
  // that passes DKIM, HTTPS reports of a configured submitter, the operator's own report files
  // on the command line), as in the metric series that alerts use.
  bool authenticated_only = false;
};

// The evidence is read by the store (store/queries.hpp), decided on here.
using Evidence = store::ReadinessEvidence;

enum class Verdict { ready, not_ready, insufficient_data, enforced };
std::string_view to_string(Verdict verdict);

struct Decision {
  Verdict verdict = Verdict::insufficient_data;
  std::vector<std::pair<Reason, std::string>> reasons;  // with a detail each
};

Decision decide(const Evidence& evidence, const Thresholds& thresholds);
// Nothing to do: ready, or enforced with neither refused mail nor posture errors (the exit status
// 0 of `tlsrpt readiness`).
bool all_clear(const Decision& d);
// Enforced and refusing mail now, or about to (refused sessions, an MX failing its check).
bool emergency(const Decision& d);

// The whole answer for a domain over the last `days` days: `json` is {"domain", "verdict",
// "reasons", "thresholds", "evidence"} (schema/openapi.yaml). Throws store::Error.
struct Answer {
  std::string json;
  Evidence evidence;
  Decision decision;
};
Answer answer(store::Store& store, const std::string& domain, int days, const Thresholds& thresholds);
// A readable summary: the verdict with the main figures, then one line per reason.
std::string to_text(const std::string& domain, int days, const Answer& answer);

}  // namespace tlsrpt::readiness
