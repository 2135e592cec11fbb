// The settings table: defaults, types, ranges, and where an error names its source.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

#include "config/config.hpp"

using namespace tlsrpt::config;

namespace {

std::string file_with(const std::string& text) {
  static int n = 0;
  const auto path = std::filesystem::temp_directory_path() / ("tlsrpt-config-test-" + std::to_string(::getpid()) + "-" +
                                                                std::to_string(n++) + ".toml");
  std::ofstream(path) << text;
  return path.string();
}

std::string error_of(const std::string& text) {
  const std::string path = file_with(text);
  try {
    load(path);
  } catch (const Error& e) {
    std::filesystem::remove(path);
    return e.what();
  }
  std::filesystem::remove(path);
  return "";
}

}  // namespace

TEST_CASE("every default parses as its type, and the reference lists every row once") {
  const Settings s = load("");
  CHECK(s.smtp_max_sessions == 100);
  CHECK(s.smtp_command_timeout == std::chrono::minutes(5));
  CHECK(s.http_buffer_memory == 128u << 20);
  CHECK(s.http_cache_seconds == std::chrono::seconds(10));
  CHECK(s.smtp_listen == std::vector<std::string>{"127.0.0.1:2525"});
  CHECK(s.readiness_max_blocking_share == doctest::Approx(0.001));
  CHECK(s.dkim_known_reporters.size() == 3);
  CHECK_FALSE(s.server_allow_root);
  CHECK(s.log_level == tlsrpt::log::Level::info);
  CHECK(s.dkim_mode == DkimMode::record);
  CHECK(s.dkim_alert_on == AlertOn::by_mode);
  std::set<std::string> keys;
  for (const auto& r : reference()) {
    CHECK_MESSAGE(keys.insert(r.key).second, r.key);
    CHECK_MESSAGE(!r.description.empty(), r.key);
    CHECK_MESSAGE(!r.type.empty(), r.key);
  }
  CHECK(keys.count("smtp.max_sessions"));
  CHECK(keys.count("imap.port"));
  CHECK(keys.count("domain.rua"));
}

TEST_CASE("values are checked when loaded, naming file, key and the allowed range") {
  CHECK(error_of("[smtp]\nmax_sessions = \"ten\"\n").find("smtp.max_sessions: 'ten' is not an integer (1 to 1000000)") !=
        std::string::npos);
  CHECK(error_of("[smtp]\nmax_sessions = 0\n").find("out of range") != std::string::npos);
  CHECK(error_of("[readiness]\ndays = 401\n").find("readiness.days") != std::string::npos);
  CHECK(error_of("[dkim]\nmode = \"strict\"\n").find("is not off, record or require") != std::string::npos);
  CHECK(error_of("[http]\nprotect_metrics = \"maybe\"\n").find("neither true nor false") != std::string::npos);
  CHECK(error_of("[http]\nbuffer_memory = \"12X\"\n").find("is not a size") != std::string::npos);
  CHECK(error_of("[http]\nread_tokens = \"a,,b\"\n").find("empty entry") != std::string::npos);
  CHECK(error_of("[readiness]\nmax_blocking_share = 1.5\n").find("fraction") != std::string::npos);
  CHECK(error_of("[smtp]\nlisten = true\n").find("expected a list") != std::string::npos);
  CHECK(error_of("[[imap]]\nhost = \"h\"\ntls = \"ssl\"\n").find("imap[0].tls: 'ssl' is not implicit, starttls or plain") !=
        std::string::npos);
  CHECK(error_of("[[imap]]\nhost = \"h\"\npoll_interval = \"soon\"\n").find("imap[0].poll_interval") != std::string::npos);
  CHECK(error_of("[smtp]\nmax_session = 5\n").find("unknown setting smtp.max_session") != std::string::npos);
}

TEST_CASE("TOML integers, booleans, floats and arrays where they fit; units on durations and sizes") {
  const std::string path = file_with(
      "[smtp]\nmax_sessions = 250\ncommand_timeout = 90\ndata_timeout = \"2h\"\nlisten = [\"127.0.0.1:25\", \"[::1]:25\"]\n"
      "[http]\nprotect_metrics = true\nbuffer_memory = \"1G\"\ncache_seconds = 0\n"
      "[readiness]\nmax_blocking_share = 0.01\n"
      "[[imap]]\nhost = \"imap.example\"\nusername = \"u\"\nport = 1993\npoll_interval = \"5m\"\nverify = false\n");
  const Settings s = load(path);
  std::filesystem::remove(path);
  CHECK(s.smtp_max_sessions == 250);
  CHECK(s.smtp_command_timeout == std::chrono::seconds(90));
  CHECK(s.smtp_data_timeout == std::chrono::hours(2));
  CHECK(s.smtp_listen.size() == 2);
  CHECK(s.http_protect_metrics);
  CHECK(s.http_buffer_memory == std::uint64_t{1} << 30);
  CHECK(s.http_cache_seconds.count() == 0);
  CHECK(s.readiness_max_blocking_share == doctest::Approx(0.01));
  REQUIRE(s.imap.size() == 1);
  CHECK(s.imap[0].port == 1993);
  CHECK(s.imap[0].poll_interval == std::chrono::minutes(5));
  CHECK_FALSE(s.imap[0].verify);
  CHECK(s.imap[0].folder == "INBOX");  // the row's default
  CHECK(s.imap[0].name == "u@imap.example");
  CHECK(describe(s).find("smtp.data_timeout = 2h\n") != std::string::npos);
  CHECK(describe(s).find("http.buffer_memory = 1G\n") != std::string::npos);
}

TEST_CASE("the environment wins over the file and is checked the same way") {
  const std::string path = file_with("[smtp]\nmax_sessions = 250\n");
  setenv("TLSRPT_SMTP_MAX_SESSIONS", "300", 1);
  CHECK(load(path).smtp_max_sessions == 300);
  setenv("TLSRPT_SMTP_MAX_SESSIONS", "-3", 1);
  std::string error;
  try {
    load(path);
  } catch (const Error& e) {
    error = e.what();
  }
  unsetenv("TLSRPT_SMTP_MAX_SESSIONS");
  std::filesystem::remove(path);
  CHECK(error.find("TLSRPT_SMTP_MAX_SESSIONS (smtp.max_sessions)") != std::string::npos);
}

TEST_CASE("durations print in the largest exact unit") {
  CHECK(format_duration(std::chrono::seconds(0)) == "0s");
  CHECK(format_duration(std::chrono::seconds(90)) == "90s");
  CHECK(format_duration(std::chrono::seconds(600)) == "10m");
  CHECK(format_duration(std::chrono::seconds(7200)) == "2h");
  CHECK(format_duration(std::chrono::seconds(86400)) == "1d");
}

TEST_CASE("choice settings are enums at load, each value back to the text that chose it") {
  for (const char* mode : {"off", "record", "require"}) {
    const Settings s = load(file_with(std::string("[dkim]\nmode = \"") + mode + "\"\n"));
    CHECK(to_string(s.dkim_mode) == mode);
    CHECK(describe(s).find(std::string("dkim.mode = ") + mode + "\n") != std::string::npos);
  }
  for (const char* on : {"authenticated", "all"}) CHECK(to_string(load(file_with(std::string("[dkim]\nalert_on = \"") + on + "\"\n")).dkim_alert_on) == on);
  CHECK(to_string(AlertOn::by_mode).empty());
  CHECK(load(file_with("[log]\nlevel = \"debug\"\nformat = \"json\"\n")).log_level == tlsrpt::log::Level::debug);
  CHECK(load(file_with("[log]\nformat = \"json\"\n")).log_format == tlsrpt::log::Format::json);
  for (const char* tls : {"implicit", "starttls", "plain"})
    for (const char* after : {"move", "flag", "delete"}) {
      const Settings s = load(file_with(std::string("[[imap]]\nhost = \"h\"\ntls = \"") + tls + "\"\nafter = \"" + after + "\"\n"));
      CHECK(to_string(s.imap[0].tls) == tls);
      CHECK(to_string(s.imap[0].after) == after);
    }
}

TEST_CASE("structured entries are structs at load, and a malformed one is named") {
  const Settings s = load(file_with(
      "[checks]\ndomains = [\"example.com\", \"example.net=tlsrpt@example.org\"]\n"
      "[http]\nintake_tokens = \"relay:0123456789abcdef0\"\ntrusted_proxies = [\"192.0.2.0/24\", \"2001:db8::1\"]\n"));
  REQUIRE(s.checks_domains.size() == 2);
  CHECK(s.checks_domains[0] == MonitoredDomain{"example.com", ""});
  CHECK(s.checks_domains[1] == MonitoredDomain{"example.net", "tlsrpt@example.org"});
  REQUIRE(s.http_intake_tokens.size() == 1);
  CHECK(s.http_intake_tokens[0] == IntakeToken{"relay", "0123456789abcdef0"});
  REQUIRE(s.http_trusted_proxies.size() == 2);
  CHECK(s.http_trusted_proxies[0].block.prefix == 120);
  CHECK(s.http_trusted_proxies[1].text == "2001:db8::1");
  CHECK(describe(s).find("checks.domains = example.com,example.net=tlsrpt@example.org\n") != std::string::npos);
  CHECK(changed(s, s).empty());
  CHECK(error_of("[http]\ntrusted_proxies = \"10.0.0.0/33\"\n").find("http.trusted_proxies: '10.0.0.0/33' is not an address") !=
        std::string::npos);
  const std::string short_token = error_of("[http]\nintake_tokens = \"relay:short\"\n");
  CHECK(short_token.find("http.intake_tokens: entry 1 is not submitter:token") != std::string::npos);
  CHECK(short_token.find("short") == std::string::npos);  // a secret is never echoed
  CHECK(error_of("[checks]\ndomains = \"=a@b\"\n").find("checks.domains: '=a@b' has no domain name") != std::string::npos);
}

TEST_CASE("whether a setting reloads is the table's reload column") {
  std::set<std::string> reloading;
  for (const auto& r : reference())
    if (r.reloadable) reloading.insert(r.key);
  CHECK(reloading == std::set<std::string>{"log.level", "log.format", "smtp.tls_cert", "smtp.tls_key", "http.tls_cert",
                                           "http.tls_key", "http.read_tokens", "http.admin_tokens", "http.intake_tokens",
                                           "checks.domains", "domain.name", "domain.rua", "domain.hosted", "domain.auto_enforce_days", "domain.auto_rollback", "policy.domains"});
  for (const auto& key : reloading) CHECK_MESSAGE(reloadable(key), key);
  CHECK(reloadable("domain"));
  CHECK_FALSE(reloadable("imap"));
  CHECK_FALSE(reloadable("smtp.listen"));
  CHECK_FALSE(reloadable("limits.message_size"));
}
