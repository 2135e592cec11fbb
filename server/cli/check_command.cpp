#include "cli/check_command.hpp"

#include <boost/asio.hpp>
#include <cstdio>

#include "cli/setting_values.hpp"
#include "posture/check.hpp"

namespace tlsrpt::cli {
namespace {

struct CheckOptions {
  std::vector<std::string> domains;
  bool json = false;
  std::string rua;
};

int run_check(const CheckOptions& o, const config::Settings& s) {
  dns::Settings ds;
  ds.server = s.dns_server;
  ds.trust_anchor_file = s.dns_trust_anchor_file;
  ds.timeout = std::chrono::seconds(number("dns.timeout", s.dns_timeout));
  posture::CheckSettings cs;
  cs.fetch.ca_file = cs.probe.ca_file = s.checks_ca_file;
  const std::size_t smtp_port = number("checks.smtp_port", s.checks_smtp_port);
  const std::size_t https_port = number("checks.https_port", s.checks_https_port);
  if (smtp_port > 65535 || https_port > 65535) throw CLI::ValidationError("checks.*_port", "not a port");
  cs.probe.smtp_port = static_cast<unsigned short>(smtp_port);
  cs.fetch.https_port = static_cast<unsigned short>(https_port);
  cs.fetch.timeout = cs.probe.timeout = std::chrono::seconds(number("checks.timeout", s.checks_timeout));
  cs.probe.expiry_warning_days = static_cast<int>(number("checks.expiry_warning_days", s.checks_expiry_warning_days, true));
  // tlsrpt's own address: --rua, else the first address (not @domain) of smtp.recipients.
  cs.expected_rua = o.rua;
  if (cs.expected_rua.empty())
    for (const auto& r : split_list(s.smtp_recipients))
      if (!r.starts_with('@')) {
        cs.expected_rua = r;
        break;
      }
  boost::asio::io_context io;
  std::unique_ptr<dns::Resolver> resolver;
  try {
    resolver = std::make_unique<dns::Resolver>(io, ds);
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "tlsrpt check: %s\n", e.what());
    return 3;
  }
  std::vector<posture::Result> results(o.domains.size());
  for (std::size_t i = 0; i < o.domains.size(); ++i) {
    std::string domain = o.domains[i];
    for (char& c : domain) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!domain.empty() && domain.back() == '.') domain.pop_back();
    boost::asio::co_spawn(
        io, [&, i, domain]() -> boost::asio::awaitable<void> { results[i] = co_await posture::check_domain(*resolver, domain, cs); },
        boost::asio::detached);
  }
  io.run();
  bool error = false, incomplete = false;
  for (const auto& r : results) {
    std::fputs((o.json ? posture::to_json(r) + "\n" : posture::to_text(r)).c_str(), stdout);
    error |= r.has_error();
    incomplete |= r.incomplete();
  }
  return incomplete ? 3 : error ? 1 : 0;
}

}  // namespace

void add_check_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto o = std::make_shared<CheckOptions>();
  CLI::App* cmd = app.add_subcommand(
      "check",
      "Check what each DOMAIN publishes, as a sending MTA sees it: the _mta-sts record and policy, the _smtp._tls "
      "record, the MX hosts' STARTTLS and certificates, DANE. No database. Exit status: 0 with no error finding, "
      "1 with any, 2 on a usage error, 3 when a check could not complete.");
  cmd->add_option("domains", o->domains, "Domains to check")->required();
  cmd->add_flag("--json", o->json, "One JSON object per domain and line");
  cmd->add_option("--rua", o->rua,
                  "The address the _smtp._tls record must list first (default: the first address of smtp.recipients)");
  cmd->callback([o, &global, &exit_code] {
    const config::Settings settings = load_settings(global, LimitOptions{});
    exit_code = run_check(*o, settings);
  });
}

}  // namespace tlsrpt::cli
