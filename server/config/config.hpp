// Settings: one table (name, environment variable, default, meaning), read from a TOML file,
// then the environment, then the command line; each later source wins.
//
// Secrets have a *_FILE variant (the value is read from that file) so they need not sit in the
// environment; check-config prints them redacted.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "report/limits.hpp"

namespace tlsrpt::config {

// One mailbox for the IMAP poller ([[imap]] tables in the settings file); checked where used.
struct ImapMailbox {
  std::string name, host, port, tls = "implicit", username, password, password_file, folder = "INBOX",
      after = "move", processed_folder = "tlsrpt/processed", invalid_folder = "tlsrpt/invalid", poll_interval = "60",
      ca_file, verify = "true";
};

// A monitored domain ([[domain]] tables, or checks.domains entries "name" / "name=rua").
struct MonitoredDomain {
  std::string name;
  std::string rua;  // the address its _smtp._tls record must list first; empty: the default
};

struct Settings {
  std::string database_url;    // empty: the embedded cluster
  std::string data_dir = "data";
  // serve started as root: the user to run as (empty: tlsrpt when it exists), and whether
  // staying root is allowed when there is none.
  std::string server_user;
  std::string server_allow_root = "false";
  // SMTP listener (tlsrpt serve); numbers are checked where they are used.
  std::string smtp_listen = "127.0.0.1:2525";  // comma-separated host:port list
  std::string smtp_recipients;                 // comma-separated addresses and @domains
  std::string smtp_hostname;                   // default: the machine's host name
  std::string smtp_tls_cert, smtp_tls_key;     // PEM files; STARTTLS offered when both are set
  std::string smtp_max_sessions = "100";
  std::string smtp_max_sessions_per_client = "10";
  std::string smtp_recipients_per_message = "50";
  std::string smtp_command_timeout = "300";  // seconds
  std::string smtp_data_timeout = "600";     // seconds
  std::string smtp_store_connections = "8";
  std::string smtp_messages_per_minute = "60";  // per client (IPv4 address, IPv6 /64)
  std::string smtp_message_burst = "60";
  // HTTP server: API, report intake, health, metrics (tlsrpt serve).
  std::string http_listen = "127.0.0.1:8080";  // comma-separated host:port list; empty: no HTTP server
  std::string http_tls_cert, http_tls_key;     // PEM files; HTTPS on every listener when both are set
  std::string http_read_tokens, http_admin_tokens;  // comma-separated bearer tokens
  std::string http_intake_tokens;  // comma-separated "submitter:token": when set, POST /tlsrpt needs one
  std::string http_protect_metrics = "false";  // true: /metrics, /healthz, /readyz need a token
  std::string http_intake_per_minute = "60";   // POST /tlsrpt per client address
  std::string http_intake_burst = "60";
  std::string http_max_connections = "512";
  std::string http_max_connections_per_client = "32";
  std::string http_buffer_memory = "128M";  // request and response bodies held at once
  std::string http_request_timeout = "30";  // seconds
  std::string http_idle_timeout = "15";     // seconds
  std::string http_trusted_proxies;         // addresses / CIDR blocks whose X-Forwarded-For is believed
  std::string http_workers = "8";           // threads (and database connections) answering requests
  std::string http_cache_seconds = "10";    // analytics answers cached this long (0: off)
  // Rejected inputs from network senders: bytes per UTC day whose bodies are kept.
  std::string quota_rejected_per_client = "64M";
  std::string quota_rejected_total = "1G";
  // Posture checks (tlsrpt check).
  std::string dns_server;  // HOST:PORT getting every query; empty: resolve from the root
  std::string dns_trust_anchor_file = "/usr/share/dns/root.key";
  std::string dns_timeout = "5";  // seconds per query
  std::string checks_ca_file;     // extra trusted CAs (PEM)
  std::string checks_smtp_port = "25";
  std::string checks_https_port = "443";
  std::string checks_timeout = "15";  // seconds per policy fetch and per MX probe
  std::string checks_expiry_warning_days = "14";
  // Scheduled checks (tlsrpt serve) of the monitored domains: checks.domains plus [[domain]].
  std::string checks_domains;            // comma-separated "domain" or "domain=rua@address"
  std::string checks_interval = "3600";  // seconds between two checks of a domain (jittered)
  std::string checks_concurrency = "8";  // domains checked at once
  // Readiness (GET /api/v1/domains/{domain}/readiness, tlsrpt readiness).
  std::string readiness_days = "30";               // the window of reports judged, in days
  std::string readiness_min_days = "14";           // days with reports needed
  std::string readiness_min_reporters = "2";       // reporting organisations needed
  std::string readiness_max_blocking_share = "0.001";  // blocking failures / sessions under sts policies
  // DKIM verification of report mail (server/dkim).
  std::string dkim_mode = "record";          // off | record | require
  std::string dkim_max_signatures = "5";     // signatures verified per message
  std::string dkim_timeout = "10";           // seconds for all key lookups of one message
  std::string dkim_alert_on;                 // authenticated | all; default authenticated unless mode is off
  std::string dkim_known_reporters = "google.com,microsoft.com,mail.ru";  // named in the DKIM metrics
  std::string dkim_trusted_authserv_ids;  // gateways whose Authentication-Results are believed
  // Metrics label bounds.
  std::string metrics_domains;        // comma-separated: the only policy_domain label values
  std::string metrics_organizations;  // comma-separated: the only organization label values
  std::string metrics_max_domains = "100";
  std::string metrics_max_organizations = "50";
  std::vector<ImapMailbox> imap;  // [[imap]] tables, in order
  std::vector<MonitoredDomain> domains;  // [[domain]] tables, in order
  report::Limits limits;
};

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads `path` (if not empty) over the defaults, then the environment. Throws Error naming the
// file, the key and what is wrong (unknown keys included: a typo must not pass silently).
Settings load(const std::string& path);

// Effective settings, one `key = value` line each, secrets redacted.
std::string describe(const Settings& s);

}  // namespace tlsrpt::config
