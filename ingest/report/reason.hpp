// Rejection reasons: why an input is not a report.
//
// One closed enum. Each value's name is stable: it is printed by `tlsrpt parse`, stored in the
// database and used as a metric label, so values are only ever added, never renamed.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tlsrpt::report {

// X(name, description)
#define TLSRPT_REASONS(X)                                                                          \
  X(empty_input, "the input is empty")                                                             \
  X(message_too_large, "the input is larger than limit message_size")                              \
  X(header_too_large, "a header section is larger than limit header_size")                         \
  X(mime_too_deep, "MIME containers are nested deeper than limit mime_depth")                      \
  X(mime_too_many_parts, "the message has more MIME parts than limit mime_parts")                  \
  X(no_report_part, "the message has no part that carries a report")                               \
  X(bad_transfer_encoding, "the report part's base64 or quoted-printable is invalid")              \
  X(decoded_too_large, "a decoded part is larger than limit decoded_size")                         \
  X(gzip_corrupt, "the gzip data is corrupt or truncated")                                          \
  X(inflated_too_large, "the gunzipped report is larger than limit inflated_size")                 \
  X(inflate_ratio_exceeded, "the gzip data expands by more than limit inflate_ratio")              \
  X(invalid_utf8, "the report is not valid UTF-8")                                                 \
  X(invalid_json, "the report is not valid JSON")                                                  \
  X(json_too_deep, "the JSON is nested deeper than limit json_depth")                              \
  X(not_an_object, "the JSON top level is not an object")                                          \
  X(wrong_type, "a field has the wrong JSON type")                                                 \
  X(missing_field, "a required field is missing")                                                  \
  X(invalid_value, "a field has a value RFC 8460 does not allow")                                  \
  X(count_out_of_range, "a session count is negative or larger than 2^63-1")                       \
  X(too_many_policies, "the report has more policies than limit policies")                         \
  X(too_many_failure_details, "a policy or the whole report has more failure-details than limit failure_details or report_failure_details") \
  X(too_many_rollup_rows, "the report's sessions spread over more rollup rows than limit rollup_rows") \
  X(string_too_long, "a string is longer than limit string_length")                               \
  X(dkim_not_authenticated, "dkim.mode is require and no DKIM signature authenticates the message") \
  X(dkim_temperror, "dkim.mode is require and a DKIM key could not be looked up for now")

enum class Reason : unsigned char {
#define TLSRPT_X(name, desc) name,
  TLSRPT_REASONS(TLSRPT_X)
#undef TLSRPT_X
};

struct ReasonInfo {
  Reason reason;
  std::string_view name;
  std::string_view description;
};

// All reasons in declaration order (for documentation, metrics pre-registration and tests).
std::span<const ReasonInfo> all_reasons();
std::string_view to_string(Reason r);
std::optional<Reason> reason_from_string(std::string_view name);

// Bad input is a value: the reason plus a human-readable detail (never a secret, bounded length).
struct Rejection {
  Reason reason;
  std::string detail;
};

}  // namespace tlsrpt::report

namespace tlsrpt::report {
// Renders untrusted text for a rejection detail or a log line: at most `max` bytes, quoted,
// control and non-ASCII bytes escaped as \xNN, so a detail is always one printable line.
std::string printable(std::string_view text, std::size_t max = 64);
}  // namespace tlsrpt::report
