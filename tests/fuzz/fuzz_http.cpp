// The HTTP API's request checks: any bytes as "PATH?QUERY" for every kind of route. Parsing
// either throws BadRequest or yields values within their bounds (UTF-8 without control
// characters, which PostgreSQL text accepts); path decoding never lets an encoded "/" through;
// path matching never fills more ids than the pattern has.
#include <algorithm>
#include <cstring>
#include <cstdlib>
#include <string>

#include "api/params.hpp"
#include "common.hpp"
#include "json/reader.hpp"

namespace {
void check_text(const std::string& v) {
  if (!tlsrpt::json::is_valid_utf8(v)) std::abort();
  for (char c : v)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlsrpt::api;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto q = input.find('?');
  const std::string_view path = input.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? std::string_view() : input.substr(q + 1);
  if (const auto decoded = decode_path(path)) {
    check_text(*decoded);
    if (std::count(decoded->begin(), decoded->end(), '/') != std::count(path.begin(), path.end(), '/')) std::abort();
  }
  for (const char* pattern :
       {"/api/v1/reports/{id}", "/api/v1/rejected/{id}/raw", "/healthz", "/api/v1/domains/{domain}/readiness"}) {
    std::vector<std::string> ids;
    const bool matched = match_path(pattern, path, ids);
    const std::size_t slots = static_cast<std::size_t>(std::count(pattern, pattern + std::strlen(pattern), '{'));
    if (ids.size() > slots || (matched && ids.size() != slots)) std::abort();
    for (const auto& id : ids) {
      try {
        if (positive(id, "id") <= 0) std::abort();
      } catch (const BadRequest&) {
      }
    }
  }
  for (Params kind : {Params::none, Params::domains, Params::summary, Params::timeseries, Params::reports, Params::rejected,
                      Params::days, Params::domain_list, Params::login}) {
    try {
      const Query parsed = parse_query(kind, query);
      if (parsed.page.limit < 1 || parsed.page.limit > 500) std::abort();
      if (parsed.bucket != "day" && parsed.bucket != "hour") std::abort();
      const auto& f = parsed.filter;
      for (const auto* v : {&f.from, &f.to, &f.policy_domain, &f.organization, &f.policy_type, &f.result_type, &f.mx_host})
        if (*v) {
          if (v->value().empty() || v->value().size() > 512) std::abort();
          check_text(v->value());
        }
      if (parsed.reason) check_text(*parsed.reason);
      if (f.from && f.from->size() != 20) std::abort();  // normalised to YYYY-MM-DDTHH:MM:SSZ
      if (kind == Params::none && (f.from || f.policy_domain || parsed.reason)) std::abort();
      if (parsed.days && ((kind != Params::days && kind != Params::domain_list) || *parsed.days < 1 || *parsed.days > 400)) std::abort();
    } catch (const BadRequest& e) {
      if (e.message.empty()) std::abort();
    }
  }
  return 0;
}
