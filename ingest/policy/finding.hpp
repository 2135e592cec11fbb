// Posture findings: what a check of a monitored domain can say about what it publishes.
//
// One closed enum, like the rejection reasons. Each value's name is stable: it will be printed by
// `tlsrpt check`, stored in the database and used as a metric label, so values are only ever
// added, never renamed. Each has a severity: error (mail may be refused or reports lost),
// warning (weaker than it should be, or soon an error), info (a state worth knowing).
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace tlsrpt::policy {

enum class Severity { error, warning, info };
std::string_view to_string(Severity severity);

// X(name, severity, description)
#define TLSRPT_FINDINGS(X)                                                                                   \
  X(sts_record_missing, warning, "no _mta-sts TXT record starting with v=STSv1: senders apply no MTA-STS policy") \
  X(sts_record_multiple, error, "several v=STSv1 records at _mta-sts: senders treat that as no policy")        \
  X(sts_record_invalid, error, "the v=STSv1 record is malformed or its id is not 1 to 32 letters and digits")   \
  X(sts_policy_dns_failed, error, "the policy host mta-sts.<domain> does not resolve")                        \
  X(sts_policy_connect_failed, error, "no connection to the policy host on the HTTPS port")                   \
  X(sts_policy_tls_failed, error, "the policy host's TLS handshake or WebPKI certificate check failed")       \
  X(sts_policy_http_status, error, "the policy URL answered with a status other than 200")                    \
  X(sts_policy_redirect, error, "the policy URL redirects, which senders do not follow")                      \
  X(sts_policy_too_large, error, "the policy is larger than 64 KiB")                                           \
  X(sts_policy_invalid, error, "the policy text does not follow RFC 8461 section 3.2")                         \
  X(sts_policy_content_type, warning, "the policy is not served as text/plain")                                \
  X(sts_mode_testing, info, "the policy is in testing mode: failures are reported, not enforced")              \
  X(sts_mode_none, warning, "the policy is in mode none: MTA-STS is being withdrawn")                          \
  X(sts_mx_not_covered, error, "a DNS MX host matches no mx pattern of the policy")                           \
  X(sts_pattern_unused, warning, "an mx pattern of the policy matches no DNS MX host")                        \
  X(tlsrpt_record_missing, error, "no _smtp._tls TXT record starting with v=TLSRPTv1: no reports are sent")   \
  X(tlsrpt_record_invalid, error, "the TLS-RPT record is malformed, or there are several")                    \
  X(tlsrpt_rua_missing, error, "the TLS-RPT record does not list the address tlsrpt expects")                 \
  X(tlsrpt_rua_not_first, warning, "tlsrpt's address is not the first rua (Microsoft reports to the first only)") \
  X(mx_missing, error, "the domain has no MX record")                                                          \
  X(mx_no_starttls, error, "an MX host does not offer STARTTLS")                                               \
  X(mx_tls_version, error, "an MX host negotiates a TLS version below 1.2")                                   \
  X(mx_cert_expired, error, "an MX host's certificate has expired")                                            \
  X(mx_cert_expiring, warning, "an MX host's certificate expires within checks.expiry_warning_days")           \
  X(mx_cert_name_mismatch, error, "an MX host's certificate does not name the MX host")                        \
  X(mx_cert_untrusted, error, "an MX host's certificate chain is not trusted under WebPKI")                     \
  X(tlsa_not_secure, warning, "TLSA records exist but the answer is not DNSSEC-secure, so senders ignore them") \
  X(tlsa_no_match, error, "no usable TLSA record (usage 2 or 3) matches the MX host's certificate chain")     \
  X(tlsa_no_rollover, info, "only one TLSA record: publish the next key's record before a key rollover")      \
  X(dnssec_bogus, error, "a DNSSEC-signed answer does not validate (bogus)")                                   \
  X(check_incomplete, error, "a step of the check could not complete (timeout, no resolver): nothing is known to be clear")

enum class Finding {
#define TLSRPT_X(name, severity, desc) name,
  TLSRPT_FINDINGS(TLSRPT_X)
#undef TLSRPT_X
};

struct FindingInfo {
  Finding finding;
  std::string_view name;  // kebab-case: "sts-record-missing"
  Severity severity;
  std::string_view description;
};

std::span<const FindingInfo> all_findings();
const FindingInfo& info(Finding finding);
std::string_view to_string(Finding finding);
std::optional<Finding> finding_from_string(std::string_view name);

}  // namespace tlsrpt::policy
