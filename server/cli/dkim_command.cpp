#include "cli/dkim_command.hpp"
#include "json/text.hpp"
#include "cli/manual.hpp"

#include <cstdio>
#include <ctime>

#include "cli/inputs.hpp"
#include "cli/monitoring.hpp"
#include "pipeline/output.hpp"

namespace tlsrpt::cli {

dkim::Mode dkim_mode(const config::Settings& s) {
  switch (s.dkim_mode) {
    case config::DkimMode::off: return dkim::Mode::off;
    case config::DkimMode::record: return dkim::Mode::record;
    case config::DkimMode::require: return dkim::Mode::require;
  }
  return dkim::Mode::record;
}

dkim::Settings dkim_settings(const config::Settings& s) {
  dkim::Settings out;
  out.dns = dns_settings(s);
  out.max_signatures = static_cast<int>(s.dkim_max_signatures);
  out.deadline = s.dkim_timeout;
  out.trusted_authserv_ids = s.dkim_trusted_authserv_ids;
  return out;
}

bool dkim_alert_on_authenticated(const config::Settings& s) {
  if (s.dkim_alert_on == config::AlertOn::by_mode) return s.dkim_mode != config::DkimMode::off;
  return s.dkim_alert_on == config::AlertOn::authenticated;
}

namespace {

struct DkimOptions {
  std::vector<std::string> files;
  std::string arrival;
  bool json = false;
};

// "2026-11-30T12:00:00Z" or seconds since the epoch.
std::int64_t parse_arrival(const std::string& text) {
  std::tm tm{};
  if (const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm); end && *end == '\0') return timegm(&tm);
  try {
    std::size_t used = 0;
    const long long n = std::stoll(text, &used);
    if (used == text.size() && n >= 0) return n;
  } catch (...) {
  }
  throw CLI::ValidationError("--arrival", "'" + text + "' is neither YYYY-MM-DDTHH:MM:SSZ nor seconds since the epoch");
}

std::string readable(const std::string& name, const dkim::Verdict& v) {
  std::string out = name + ": " + std::string(dkim::to_string(v.result));
  if (!v.from_domain.empty()) out += " (From domain " + v.from_domain + ")";
  if (!v.authserv_id.empty()) out += " (by " + v.authserv_id + ": dkim=pass for " + v.authserv_domain + ")";
  out += "\n";
  for (const auto& s : v.signatures) {
    out += "  d=" + s.domain + " s=" + s.selector + ": " +
           (s.error ? std::string(dkim::to_string(*s.error)) : std::string("authenticates"));
    if (s.key_bits) out += ", " + std::to_string(s.key_bits) + "-bit key" + (s.key_secure ? " (DNSSEC)" : "");
    if (s.key_tlsrpt) out += ", s=tlsrpt";
    out += ", alignment " + std::string(dkim::to_string(s.alignment)) + "\n";
  }
  return out;
}

}  // namespace

void add_dkim_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto o = std::make_shared<DkimOptions>();
  CLI::App* cmd = app.add_subcommand(
      "dkim",
      "Verify the DKIM signatures of report messages (.eml files, mbox files, directories) as intake does, keys "
      "looked up through dns.server. No database.");
  exit_statuses(*cmd, "0 every message passes; 1 some message does not; 2 usage error; 3 a key lookup failed for now "
                      "(temperror)");
  cmd->add_option("files", o->files, "Message files")->required();
  cmd->add_option("--arrival", o->arrival,
                  "When the messages arrived (YYYY-MM-DDTHH:MM:SSZ or epoch seconds): signature expiry is judged then. "
                  "Default: each message's topmost Received header, else now");
  cmd->add_flag("--json", o->json, "One JSON object per message and line");
  cmd->callback([o, &global, &exit_code] {
    const config::Settings settings = load_settings(global, LimitOptions{});
    const std::optional<std::int64_t> arrival =
        o->arrival.empty() ? std::nullopt : std::optional<std::int64_t>(parse_arrival(o->arrival));
    dkim::Verifier verifier(dkim_settings(settings));
    bool failed = false, temporary = false;
    InputVisitor visitor;
    visitor.input = [&](const std::string& name, std::string_view bytes) {
      const std::int64_t now = std::time(nullptr);
      const dkim::Verdict v = verifier.verify(bytes, arrival.value_or(dkim::arrival_from_received(bytes, now).value_or(now)));
      if (v.result == dkim::Result::temperror) temporary = true;
      else if (v.result != dkim::Result::pass) failed = true;
      if (o->json) {
        std::string line = v.to_json();
        line.pop_back();
        std::printf("%s,\"input\":%s}\n", line.c_str(), json::string_of_bytes(name).c_str());
      } else {
        std::fputs(readable(name, v).c_str(), stdout);
      }
    };
    visitor.too_large = [&](const std::string& name, const report::Rejection& r) {
      print_rejection(name, r);
      failed = true;
    };
    visitor.error = [&](const std::string& name, const std::string& error) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), error.c_str());
      failed = true;
    };
    visitor.stop = [] { return false; };
    visit_inputs(o->files, settings.limits, visitor);
    exit_code = temporary ? 3 : failed ? 1 : 0;
  });
}

}  // namespace tlsrpt::cli
