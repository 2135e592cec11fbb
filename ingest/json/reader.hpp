// JSON report reader: RFC 8460 report JSON -> report::Report, with simdjson.
//
// Purpose: the only code that sees simdjson types; none leave this module.
// Trusts: nothing. The whole document is validated (UTF-8, grammar) before any field is read,
// nesting is bounded by json_depth inside simdjson, counts of policies and failure-details and
// every string length are bounded by their limits.
// Errors: invalid-utf8, invalid-json, json-too-deep, not-an-object, wrong-type, missing-field,
// invalid-value, count-out-of-range, too-many-policies, too-many-failure-details,
// string-too-long. Every tolerated deviation is recorded as a quirk on the report.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "report/report.hpp"

namespace tlsrpt::json {

// Reads one report; `json` is copied into a padded per-thread buffer first.
std::variant<report::Report, report::Rejection> read_report(std::string_view json,
                                                            const report::Limits& limits);
// The same without the copy: the caller guarantees unpack::json_padding readable bytes after
// the end of `json` (as unpack::gunzip leaves).
std::variant<report::Report, report::Rejection> read_padded_report(std::string_view json,
                                                                   const report::Limits& limits);

// Whether the bytes are valid UTF-8 (simdjson's validator; for checks outside the reader).
bool is_valid_utf8(std::string_view text);

}  // namespace tlsrpt::json
