// Query strings and paths of the HTTP API, checked before anything reaches the database.
//
// Pure functions (no I/O), fuzzed by tests/fuzz/fuzz_http.cpp. Trusts nothing: every name must
// be one the route takes, none repeated, every value well-formed UTF-8 without control
// characters and at most 512 bytes; a violation is a BadRequest naming the parameter.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/queries.hpp"

namespace tlsrpt::api {

// A bad request, answered 400 with the message.
struct BadRequest {
  std::string message;
};

// What a route's query string may hold.
enum class Params { none, domains, summary, timeseries, reports, rejected, readiness };

struct Query {
  store::Filter filter;
  store::Page page;
  std::string bucket = "day";
  std::optional<std::string> reason;
  std::optional<int> days;  // readiness: 1 to 400
};

// Parses and checks the query string of a route. Throws BadRequest.
Query parse_query(Params kind, std::string_view query);

// The request path with %XX decoded; nullopt when the encoding is bad, when it encodes a "/",
// or when the result is not UTF-8 without control characters.
std::optional<std::string> decode_path(std::string_view path);

// Whether `path` matches `pattern` segment by segment ("{id}" matches any non-empty segment,
// appended to `ids`).
bool match_path(std::string_view pattern, std::string_view path, std::vector<std::string>& ids);

// A positive integer of at most 18 digits, or BadRequest naming `what`.
std::int64_t positive(const std::string& text, const std::string& what);

// A JSON string literal for untrusted text.
std::string json_string(std::string_view text);

}  // namespace tlsrpt::api
