// The web pages: HTML a person opens in a browser, rendered on the server from the JSON answers
// of the API (each page's "JSON twin", linked from the page), through kainjow mustache templates
// compiled into the binary (server/web/assets/). No JavaScript; charts are SVG drawn here.
//
// Trusts: nothing in the JSON. Every string from a report is attacker-controlled, so every
// value reaches the HTML through a template's escaping {{...}} (never {{{...}}}, which only
// carries the page body rendered by another template), and links are built here from fixed
// paths with percent-encoded values, never from a report's text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tlsrpt::web {

// Who looks at the page.
struct Viewer {
  bool admin = false;      // admin-only content (raw bytes) is shown
  bool signed_in = false;  // false: the pages are open (loopback, no token configured)
  std::string csrf;        // carried by the logout form
};

// What every page shows around its content.
struct Frame {
  Viewer viewer;
  std::string twin;  // the API URL whose answer the page renders ("" for none)
};

// Each renders its page from the JSON twin's answer. Throws std::runtime_error when the JSON
// is not what the API answers.
std::string domains_page(std::string_view json, const Frame& frame, std::string_view name_filter);
std::string domain_page(std::string_view json, const Frame& frame);
std::string report_page(std::string_view json, const Frame& frame);
// `query` is the page's own query string without its cursor (kept by the next-page link).
std::string reports_page(std::string_view json, const Frame& frame, std::string_view query);
std::string rejected_page(std::string_view json, const Frame& frame, std::string_view query);
std::string status_page(std::string_view json, const Frame& frame);
std::string login_page(std::string_view next, std::string_view csrf, std::string_view message, bool tokens_configured);
std::string error_page(unsigned status, std::string_view message, const Frame& frame);
std::string_view stylesheet();

// {"result_types": [{"result_type", "hint"}], "findings": [{"finding", "severity",
// "description", "hint"}]}: the remediation hints (GET /api/v1/hints).
std::string hints_json();

// The headers every page (and every API answer) carries: a Content-Security-Policy that allows
// no script and no framing, X-Content-Type-Options, Referrer-Policy, X-Frame-Options.
const std::vector<std::pair<std::string, std::string>>& security_headers();

// Percent-encodes text for a URL path segment or a query value.
std::string url_encode(std::string_view text);

}  // namespace tlsrpt::web
