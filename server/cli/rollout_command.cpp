#include "cli/rollout_command.hpp"

#include <algorithm>
#include <cstdio>

#include "cli/database.hpp"
#include "cli/manual.hpp"
#include "cli/monitoring.hpp"
#include "policy/policy.hpp"
#include "rollout/rollout.hpp"

namespace tlsrpt::cli {
namespace {

struct RolloutOptions {
  DatabaseOptions db;
  std::string domain, action = "status", reason;
  std::vector<std::string> mx;
  bool force = false, json = false;
  double wait = -1;
};

}  // namespace

void add_rollout_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto o = std::make_shared<RolloutOptions>();
  CLI::App* cmd = app.add_subcommand(
      "rollout",
      "The MTA-STS policy tlsrpt hosts for DOMAIN, and its roll-out: status (the default), testing (start, or change "
      "the mx list), enforce (only on a ready verdict, every MX covered and passing its check), rollback (enforce to "
      "testing), none (RFC 8461's way out), remove (once no sender may hold a policy), plan (would --mx HOST... pass "
      "under the served policy, and in which order to change it). Every change gets a new policy id and a line in the "
      "history; serve publishes the id in DNS (dns.update_server) or says which record to publish. The same JSON as "
      "/api/v1/domains/{domain}/rollout.");
  exit_statuses(*cmd, "0 done (or the plan passes); 1 refused (or the plan does not pass); 2 usage error; 3 database error");
  add_database_options(*cmd, o->db, false);
  cmd->add_option("domain", o->domain, "The hosted domain")->required();
  cmd->add_option("action", o->action, "status, testing, enforce, rollback, none, remove or plan")
      ->check(CLI::IsMember({"status", "testing", "enforce", "rollback", "none", "remove", "plan"}));
  cmd->add_option("--reason", o->reason, "Why (kept in the history; required with --force)");
  cmd->add_flag("--force", o->force, "enforce although the readiness verdict is not ready (recorded with --reason)");
  cmd->add_option("--mx", o->mx, "MX patterns to serve (testing, enforce), or the planned MX hosts (plan); repeatable, or a list");
  cmd->add_option("--wait", o->wait, "Seconds to wait for serve to publish a change's id in DNS (default 5 with "
                                     "dns.update_server, else 0)")
      ->check(CLI::Range(0.0, 60.0));
  cmd->add_flag("--json", o->json, "The answer as JSON, as the API gives it");
  cmd->callback([o, &global, &exit_code] {
    const config::Settings settings = load_settings(global, LimitOptions{});
    const auto domain = policy::normalize_domain(o->domain);
    if (!domain) throw CLI::ValidationError("DOMAIN", "'" + o->domain + "' is not a domain name");
    rollout::Request rq;
    rq.domain = *domain;
    rq.action = *rollout::action_from_string(o->action);
    rq.reason = o->reason;
    rq.force = o->force;
    rq.actor = "cli";
    if (const auto usage = rollout::complete(rq, o->mx)) throw CLI::ValidationError("--" + usage->field, usage->what);
    const auto hosted = hosted_domains(settings);
    rq.configured = std::find(hosted.begin(), hosted.end(), rq.domain) != hosted.end();
    const rollout::Settings rs = rollout_settings(settings);
    rq.wait = o->wait >= 0 ? std::chrono::milliseconds(static_cast<std::int64_t>(o->wait * 1000)) : rs.default_wait();
    apply(o->db, settings);
    exit_code = guarded("rollout", [&] {
      Database db = open_database(o->db, std::nullopt);
      const rollout::Outcome out = rollout::run(*db.store, rq, rs, readiness_days(settings), readiness_thresholds(settings));
      std::fputs(o->json ? (out.json + "\n").c_str() : rollout::to_text(rq, out).c_str(), stdout);
      if (rq.action == rollout::Action::plan) return out.plan_passes ? 0 : 1;
      return out.refused ? 1 : 0;
    });
  });
}

}  // namespace tlsrpt::cli
