// Query strings and paths of the HTTP API, checked before anything reaches the database.
//
// Pure functions (no I/O), fuzzed by tests/fuzz/fuzz_http.cpp. Trusts nothing: every name must
// be one the route takes, none repeated, every value well-formed UTF-8 without control
// characters and at most 512 bytes; a violation is a BadRequest naming the parameter.
#pragma once

#include <cstdint>
#include <map>
#include <set>
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
// (days: readiness and the pages' JSON twins; domain_list: the domain list and its page; login: its form)
enum class Params { none, domains, summary, timeseries, reports, rejected, days, domain_list, login };

struct Query {
  store::Filter filter;
  store::Page page;
  std::string bucket = "day";
  std::optional<std::string> reason;
  std::optional<int> days;  // readiness: 1 to 400
  std::optional<std::string> name_filter, sort;  // the domain list: q, sort
  store::ListPage list;                          // the domain list: sort, q, page, limit
  std::optional<std::string> next;               // the login page: where to go after it
};

// Parses and checks the query string of a route. Throws BadRequest.
Query parse_query(Params kind, std::string_view query);

// The fields of an application/x-www-form-urlencoded body, each one of `allowed`, none
// repeated, each UTF-8 without control characters and at most 512 bytes. Throws BadRequest.
std::map<std::string, std::string> form_fields(std::string_view body, const std::set<std::string_view>& allowed);

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
