#include "cli/check_command.hpp"
#include "cli/manual.hpp"

#include <boost/asio.hpp>
#include <cstdio>

#include "cli/database.hpp"
#include "cli/monitoring.hpp"
#include "policy/policy.hpp"
#include "posture/check.hpp"
#include "readiness/readiness.hpp"

namespace tlsrpt::cli {
namespace {

struct CheckOptions {
  std::vector<std::string> domains;
  bool json = false;
  std::string rua;
};

int run_check(const CheckOptions& o, const config::Settings& s) {
  const posture::CheckSettings cs = check_settings(s);
  const std::string rua = o.rua.empty() ? default_rua(s) : o.rua;
  std::vector<posture::Monitored> domains;
  for (const auto& d : o.domains) {
    const auto name = policy::normalize_domain(d);
    if (!name) throw CLI::ValidationError("DOMAIN", "'" + d + "' is not a domain name");
    domains.push_back({*name, rua});
  }
  boost::asio::io_context io;
  std::unique_ptr<dns::Resolver> resolver;
  try {
    resolver = std::make_unique<dns::Resolver>(io, dns_settings(s));
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "tlsrpt check: %s\n", e.what());
    return 3;
  }
  // Printed in the order asked, each as soon as it and those before it are done.
  std::vector<std::optional<posture::Result>> waiting(domains.size());  // done, not printed yet
  std::size_t printed = 0;
  bool error = false, incomplete = false;
  const posture::Sink sink = [&](posture::Checked&& c) {
    // check_all completes domains in any order; the same name twice fills its slots in turn.
    for (std::size_t i = printed; i < domains.size(); ++i)
      if (domains[i].name == c.result.domain && !waiting[i]) {
        waiting[i] = std::move(c.result);
        break;
      }
    for (; printed < waiting.size() && waiting[printed]; ++printed) {
      const posture::Result& r = *waiting[printed];
      std::fputs((o.json ? posture::to_json(r) + "\n" : posture::to_text(r)).c_str(), stdout);
      std::fflush(stdout);
      error |= r.has_error();
      incomplete |= r.incomplete();
      waiting[printed].reset();
    }
  };
  boost::asio::co_spawn(io, posture::check_all(*resolver, domains, cs, static_cast<std::size_t>(s.checks_concurrency), sink),
                        boost::asio::detached);
  io.run();
  return incomplete ? 3 : error ? 1 : 0;
}

}  // namespace

void add_check_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto o = std::make_shared<CheckOptions>();
  CLI::App* cmd = app.add_subcommand(
      "check",
      "Check what each DOMAIN publishes, as a sending MTA sees it: the _mta-sts record and policy, the _smtp._tls "
      "record, the MX hosts' STARTTLS and certificates, DANE. No database.");
  exit_statuses(*cmd, "0 no finding is an error; 1 some finding is an error; 2 usage error; 3 a check could not complete");
  cmd->add_option("domains", o->domains, "Domains to check")->required();
  cmd->add_flag("--json", o->json, "One JSON object per domain and line");
  cmd->add_option("--rua", o->rua,
                  "The address the _smtp._tls record must list first (default: the first address of smtp.recipients)");
  cmd->callback([o, &global, &exit_code] {
    const config::Settings settings = load_settings(global, LimitOptions{});
    exit_code = run_check(*o, settings);
  });
}

namespace {

struct ReadinessOptions {
  DatabaseOptions db;
  std::string domain;
  int days = 0;
  bool json = false;
};

}  // namespace

void add_readiness_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto o = std::make_shared<ReadinessOptions>();
  CLI::App* cmd = app.add_subcommand(
      "readiness",
      "May DOMAIN's MTA-STS policy switch from testing to enforce? The verdict (ready, not-ready, insufficient-data, "
      "enforced), its reasons and the evidence, from the stored reports and posture checks (the same JSON as GET "
      "/api/v1/domains/{domain}/readiness).");
  exit_statuses(*cmd, "0 ready, or enforced without refused mail or posture errors; 1 otherwise; 2 usage error; 3 database error");
  add_database_options(*cmd, o->db, false);
  cmd->add_option("domain", o->domain, "The policy domain")->required();
  cmd->add_option("--days", o->days, "Judge the reports of the last N days (default readiness.days, 30)")
      ->check(CLI::Range(1, 400));
  cmd->add_flag("--json", o->json, "The answer as JSON, as the API gives it");
  cmd->callback([o, &global, &exit_code] {
    const config::Settings settings = load_settings(global, LimitOptions{});
    const auto domain = policy::normalize_domain(o->domain);
    if (!domain) throw CLI::ValidationError("DOMAIN", "'" + o->domain + "' is not a domain name");
    const readiness::Thresholds t = readiness_thresholds(settings);
    const int days = o->days > 0 ? o->days : readiness_days(settings);
    apply(o->db, settings);
    exit_code = guarded("readiness", [&] {
      Database db = open_database(o->db, std::nullopt);
      const readiness::Answer a = readiness::answer(*db.store, *domain, days, t);
      std::fputs(o->json ? (a.json + "\n").c_str() : readiness::to_text(*domain, days, a).c_str(), stdout);
      return readiness::all_clear(a.decision) ? 0 : 1;
    });
  });
}

}  // namespace tlsrpt::cli
