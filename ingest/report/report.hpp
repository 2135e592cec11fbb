// RFC 8460 report values, normalised, and the semantic checks that need a whole report.
//
// Purpose: the one shape every later stage (store, API, metrics) sees. Pure: no I/O.
// Trusts: nothing; `finish()` re-checks what the JSON reader cannot (cross-field rules).
// Errors: a Rejection (reason + detail); tolerated deviations are recorded as quirks.
#pragma once

#include <cstdint>
#include <functional>
#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "report/limits.hpp"
#include "report/quirk.hpp"
#include "report/reason.hpp"

namespace tlsrpt::report {

// One failure-detail. Reports can hold hundreds of thousands of these, so their text fields
// share one buffer (one allocation per detail rather than one per field).
class FailureDetail {
 public:
  enum Field : unsigned char {
    result_type,
    sending_mta_ip,
    receiving_mx_hostname,
    receiving_mx_helo,
    receiving_ip,
    additional_information,
    failure_reason_code,
    field_count
  };
  std::int64_t failed_session_count = 0;

  bool has(Field f) const { return (present_ >> f) & 1u; }
  std::string_view get(Field f) const { return {text_.data() + begin_[f], size_[f]}; }  // "" if absent
  std::optional<std::string_view> optional(Field f) const {
    return has(f) ? std::optional<std::string_view>(get(f)) : std::nullopt;
  }
  // Stores a field; each field is set at most once.
  void set(Field f, std::string_view value);
  std::span<char> edit(Field f) { return {text_.data() + begin_[f], size_[f]}; }  // valid until the next set()
  void set_size(Field f, std::size_t size) { size_[f] = static_cast<std::uint32_t>(std::min<std::size_t>(size, size_[f])); }
  void reserve(std::size_t bytes) { text_.reserve(bytes); }

 private:
  std::string text_;
  std::array<std::uint32_t, field_count> begin_{};
  std::array<std::uint32_t, field_count> size_{};
  std::uint8_t present_ = 0;
};

struct Policy {
  std::string policy_type;  // sts | tlsa | no-policy-found
  std::vector<std::string> policy_string;
  std::string policy_domain;  // lower-case; filled from hints when absent (see quirks)
  // The policy-domain as the report wrote it, when finish() attributed the policy to the
  // report's domain instead (an MX host written as the DANE policy domain); else empty.
  std::string written_domain;
  std::vector<std::string> mx_host;
  std::int64_t total_successful_session_count = 0;
  std::int64_t total_failure_session_count = 0;
  std::vector<FailureDetail> failure_details;
};

struct Report {
  std::string organization_name;
  std::optional<std::string> contact_info;
  std::string report_id;
  std::int64_t start_datetime = 0;  // seconds since the epoch, UTC
  std::int64_t end_datetime = 0;
  std::vector<Policy> policies;
  QuirkSet quirks;

  std::int64_t total_successful() const;
  std::int64_t total_failure() const;
};

// Whether `host` is an MX host of `domain` (as the posture checks last saw it); lower-case names.
using MxOf = std::function<bool(std::string_view domain, std::string_view host)>;

// Where a missing policy-domain may come from, best first; the first that is a domain name is
// also the report's domain, to which a DANE policy that names one of its MX hosts as its
// policy-domain is attributed.
struct DomainHints {
  std::string header;    // TLS-Report-Domain
  std::string subject;   // "Report Domain: <d> ..."
  std::string filename;  // "<submitter>!<policy domain>!<begin>!<end>[!id].json[.gz]"
  MxOf mx_of;            // may be empty: then only a host under the report's domain is its MX
};

// Cross-field rules: fills missing policy-domains from hints, flags count mismatches and
// half-open ranges, rejects an end before the start; then the limits that span the whole report
// (report_failure_details, rollup_rows), which bound what one report costs to store and query.
std::optional<Rejection> finish(Report& report, const DomainHints& hints, const Limits& limits = {});

// The rows a report adds to the rollups (see migrations/0002): distinct (policy domain, policy
// type, result, receiving MX) with sessions > 0, where result is "success", "failure" or a
// failure-detail's result-type.
std::size_t rollup_rows(const Report& report);

// RFC 8460 result types (the IANA "STARTTLS Validation Result Types" registry), each with a
// remediation hint: what usually causes it and what to check. The hints are shown by the web
// pages and returned by GET /api/v1/hints; they are advice, never parsed.
// X(name, hint)
#define TLSRPT_RESULT_TYPES(X)                                                                                     \
  X(starttls_not_supported, "The receiving MX did not offer STARTTLS, or the sender could not start it. Check that " \
    "every MX host listed for the domain announces STARTTLS in its EHLO reply and that no firewall or middlebox strips it.") \
  X(certificate_host_mismatch, "The MX host's certificate does not name the host the sender connected to. Add that MX " \
    "host's name to the certificate (subjectAltName), or point the MX record at a name the certificate covers.") \
  X(certificate_expired, "The MX host presented an expired certificate. Renew it, make sure the mail server reloads the " \
    "renewed files, and monitor expiry (tlsrpt's posture checks warn ahead: checks.expiry_warning_days).") \
  X(certificate_not_trusted, "The sender could not chain the certificate to a trusted root. Serve the full chain " \
    "(leaf and intermediates) and use a certificate from a public CA; self-signed certificates fail MTA-STS.") \
  X(validation_failure, "A general validation failure, often an MX host that the MTA-STS policy does not list. Compare " \
    "the policy's mx lines with the DNS MX records, and read the failure-reason-code the reporter gave.") \
  X(tlsa_invalid, "The TLSA records did not match the certificate chain presented. Publish the record of the key in use " \
    "(and the next one before a rollover), and check that every MX host serves the certificate its TLSA record names.") \
  X(dnssec_invalid, "The sender got a DNSSEC answer that did not validate. Check the zone's signatures, their expiry and " \
    "the DS record at the parent; a validator such as delv or unbound-host shows where the chain breaks.") \
  X(dane_required, "The sender requires DANE for this domain but found no usable TLSA records. Publish DNSSEC-signed " \
    "TLSA records for every MX host, or stop the sender from requiring DANE.") \
  X(sts_policy_fetch_error, "The sender could not fetch the MTA-STS policy from https://mta-sts.<domain>/.well-known/" \
    "mta-sts.txt. Check that the host resolves, answers on port 443 with status 200 and does not redirect.") \
  X(sts_policy_invalid, "The fetched MTA-STS policy did not parse. Check its lines (version: STSv1, mode, mx, max_age), " \
    "the line endings and the Content-Type text/plain; tlsrpt check shows what it reads.") \
  X(sts_webpki_invalid, "The certificate of the MTA-STS policy host (mta-sts.<domain>) failed WebPKI validation. Give " \
    "that host a certificate from a public CA that names mta-sts.<domain>, served with its full chain.")

bool is_registered_result_type(std::string_view type);
// The remediation hint for a result type; unregistered types get the advice for those.
std::string_view result_type_hint(std::string_view type);
struct ResultTypeInfo {
  std::string_view name;  // kebab-case, as in reports
  std::string_view hint;
};
std::span<const ResultTypeInfo> all_result_types();

// RFC 3339 date-time (with the tolerated deviations) to seconds since the epoch, UTC.
struct DateTime {
  std::int64_t epoch = 0;
  QuirkSet quirks;
};
std::optional<DateTime> parse_datetime(std::string_view text);
std::string format_datetime(std::int64_t epoch);  // "YYYY-MM-DDTHH:MM:SSZ"

// Lower-cases an ASCII domain and drops a trailing dot, recording quirks. Returns false, leaving
// the text as it was but for the trailing dot, when it cannot be a domain name (empty, empty
// labels, spaces, control characters).
bool normalise_domain(std::string& domain, QuirkSet& quirks);
// The same on a field's bytes; returns the new size (a trailing dot dropped), or npos when the
// text cannot be a domain name.
std::size_t normalise_domain(std::span<char> domain, QuirkSet& quirks);

// IPv4 dotted quad or an RFC 4291 IPv6 text form (no zone index).
bool is_ip_address(std::string_view text);

// Extracts the policy domain from hint texts; empty when none is found.
std::string domain_from_subject(std::string_view subject);
std::string domain_from_filename(std::string_view filename);
std::string domain_from_report_id(std::string_view report_id);

}  // namespace tlsrpt::report
