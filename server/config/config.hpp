// Settings: one table (key, environment variable, type, default, one-line description), read
// from a TOML file, then the environment, then the command line; each later source wins. Every
// value is checked against its type and range when it is loaded, so a mistake is named before
// anything starts, and the commands receive typed values.
//
// Secrets have a *_FILE variant (the value is read from that file) so they need not sit in the
// environment; check-config prints them redacted.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "log/log.hpp"
#include "net/client.hpp"
#include "report/limits.hpp"

namespace tlsrpt::config {

using Seconds = std::chrono::seconds;

// Choice settings, parsed once at load. Each enum's values are in the order of its row's
// choices (config_test checks that every choice maps back to its text).
enum class DkimMode { off, record, require };
enum class AlertOn { authenticated, all, by_mode };  // by_mode: the empty value (authenticated unless dkim.mode is off)
enum class ImapTls { implicit, starttls, plain };
enum class ImapAfter { move, flag, remove };  // "move", "flag", "delete"

// Structured entries, split and checked once at load.
// checks.domains: "name" or "name=rua".
struct MonitoredDomain {
  std::string name;
  std::string rua;  // the address its _smtp._tls record must list first; empty: the default
  bool hosted = false;  // its MTA-STS policy is hosted (policy.domains)
  std::int64_t auto_enforce_days = 0;  // hosted: enforce once the verdict was ready this many days in a row (0: never)
  bool auto_rollback = false;          // hosted: enforce goes back to testing when an MX fails or mail is refused
  bool operator==(const MonitoredDomain&) const = default;
};
// http.intake_tokens: "submitter:token".
struct IntakeToken {
  std::string submitter, token;
  bool operator==(const IntakeToken&) const = default;
};
// http.trusted_proxies: an address or an address block, with the text it was written as.
struct AddressBlock {
  std::string text;
  net::Cidr block;
};

// One mailbox for the IMAP poller ([[imap]] tables in the settings file).
struct ImapMailbox {
  std::string name, host;
  std::int64_t port = 0;  // 0: 993 for tls = implicit, else 143
  ImapTls tls = ImapTls::implicit;
  std::string username, password, password_file, folder;
  ImapAfter after = ImapAfter::move;
  std::string processed_folder, invalid_folder;
  Seconds poll_interval{};
  std::string ca_file;
  bool verify = true;
};

// Every member is set from the table's default by load(); the meaning of each is its row's
// description in config.cpp (and tlsrpt.toml(5), generated from it).
struct Settings {
  std::string database_url, data_dir, database_read_url;
  Seconds database_max_replica_lag{};
  std::string server_user;
  bool server_allow_root = false;
  log::Level log_level = log::Level::info;
  log::Format log_format = log::Format::text;
  std::vector<std::string> smtp_listen, smtp_recipients;
  std::string smtp_hostname, smtp_tls_cert, smtp_tls_key;
  std::int64_t smtp_max_sessions = 0, smtp_max_sessions_per_client = 0, smtp_recipients_per_message = 0;
  Seconds smtp_command_timeout{}, smtp_data_timeout{};
  std::int64_t smtp_store_connections = 0, smtp_messages_per_minute = 0, smtp_message_burst = 0;
  std::vector<std::string> http_listen;
  std::string http_tls_cert, http_tls_key;
  std::vector<std::string> http_read_tokens, http_admin_tokens;
  std::vector<IntakeToken> http_intake_tokens;
  bool http_protect_metrics = false;
  std::int64_t http_intake_per_minute = 0, http_intake_burst = 0, http_max_connections = 0,
               http_max_connections_per_client = 0;
  std::uint64_t http_buffer_memory = 0;
  Seconds http_request_timeout{}, http_idle_timeout{};
  std::vector<AddressBlock> http_trusted_proxies;
  std::int64_t http_workers = 0, http_workers_per_client = 0;
  Seconds http_cache_seconds{}, http_query_timeout{};
  std::string http_external_url;
  std::uint64_t quota_rejected_per_client = 0, quota_rejected_total = 0;
  std::string dns_server, dns_trust_anchor_file;
  std::string dns_update_server, dns_tsig_key_file;
  std::vector<std::string> policy_listen, policy_acme_listen, policy_domains;
  std::string policy_cert_dir, policy_acme_webroot;
  Seconds rollout_testing_max_age{}, rollout_enforce_max_age{};
  Seconds dns_timeout{};
  std::string checks_ca_file;
  std::int64_t checks_smtp_port = 0, checks_https_port = 0;
  bool checks_public_addresses_only = false;
  Seconds checks_timeout{};
  std::int64_t checks_expiry_warning_days = 0;
  std::vector<MonitoredDomain> checks_domains;
  Seconds checks_interval{};
  std::int64_t checks_concurrency = 0;
  std::int64_t readiness_days = 0, readiness_min_days = 0, readiness_min_reporters = 0;
  double readiness_max_blocking_share = 0;
  DkimMode dkim_mode = DkimMode::record;
  std::int64_t dkim_max_signatures = 0;
  Seconds dkim_timeout{};
  AlertOn dkim_alert_on = AlertOn::by_mode;
  std::vector<std::string> dkim_known_reporters, dkim_trusted_authserv_ids;
  std::vector<std::string> metrics_domains, metrics_organizations;
  std::int64_t metrics_max_domains = 0, metrics_max_organizations = 0;
  Seconds retention_failure_details{}, retention_reports{}, retention_raw_bodies{}, retention_rejected{};
  bool retention_prune = true;
  std::vector<ImapMailbox> imap;         // [[imap]] tables, in order
  std::vector<MonitoredDomain> domains;  // [[domain]] tables, in order
  report::Limits limits;
};

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The defaults, then `path` (if not empty), then the environment. Throws Error naming the file
// or variable, the key and what is wrong (unknown keys included: a typo must not pass silently).
Settings load(const std::string& path);
// The defaults, then one TOML document (no environment): what load does with a file's text,
// `name` standing for its path in errors.
Settings parse(std::string_view text, const std::string& name);

// Effective settings, one `key = value` line each, secrets redacted.
std::string describe(const Settings& s);

// The keys whose values differ between a and b: settings by key, "imap" and "domain" for the
// tables, "limits.NAME" for limits. Secrets are compared, never shown.
std::vector<std::string> changed(const Settings& a, const Settings& b);
// Whether serve applies a key's new value on SIGHUP (the rest need a restart): the settings
// table's reload column, for a key as changed() names it.
bool reloadable(std::string_view key);
// The text of a choice value, as the settings file writes it ("" for AlertOn::by_mode).
std::string_view to_string(DkimMode m);
std::string_view to_string(AlertOn a);
std::string_view to_string(ImapTls t);
std::string_view to_string(ImapAfter a);

// The reference, for tlsrpt.toml(5) and check-config --list: every setting in table order, then
// the keys of an [[imap]] table ("imap.KEY") and of a [[domain]] table ("domain.KEY"). Limits
// are report::all_limits().
struct Reference {
  std::string key, environment, type, default_value, description;
  std::string allowed;  // the range or the choices ("1 to 65535", "off, record or require"); may be empty
  bool secret = false;
  bool reloadable = false;  // applied on SIGHUP
};
std::vector<Reference> reference();

// Takes the secret settings' environment variables (database URLs, tokens, passwords, and their
// _FILE forms) out of the process environment, so that /proc/PID/environ and child processes do
// not show them; later loads (a reload) still read them. Call before any thread starts.
void hide_secret_environment();

// Items separated by commas or spaces; empty items are skipped.
std::vector<std::string> split_list(std::string_view text);
// "1h", "90s", "5m", "2d" (the largest unit that is exact).
std::string format_duration(Seconds s);

}  // namespace tlsrpt::config
