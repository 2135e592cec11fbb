// The web pages' renderers on any bytes as the JSON twin's answer, and the cookie and form
// readers. A renderer either refuses (std::runtime_error: not JSON) or renders a page in which
// nothing from the input became markup: no script element, no event-handler attribute, every
// link a path on this server. The first input byte picks the page.
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "web/pages.hpp"
#include "web/sessions.hpp"

namespace {
bool contains_ci(const std::string& text, std::string_view what) {
  for (std::size_t i = 0; i + what.size() <= text.size(); ++i) {
    std::size_t k = 0;
    while (k < what.size() && std::tolower(static_cast<unsigned char>(text[i + k])) == what[k]) ++k;
    if (k == what.size()) return true;
  }
  return false;
}
void check_page(const std::string& html) {
  if (contains_ci(html, "<script")) std::abort();
  // Every attribute value opens with a quote the templates wrote; an input's quote is escaped,
  // so no " on...=" attribute can appear.
  if (contains_ci(html, "\" on") || contains_ci(html, "' on")) std::abort();
  for (std::size_t at = html.find("href=\""); at != std::string::npos; at = html.find("href=\"", at + 1)) {
    const char first = html[at + 6];
    if (first != '/' && html.compare(at + 6, 6, "data:,") != 0) std::abort();
    if (html.compare(at + 6, 2, "//") == 0) std::abort();
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlsrpt::web;
  if (size == 0) return 0;
  const std::string_view json(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Frame frame{Viewer{true, true, "csrf"}, "/api/v1/x"};
  try {
    switch (data[0] % 7) {
      case 0: check_page(domains_page(json, frame, "e")); break;
      case 1: check_page(domain_page(json, frame)); break;
      case 2: check_page(report_page(json, frame)); break;
      case 3: check_page(reports_page(json, frame, "domain=x")); break;
      case 4: check_page(rejected_page(json, frame, "")); break;
      case 5: check_page(status_page(json, frame)); break;
      default: check_page(error_page(400, json, frame)); break;
    }
  } catch (const std::runtime_error&) {
  }
  const auto value = cookie_value(json, "tlsrpt_session");
  if (value && value->find(';') != std::string::npos) std::abort();
  return 0;
}
