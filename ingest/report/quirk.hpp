// Quirks: tolerated deviations from RFC 8460 met in real reports.
//
// Leniency is explicit: every deviation the reader accepts has a name here, is recorded on the
// report it was met in, and is counted. The names are stable (database, metric labels).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace tlsrpt::report {

// X(name, description)
#define TLSRPT_QUIRKS(X)                                                                           \
  X(mx_host_string, "mx-host is a single string, not an array (original RFC 8460 example)")       \
  X(mx_host_policy_line, "an mx-host entry carries the policy line prefix 'mx: '")                \
  X(key_mx_host_pattern, "draft key mx-host-pattern used for mx-host")                             \
  X(datetime_no_timezone, "a date-time has no time zone; read as UTC")                             \
  X(datetime_date_only, "a date-time is a bare date; read as midnight UTC")                        \
  X(datetime_space_separator, "a date-time separates date and time with a space")                  \
  X(end_datetime_exclusive, "end-datetime is the next midnight (half-open range)")                 \
  X(contact_info_null, "contact-info is null")                                                     \
  X(contact_info_missing, "contact-info is absent")                                                \
  X(policy_domain_from_header, "policy-domain absent; taken from the TLS-Report-Domain header")    \
  X(policy_domain_from_subject, "policy-domain absent; taken from the Subject")                    \
  X(policy_domain_from_filename, "policy-domain absent; taken from the report file name")          \
  X(policy_domain_from_report_id, "policy-domain absent; taken from the report-id suffix")         \
  X(policy_domain_mx_host, "a DANE policy names an MX host of the report's domain as its policy-domain; counted under the report's domain, the host kept in mx-host") \
  X(policy_string_empty, "policy-string is an empty array")                                        \
  X(policy_string_not_array, "policy-string is a single string, not an array")                    \
  X(policy_string_json_array, "policy-string is one string holding a JSON array; unpacked")       \
  X(mx_host_empty, "mx-host is an empty array")                                                    \
  X(failure_details_empty, "failure-details is an empty array")                                    \
  X(failure_detail_minimal, "a failure-detail has only result-type and failed-session-count")      \
  X(failure_count_mismatch, "failed-session-counts do not add up to total-failure-session-count")  \
  X(failure_reason_code_long, "failure-reason-code is long free text (over 100 bytes, e.g. an HTTP client error)")            \
  X(unknown_result_type, "a result-type outside the RFC 8460 registry; kept verbatim")             \
  X(key_receiving_mx_host_name, "non-standard key receiving-mx-host-name")                         \
  X(key_additional_info_uri, "draft key additional-info-uri used for additional-information")     \
  X(unknown_key, "a key RFC 8460 does not define; ignored")                                        \
  X(duplicate_key, "a key appears twice in one object; the first is kept")                         \
  X(invalid_ip_address, "an IP address field does not hold an IP address; kept verbatim")          \
  X(nul_in_string, "a string holds U+0000; replaced by U+FFFD")                                   \
  X(utf8_bom, "the JSON starts with a UTF-8 byte order mark")                                      \
  X(idn_unicode, "a domain is written in Unicode, not punycode; kept verbatim")                    \
  X(domain_trailing_dot, "a domain ends with a dot; removed")                                      \
  X(html_body, "the human-readable part is text/html")                                             \
  X(trailing_empty_part, "an empty MIME part follows the report")                                  \
  X(not_multipart_report, "the report is in a multipart other than multipart/report")            \
  X(single_part_message, "the whole message body is the report")                                  \
  X(forwarded_message, "the report is inside a forwarded message/rfc822")                          \
  X(media_type_tlsrpt_no_suffix, "attachment typed application/tlsrpt (no +json/+gzip)")           \
  X(media_type_gzip, "attachment typed application/gzip or application/x-gzip")                    \
  X(media_type_json, "attachment typed application/json")                                          \
  X(media_type_by_filename, "attachment of another media type, recognised by its file name")      \
  X(media_type_mismatch, "the attachment's content does not match its media type (gzip vs JSON)") \
  X(gzip_multi_member, "the gzip data has several members")                                        \
  X(gzip_trailing_garbage, "bytes after the last gzip member; ignored")                            \
  X(duplicate_report_part, "the same report is attached twice; kept once")                         \
  X(report_part_rejected, "another report part of the message was rejected")

enum class Quirk : unsigned char {
#define TLSRPT_X(name, desc) name,
  TLSRPT_QUIRKS(TLSRPT_X)
#undef TLSRPT_X
};

struct QuirkInfo {
  Quirk quirk;
  std::string_view name;  // kebab-case, as printed and stored
  std::string_view description;
};

std::span<const QuirkInfo> all_quirks();
std::string_view to_string(Quirk q);
std::optional<Quirk> quirk_from_string(std::string_view name);

// A set of quirks, iterated in declaration order.
class QuirkSet {
 public:
  void add(Quirk q) { bits_ |= bit(q); }
  void merge(QuirkSet other) { bits_ |= other.bits_; }
  bool has(Quirk q) const { return (bits_ & bit(q)) != 0; }
  bool empty() const { return bits_ == 0; }
  std::uint64_t bits() const { return bits_; }
  template <class F>
  void for_each(F&& f) const {
    for (const auto& info : all_quirks())
      if (has(info.quirk)) f(info.quirk);
  }

 private:
  static std::uint64_t bit(Quirk q) { return std::uint64_t{1} << static_cast<unsigned>(q); }
  std::uint64_t bits_ = 0;
};

}  // namespace tlsrpt::report
