// What a domain publishes for MTA-STS (RFC 8461) and TLS-RPT (RFC 8460): the _mta-sts and
// _smtp._tls TXT records, the policy text, and MX patterns. Pure: no I/O.
//
// Trusts: nothing; every input is what a DNS answer or an HTTPS body said. Limits: a policy text
// is at most 64 KiB (the fetcher's cap; longer text is refused here too), at most 1,000 lines are
// read and 100 mx patterns kept. Errors: a Problem naming the finding and why; tolerated
// deviations (CRLF lines, no final newline, unknown keys) are not problems.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "policy/finding.hpp"

namespace tlsrpt::policy {

struct Problem {
  Finding finding;
  std::string detail;
};

// _mta-sts.<domain> TXT: the strings of each record joined (a TXT record's strings are one text).
struct StsRecord {
  std::string id;  // 1 to 32 letters and digits
};
// Records that do not start with "v=STSv1" are ignored; none left is sts_record_missing, several
// are sts_record_multiple, a malformed one sts_record_invalid.
std::variant<StsRecord, Problem> parse_sts_records(const std::vector<std::string>& records);

enum class Mode { enforce, testing, none };
std::string_view to_string(Mode mode);

struct StsPolicy {
  Mode mode = Mode::none;
  std::int64_t max_age = 0;      // seconds, 0 to 31557600
  std::vector<std::string> mx;   // patterns, lower case, as published ("mail.example.net", "*.example.net")
};
inline constexpr std::size_t max_policy_size = 64 * 1024;
inline constexpr std::int64_t max_max_age = 31557600;
// RFC 8461 section 3.2: "key: value" lines ended by LF or CRLF (a final newline is optional);
// version must be STSv1; for a repeated key the first value wins, except mx; unknown keys are
// ignored; mx is required unless mode is none. Problems are sts_policy_invalid or
// sts_policy_too_large.
std::variant<StsPolicy, Problem> parse_sts_policy(std::string_view text);

// _smtp._tls.<domain> TXT: exactly one record starting with "v=TLSRPTv1" (others are ignored);
// none is tlsrpt_record_missing, several or a malformed one tlsrpt_record_invalid.
struct TlsrptRecord {
  std::vector<std::string> rua;  // mailto: and https: URIs as published, in order
};
std::variant<TlsrptRecord, Problem> parse_tlsrpt_records(const std::vector<std::string>& records);

// Whether `address` ("user@domain") is the rua URI `uri` ("mailto:user@domain", compared
// without case; a "!size" suffix and %-escapes as RFC 8460 and RFC 6068 allow).
bool rua_names(std::string_view uri, std::string_view address);

// RFC 8461 section 4.1: a pattern matches a host name exactly, or "*.example.net" matches one
// label in place of the "*" (not "example.net", not "a.b.example.net"). Case and a final dot
// are ignored.
bool mx_matches(std::string_view pattern, std::string_view host);

// "Example.NET." -> "example.net"; nullopt for what is not a domain name (letters, digits, '-'
// and '_', labels of 1 to 63, at most 253 in all, at least two labels).
std::optional<std::string> normalize_domain(std::string_view name);

}  // namespace tlsrpt::policy
