// The settings file: any bytes as TOML. Reading either fails with a message naming the input, or
// gives settings whose values lie within their rows' ranges, that describe themselves, and that
// differ from themselves in nothing.
#include <cstdlib>
#include <string>

#include "common.hpp"
#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlsrpt::config;
  const std::string_view input = tlsrpt::fuzz::view(data, size);
  Settings s;
  try {
    s = parse(input, "fuzz.toml");
  } catch (const Error& e) {
    if (std::string_view(e.what()).find("fuzz.toml") == std::string_view::npos) std::abort();
    return 0;
  }
  if (s.smtp_max_sessions < 1 || s.smtp_max_sessions > 1000000) std::abort();
  if (s.checks_smtp_port < 1 || s.checks_smtp_port > 65535) std::abort();
  if (s.readiness_days < 1 || s.readiness_days > 400) std::abort();
  if (!(s.readiness_max_blocking_share >= 0 && s.readiness_max_blocking_share <= 1)) std::abort();
  if (s.http_cache_seconds.count() < 0 || s.smtp_command_timeout.count() < 1) std::abort();
  if (to_string(s.dkim_mode).empty()) std::abort();  // an enum value past the row's choices
  for (const auto& m : s.imap)
    if (to_string(m.tls).empty() || to_string(m.after).empty()) std::abort();
  for (const auto& t : s.http_intake_tokens)
    if (t.submitter.empty() || t.token.size() < 16) std::abort();
  for (const auto& token : s.http_read_tokens)
    if (token.empty()) std::abort();
  for (const auto& m : s.imap)
    if (m.port < 0 || m.port > 65535 || m.poll_interval.count() < 1 || m.name.empty()) std::abort();
  for (const auto& d : s.domains)
    if (d.name.empty()) std::abort();
  if (!changed(s, s).empty()) std::abort();
  const std::string shown = describe(s);
  if (shown.find("smtp.max_sessions = ") == std::string::npos) std::abort();
  if (s.database_url.size() >= 12 && s.database_url.find('\n') == std::string::npos &&
      shown.find("database.url = " + s.database_url + "\n") != std::string::npos)
    std::abort();  // a secret printed
  return 0;
}
