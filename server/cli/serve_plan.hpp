// The serve plan: every part's typed settings, built from the loaded settings with every check
// that needs more than one value or the system (files, users, certificates). `tlsrpt serve` runs
// on a plan, `tlsrpt check-config` builds one and prints it, and SIGHUP builds one from the
// reread file before anything is applied; so what one accepts the others accept.
//
// A refusal is a CLI::ValidationError whose text is "KEY: what is wrong" (with the value, unless
// it is secret): exit status 2 from any command.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/api.hpp"
#include "cli/privileges.hpp"
#include "config/config.hpp"
#include "dkim/gate.hpp"
#include "dns/update.hpp"
#include "rollout/rollout.hpp"
#include "http/server.hpp"
#include "imap/poller.hpp"
#include "log/log.hpp"
#include "metrics/metrics.hpp"
#include "posture/monitor.hpp"
#include "smtp/server.hpp"
#include "store/retention.hpp"

namespace tlsrpt::cli {

// What serve's command line sets over the settings (empty: the setting's value).
struct CommandLine {
  std::vector<std::string> smtp_listen, http_listen;  // each item may be a list
  std::string smtp_recipients;
  bool allow_root = false;
  std::string database_url, data_dir;  // --database-url, --data-dir
};

// The policy host and the roll-out (policy.*, rollout.*, dns.update_server).
struct Hosting {
  std::vector<std::string> domains;  // hosted, lower case
  http_server::Settings listener;    // listen empty: no policy listener
  http_server::Settings acme;        // listen empty: no ACME listener
  std::string cert_dir, acme_webroot;
  rollout::Settings rollout;
  std::optional<dns::Server> update_server;
  dns::TsigKey key;
};

struct Plan {
  log::Level log_level = log::Level::info;
  log::Format log_format = log::Format::text;
  std::optional<RunAs> run_as;  // started as root: the user serve becomes (nullopt: stays as is)
  smtp_server::Settings smtp;   // listen empty: no SMTP listener
  http_server::Settings http;   // listen empty: no HTTP server
  api::Settings api;
  std::vector<imap_poller::Mailbox> mailboxes;
  std::vector<posture::Monitored> monitored;
  dkim::Mode dkim_mode = dkim::Mode::record;
  dkim::Settings dkim;
  bool alert_on_authenticated = true;
  store::Retention retention;
  bool prune = true;
  metrics::LabelSettings labels;
  std::string external_url;  // http.external_url without a trailing '/', "" when unset
  Hosting hosting;
};

// Throws CLI::ValidationError naming the key (see above).
Plan plan(const config::Settings& s, const CommandLine& command_line = {});

// One line per part of a plan: what serve would run (for check-config).
std::string describe(const Plan& p);

}  // namespace tlsrpt::cli
