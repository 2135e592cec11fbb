// RFC 8460 report values, normalised, and the semantic checks that need a whole report.
//
// Purpose: the one shape every later stage (store, API, metrics) sees. Pure: no I/O.
// Trusts: nothing; `finish()` re-checks what the JSON reader cannot (cross-field rules).
// Errors: a Rejection (reason + detail); tolerated deviations are recorded as quirks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "report/limits.hpp"
#include "report/quirk.hpp"
#include "report/reason.hpp"

namespace tlsrpt::report {

struct FailureDetail {
  std::string result_type;
  std::optional<std::string> sending_mta_ip;
  std::optional<std::string> receiving_mx_hostname;
  std::optional<std::string> receiving_mx_helo;
  std::optional<std::string> receiving_ip;
  std::int64_t failed_session_count = 0;
  std::optional<std::string> additional_information;
  std::optional<std::string> failure_reason_code;
};

struct Policy {
  std::string policy_type;  // sts | tlsa | no-policy-found
  std::vector<std::string> policy_string;
  std::string policy_domain;  // lower-case; filled from hints when absent (see quirks)
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

// Where a missing policy-domain may come from, best first.
struct DomainHints {
  std::string header;    // TLS-Report-Domain
  std::string subject;   // "Report Domain: <d> ..."
  std::string filename;  // "<submitter>!<policy domain>!<begin>!<end>[!id].json[.gz]"
};

// Cross-field rules: fills missing policy-domains from hints, flags count mismatches and
// half-open ranges, rejects an end before the start.
std::optional<Rejection> finish(Report& report, const DomainHints& hints);

// RFC 8460 result types (the IANA "STARTTLS Validation Result Types" registry).
bool is_registered_result_type(std::string_view type);

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

// IPv4 dotted quad or an RFC 4291 IPv6 text form (no zone index).
bool is_ip_address(std::string_view text);

// Extracts the policy domain from hint texts; empty when none is found.
std::string domain_from_subject(std::string_view subject);
std::string domain_from_filename(std::string_view filename);
std::string domain_from_report_id(std::string_view report_id);

}  // namespace tlsrpt::report
