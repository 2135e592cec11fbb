#include "config/config.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <type_traits>
#include <variant>
#include <toml++/toml.h>

namespace tlsrpt::config {
namespace {

enum class Type { string, integer, duration, size, boolean, list, path, secret, secret_list, choice, fraction };

std::string_view type_name(Type t) {
  switch (t) {
    case Type::string: return "string";
    case Type::integer: return "integer";
    case Type::duration: return "duration";
    case Type::size: return "size";
    case Type::boolean: return "boolean";
    case Type::list: return "list";
    case Type::path: return "path";
    case Type::secret: return "secret";
    case Type::secret_list: return "list of secrets";
    case Type::choice: return "choice";
    case Type::fraction: return "fraction";
  }
  return "?";
}

constexpr std::int64_t unbounded = std::numeric_limits<std::int64_t>::max();

// One row per setting. `field` is the member it sets, whose C++ type follows the row's type:
// integer std::int64_t, size std::uint64_t (bytes), duration Seconds, boolean bool, fraction
// double, list and secret_list std::vector<std::string>, the others std::string. min and max
// bound integers, sizes (bytes) and durations (seconds); choices are separated by '|'.
// `when_empty` is what an empty value (or a port of 0) means, as check-config shows it.
// Choice rows set an enum member (its values in the order of `choices`); list rows set either
// a std::vector<std::string> or a vector of one of the structured entries (each item parsed by
// parse_item below). `reload`: serve applies a new value on SIGHUP (the rest need a restart).
template <class S>
struct Row {
  using Field = std::variant<std::string S::*, std::int64_t S::*, Seconds S::*, std::uint64_t S::*, bool S::*,
                             std::vector<std::string> S::*, double S::*, log::Level S::*, log::Format S::*,
                             DkimMode S::*, AlertOn S::*, ImapTls S::*, ImapAfter S::*,
                             std::vector<MonitoredDomain> S::*, std::vector<IntakeToken> S::*,
                             std::vector<AddressBlock> S::*>;
  std::string_view key;
  std::string_view environment;
  Type type;
  Field field;
  std::string_view default_text;
  std::string_view description;
  std::int64_t min = 0, max = unbounded;
  std::string_view choices = "";
  std::string_view when_empty = "";
  bool reload = false;
};

// A row whose new value serve applies on SIGHUP: the table's reload column.
template <class S>
constexpr Row<S> reloads(Row<S> r) {
  r.reload = true;
  return r;
}

using S = Settings;
constexpr std::int64_t day = 86400;

const Row<Settings> settings[] = {
    {"database.url", "TLSRPT_DATABASE_URL", Type::secret, &S::database_url, "",
     "PostgreSQL connection (URL or key=value string); empty: the embedded cluster in database.data_dir", 0, 0, "",
     "(embedded)"},
    {"database.data_dir", "TLSRPT_DATA_DIR", Type::path, &S::data_dir, "data",
     "where the embedded PostgreSQL cluster lives when database.url is empty"},
    {"database.read_url", "TLSRPT_DATABASE_READ_URL", Type::secret, &S::database_read_url, "",
     "a streaming replica of database.url: the API, the web pages and the metrics' seeding read from it; intake and "
     "migrations write to the primary", 0, 0, "", "(reads from database.url)"},
    {"database.max_replica_lag", "TLSRPT_DATABASE_MAX_REPLICA_LAG", Type::duration, &S::database_max_replica_lag, "30s",
     "a replica further behind than this makes every answer carry X-Replica-Lag (seconds)", 1, day},
    {"server.user", "TLSRPT_SERVER_USER", Type::string, &S::server_user, "",
     "serve started as root: the user it becomes once its listeners are bound", 0, 0, "",
     "(tlsrpt when started as root and it exists)"},
    {"server.allow_root", "TLSRPT_SERVER_ALLOW_ROOT", Type::boolean, &S::server_allow_root, "false",
     "serve started as root may stay root when server.user is empty (otherwise it refuses)"},
    reloads<Settings>({"log.level", "TLSRPT_LOG_LEVEL", Type::choice, &S::log_level, "info",
     "least severe log lines written", 0, 0, "error|warn|info|debug"}),
    reloads<Settings>({"log.format", "TLSRPT_LOG_FORMAT", Type::choice, &S::log_format, "text",
     "text: component key=value lines; json: one JSON object per line, for log shippers", 0, 0, "text|json"}),
    {"smtp.listen", "TLSRPT_SMTP_LISTEN", Type::list, &S::smtp_listen, "127.0.0.1:2525",
     "HOST:PORT addresses of the SMTP listener; empty: no SMTP listener", 0, 0, "", "(no SMTP listener)"},
    {"smtp.recipients", "TLSRPT_SMTP_RECIPIENTS", Type::list, &S::smtp_recipients, "",
     "addresses (user@domain) and domains (@domain) mail is accepted for: what the rua points at", 0, 0, "",
     "(none: required when SMTP listens)"},
    {"smtp.hostname", "TLSRPT_SMTP_HOSTNAME", Type::string, &S::smtp_hostname, "",
     "the name in the SMTP greeting", 0, 0, "", "(the machine's host name)"},
    reloads<Settings>({"smtp.tls_cert", "TLSRPT_SMTP_TLS_CERT", Type::path, &S::smtp_tls_cert, "",
     "PEM certificate chain files, comma-separated (an RSA and an ECDSA one side by side); STARTTLS is offered when "
     "both it and smtp.tls_key are set", 0, 0,
     "", "(no STARTTLS)"}),
    reloads<Settings>({"smtp.tls_key", "TLSRPT_SMTP_TLS_KEY", Type::path, &S::smtp_tls_key, "",
     "PEM private key files for STARTTLS, one per certificate, in the same order", 0, 0, "", "(no STARTTLS)"}),
    {"smtp.max_sessions", "TLSRPT_SMTP_MAX_SESSIONS", Type::integer, &S::smtp_max_sessions, "100",
     "SMTP sessions open at once; more are refused with 421", 1, 1000000},
    {"smtp.max_sessions_per_client", "TLSRPT_SMTP_MAX_SESSIONS_PER_CLIENT", Type::integer,
     &S::smtp_max_sessions_per_client, "10", "SMTP sessions open at once per client (IPv4 address, IPv6 /64)", 1,
     1000000},
    {"smtp.recipients_per_message", "TLSRPT_SMTP_RECIPIENTS_PER_MESSAGE", Type::integer,
     &S::smtp_recipients_per_message, "50", "RCPT commands accepted per message", 1, 10000},
    {"smtp.command_timeout", "TLSRPT_SMTP_COMMAND_TIMEOUT", Type::duration, &S::smtp_command_timeout, "5m",
     "longest wait for an SMTP command", 1, day},
    {"smtp.data_timeout", "TLSRPT_SMTP_DATA_TIMEOUT", Type::duration, &S::smtp_data_timeout, "10m",
     "longest transfer of one message's DATA", 1, day},
    {"smtp.store_connections", "TLSRPT_SMTP_STORE_CONNECTIONS", Type::integer, &S::smtp_store_connections, "8",
     "threads (and database connections) storing SMTP messages", 1, 256},
    {"smtp.messages_per_minute", "TLSRPT_SMTP_MESSAGES_PER_MINUTE", Type::integer, &S::smtp_messages_per_minute,
     "60", "messages per minute per client before MAIL is deferred with 450", 1, 1000000000},
    {"smtp.message_burst", "TLSRPT_SMTP_MESSAGE_BURST", Type::integer, &S::smtp_message_burst, "60",
     "messages a client may send at once before its rate applies", 1, 1000000000},
    {"http.listen", "TLSRPT_HTTP_LISTEN", Type::list, &S::http_listen, "127.0.0.1:8080",
     "HOST:PORT addresses of the HTTP server (API, pages, intake, metrics); empty: none", 0, 0, "",
     "(no HTTP server)"},
    reloads<Settings>({"http.tls_cert", "TLSRPT_HTTP_TLS_CERT", Type::path, &S::http_tls_cert, "",
     "PEM certificate chain files, comma-separated: HTTPS on every HTTP listener when both it and http.tls_key "
     "are set",
     0, 0, "", "(plain HTTP)"}),
    reloads<Settings>({"http.tls_key", "TLSRPT_HTTP_TLS_KEY", Type::path, &S::http_tls_key, "", "PEM private key files for HTTPS, one per certificate",
     0, 0, "", "(plain HTTP)"}),
    reloads<Settings>({"http.read_tokens", "TLSRPT_HTTP_READ_TOKENS", Type::secret_list, &S::http_read_tokens, "",
     "bearer tokens (16 characters or more) that may read the API and pages", 0, 0, "",
     "(none)"}),
    reloads<Settings>({"http.admin_tokens", "TLSRPT_HTTP_ADMIN_TOKENS", Type::secret_list, &S::http_admin_tokens, "",
     "bearer tokens that may also read raw messages and rejected inputs", 0, 0, "", "(none)"}),
    reloads<Settings>({"http.intake_tokens", "TLSRPT_HTTP_INTAKE_TOKENS", Type::secret_list, &S::http_intake_tokens, "",
     "submitter:token pairs; when set, POST /tlsrpt needs one", 0, 0, "",
     "(none: POST /tlsrpt is open)"}),
    {"http.protect_metrics", "TLSRPT_HTTP_PROTECT_METRICS", Type::boolean, &S::http_protect_metrics, "false",
     "/metrics, /healthz and /readyz need a token too"},
    {"http.intake_per_minute", "TLSRPT_HTTP_INTAKE_PER_MINUTE", Type::integer, &S::http_intake_per_minute, "60",
     "POST /tlsrpt requests per minute per client address", 1, 1000000000},
    {"http.intake_burst", "TLSRPT_HTTP_INTAKE_BURST", Type::integer, &S::http_intake_burst, "60",
     "POST /tlsrpt requests a client may send at once", 1, 1000000000},
    {"http.max_connections", "TLSRPT_HTTP_MAX_CONNECTIONS", Type::integer, &S::http_max_connections, "512",
     "HTTP connections open at once; more are closed at once", 1, 1000000},
    {"http.max_connections_per_client", "TLSRPT_HTTP_MAX_CONNECTIONS_PER_CLIENT", Type::integer,
     &S::http_max_connections_per_client, "32", "HTTP connections open at once per client address", 1, 1000000},
    {"http.buffer_memory", "TLSRPT_HTTP_BUFFER_MEMORY", Type::size, &S::http_buffer_memory, "128M",
     "request and response bodies held at once (at least limits.message_size); beyond it 503", 1, unbounded},
    {"http.request_timeout", "TLSRPT_HTTP_REQUEST_TIMEOUT", Type::duration, &S::http_request_timeout, "30s",
     "longest time to receive one request", 1, day},
    {"http.idle_timeout", "TLSRPT_HTTP_IDLE_TIMEOUT", Type::duration, &S::http_idle_timeout, "15s",
     "how long an idle keep-alive connection stays open", 1, day},
    {"http.trusted_proxies", "TLSRPT_HTTP_TRUSTED_PROXIES", Type::list, &S::http_trusted_proxies, "",
     "addresses and CIDR blocks whose X-Forwarded-For is believed", 0, 0, "", "(none)"},
    {"http.workers", "TLSRPT_HTTP_WORKERS", Type::integer, &S::http_workers, "8",
     "threads (and database connections) answering HTTP requests", 1, 256},
    {"http.workers_per_client", "TLSRPT_HTTP_WORKERS_PER_CLIENT", Type::integer, &S::http_workers_per_client, "4",
     "requests one client may have under way on the workers at once (429 past it; health and readiness answer on a "
     "worker of their own)", 1, 256},
    {"http.query_timeout", "TLSRPT_HTTP_QUERY_TIMEOUT", Type::duration, &S::http_query_timeout, "30s",
     "longest database statement of one API or page read (PostgreSQL statement_timeout; past it the answer is 503)", 1,
     3600},
    {"http.cache_seconds", "TLSRPT_HTTP_CACHE_SECONDS", Type::duration, &S::http_cache_seconds, "10s",
     "how long analytics answers are cached (0: off)", 0, day},
    {"http.external_url", "TLSRPT_HTTP_EXTERNAL_URL", Type::string, &S::http_external_url, "",
     "the URL people reach the web pages at (https://tlsrpt.example.net): the external_url label of "
     "tlsrpt_build_info, which the Grafana dashboards and the alerts link to", 0, 0, "", "(no links)"},
    {"quota.rejected_per_client", "TLSRPT_QUOTA_REJECTED_PER_CLIENT", Type::size, &S::quota_rejected_per_client, "64M",
     "bytes of rejected input kept per network client and UTC day (beyond: hash and reason only)", 0, unbounded},
    {"quota.rejected_total", "TLSRPT_QUOTA_REJECTED_TOTAL", Type::size, &S::quota_rejected_total, "1G",
     "bytes of rejected input from network senders kept per UTC day", 0, unbounded},
    {"dns.server", "TLSRPT_DNS_SERVER", Type::string, &S::dns_server, "",
     "HOST:PORT of a resolver that gets every query (answers are still DNSSEC-validated)", 0, 0, "",
     "(resolve from the root)"},
    {"dns.trust_anchor_file", "TLSRPT_DNS_TRUST_ANCHOR_FILE", Type::path, &S::dns_trust_anchor_file,
     "/usr/share/dns/root.key", "DNSSEC trust anchors (DS or DNSKEY records)", 0, 0, "", "(no validation)"},
    {"dns.timeout", "TLSRPT_DNS_TIMEOUT", Type::duration, &S::dns_timeout, "5s", "longest wait for one DNS answer", 1,
     300},
    {"dns.update_server", "TLSRPT_DNS_UPDATE_SERVER", Type::string, &S::dns_update_server, "",
     "HOST:PORT of the primary name server that takes RFC 2136 updates of the hosted domains' _mta-sts records, "
     "TSIG-signed with dns.tsig_key_file", 0, 0, "", "(no updates: tlsrpt prints the record to publish)"},
    {"dns.tsig_key_file", "TLSRPT_DNS_TSIG_KEY_FILE", Type::path, &S::dns_tsig_key_file, "",
     "the TSIG key of dns.update_server: one line ALGORITHM:NAME:BASE64-SECRET (as knsupdate -k reads it)", 0, 0, "",
     "(required with dns.update_server)"},
    {"policy.listen", "TLSRPT_POLICY_LISTEN", Type::list, &S::policy_listen, "",
     "HOST:PORT addresses of the HTTPS listener that serves the hosted MTA-STS policies (RFC 8461 fetches from "
     "port 443)", 0, 0, "", "(no policy listener)"},
    {"policy.cert_dir", "TLSRPT_POLICY_CERT_DIR", Type::path, &S::policy_cert_dir, "",
     "the policy hosts' certificates, one pair per host: HOST.crt and HOST.key (lego's certificates directory) or "
     "HOST/fullchain.pem and HOST/privkey.pem (certbot's live directory); renewed files are picked up within 10 s",
     0, 0, "", "(required with policy.listen)"},
    {"policy.acme_listen", "TLSRPT_POLICY_ACME_LISTEN", Type::list, &S::policy_acme_listen, "",
     "HOST:PORT addresses of the plain-HTTP listener that answers ACME HTTP-01 challenges from policy.acme_webroot "
     "(the CA fetches port 80)", 0, 0, "", "(no ACME listener)"},
    {"policy.acme_webroot", "TLSRPT_POLICY_ACME_WEBROOT", Type::path, &S::policy_acme_webroot, "",
     "the webroot an ACME client writes .well-known/acme-challenge/TOKEN into (certbot, lego or uacme in webroot "
     "mode)", 0, 0, "", "(required with policy.acme_listen)"},
    reloads<Settings>({"policy.domains", "TLSRPT_POLICY_DOMAINS", Type::list, &S::policy_domains, "",
     "domains whose MTA-STS policy tlsrpt hosts at mta-sts.DOMAIN (besides [[domain]] tables with hosted = true); "
     "each is also monitored", 0, 0, "", "(none besides [[domain]] tables)"}),
    {"rollout.testing_max_age", "TLSRPT_ROLLOUT_TESTING_MAX_AGE", Type::duration, &S::rollout_testing_max_age, "1d",
     "max_age of a policy served in testing or none: short, so that a change reaches senders soon", 1, 31557600},
    {"rollout.enforce_max_age", "TLSRPT_ROLLOUT_ENFORCE_MAX_AGE", Type::duration, &S::rollout_enforce_max_age, "7d",
     "max_age of a policy served in enforce: long, so that an attacker who blocks the policy fetch finds it cached",
     86400, 31557600},
    {"checks.ca_file", "TLSRPT_CHECKS_CA_FILE", Type::path, &S::checks_ca_file, "",
     "extra trusted CAs (PEM) for policy fetches and MX probes", 0, 0, "", "(the system's CAs only)"},
    {"checks.smtp_port", "TLSRPT_CHECKS_SMTP_PORT", Type::integer, &S::checks_smtp_port, "25",
     "port of the MX probes", 1, 65535},
    {"checks.https_port", "TLSRPT_CHECKS_HTTPS_PORT", Type::integer, &S::checks_https_port, "443",
     "port of the MTA-STS policy fetches", 1, 65535},
    {"checks.public_addresses_only", "TLSRPT_CHECKS_PUBLIC_ADDRESSES_ONLY", Type::boolean,
     &S::checks_public_addresses_only, "false",
     "the policy fetch and the MX probes refuse loopback, private, link-local and metadata addresses (finding "
     "address-refused), so that a monitored domain's DNS cannot point tlsrpt at an internal service"},
    {"checks.timeout", "TLSRPT_CHECKS_TIMEOUT", Type::duration, &S::checks_timeout, "15s",
     "longest policy fetch and MX probe", 1, 600},
    {"checks.expiry_warning_days", "TLSRPT_CHECKS_EXPIRY_WARNING_DAYS", Type::integer, &S::checks_expiry_warning_days,
     "14", "days before a certificate's expiry that a warning starts", 0, 3650},
    reloads<Settings>({"checks.domains", "TLSRPT_CHECKS_DOMAINS", Type::list, &S::checks_domains, "",
     "monitored domains, \"domain\" or \"domain=rua@address\" (besides [[domain]] tables)", 0, 0,
     "", "(none besides [[domain]] tables)"}),
    {"checks.interval", "TLSRPT_CHECKS_INTERVAL", Type::duration, &S::checks_interval, "1h",
     "time between two checks of a monitored domain (jittered)", 1, 7 * day},
    {"checks.concurrency", "TLSRPT_CHECKS_CONCURRENCY", Type::integer, &S::checks_concurrency, "8",
     "domains checked at once", 1, 1000},
    {"readiness.days", "TLSRPT_READINESS_DAYS", Type::integer, &S::readiness_days, "30",
     "the window of reports a readiness verdict judges, in days", 1, 400},
    {"readiness.min_days", "TLSRPT_READINESS_MIN_DAYS", Type::integer, &S::readiness_min_days, "14",
     "days with reports needed for a verdict", 0, 400},
    {"readiness.min_reporters", "TLSRPT_READINESS_MIN_REPORTERS", Type::integer, &S::readiness_min_reporters, "2",
     "reporting organisations needed for a verdict", 0, 1000},
    {"readiness.max_blocking_share", "TLSRPT_READINESS_MAX_BLOCKING_SHARE", Type::fraction,
     &S::readiness_max_blocking_share, "0.001", "blocking failures per session under sts policies that still pass (0.001 is 0.1 %)"},
    {"dkim.mode", "TLSRPT_DKIM_MODE", Type::choice, &S::dkim_mode, "record",
     "off: no verification; record: verify and record; require: keep unauthenticated reports as rejected", 0, 0,
     "off|record|require"},
    {"dkim.max_signatures", "TLSRPT_DKIM_MAX_SIGNATURES", Type::integer, &S::dkim_max_signatures, "5",
     "DKIM signatures verified per message", 1, 50},
    {"dkim.timeout", "TLSRPT_DKIM_TIMEOUT", Type::duration, &S::dkim_timeout, "10s",
     "longest time for all key lookups of one message", 1, 300},
    {"dkim.alert_on", "TLSRPT_DKIM_ALERT_ON", Type::choice, &S::dkim_alert_on, "",
     "which reports move the alerting metrics: authenticated ones, or all", 0, 0, "authenticated|all",
     "(authenticated; all when dkim.mode is off)"},
    {"dkim.known_reporters", "TLSRPT_DKIM_KNOWN_REPORTERS", Type::list, &S::dkim_known_reporters,
     "google.com,microsoft.com,mail.ru", "signing domains named in the DKIM metrics (others are \"other\")"},
    {"dkim.trusted_authserv_ids", "TLSRPT_DKIM_TRUSTED_AUTHSERV_IDS", Type::list, &S::dkim_trusted_authserv_ids, "",
     "gateways whose Authentication-Results header is believed", 0, 0, "", "(none)"},
    {"metrics.domains", "TLSRPT_METRICS_DOMAINS", Type::list, &S::metrics_domains, "",
     "the only policy_domain label values", 0, 0, "", "(the first max_domains seen)"},
    {"metrics.organizations", "TLSRPT_METRICS_ORGANIZATIONS", Type::list, &S::metrics_organizations, "",
     "the only organization label values", 0, 0, "", "(the first max_organizations seen)"},
    {"metrics.max_domains", "TLSRPT_METRICS_MAX_DOMAINS", Type::integer, &S::metrics_max_domains, "100",
     "policy_domain label values at most (the rest are \"other\")", 1, 100000},
    {"metrics.max_organizations", "TLSRPT_METRICS_MAX_ORGANIZATIONS", Type::integer, &S::metrics_max_organizations,
     "50", "organization label values at most (the rest are \"other\")", 1, 100000},
    {"retention.prune", "TLSRPT_RETENTION_PRUNE", Type::boolean, &S::retention_prune, "true",
     "serve applies the retention settings once a day, the first time an hour after it starts (tlsrpt prune)"},
    {"retention.failure_details", "TLSRPT_RETENTION_FAILURE_DETAILS", Type::duration, &S::retention_failure_details,
     "400d", "failure-details older than this go, a whole month at a time (tlsrpt prune; serve daily)", day,
     36500 * day},
    {"retention.reports", "TLSRPT_RETENTION_REPORTS", Type::duration, &S::retention_reports, "400d",
     "reports (with their policies) whose period started longer ago go; the daily rollups stay", day, 36500 * day},
    {"retention.raw_bodies", "TLSRPT_RETENTION_RAW_BODIES", Type::duration, &S::retention_raw_bodies, "90d",
     "bodies of stored messages received longer ago are dropped; their hashes and outcomes stay", day, 36500 * day},
    {"retention.rejected", "TLSRPT_RETENTION_REJECTED", Type::duration, &S::retention_rejected, "400d",
     "rejected messages received longer ago go", day, 36500 * day},
};

using M = ImapMailbox;
const Row<ImapMailbox> imap_rows[] = {
    {"name", "", Type::string, &M::name, "", "the mailbox's name in logs and metrics", 0, 0, "", "(username@host)"},
    {"host", "", Type::string, &M::host, "", "IMAP server (required)"},
    {"port", "", Type::integer, &M::port, "0", "IMAP port", 0, 65535, "", "(993 for tls = implicit, else 143)"},
    {"tls", "", Type::choice, &M::tls, "implicit", "implicit (IMAPS), starttls, or plain (loopback only)", 0, 0,
     "implicit|starttls|plain"},
    {"username", "", Type::string, &M::username, "", "login name (required)"},
    {"password", "", Type::secret, &M::password, "", "password (or password_file)"},
    {"password_file", "", Type::path, &M::password_file, "", "file whose first line is the password"},
    {"folder", "", Type::string, &M::folder, "INBOX", "folder drained"},
    {"after", "", Type::choice, &M::after, "move", "what happens to a message once stored: move, flag (\\Seen) or delete", 0,
     0, "move|flag|delete"},
    {"processed_folder", "", Type::string, &M::processed_folder, "tlsrpt/processed", "where stored messages move"},
    {"invalid_folder", "", Type::string, &M::invalid_folder, "tlsrpt/invalid", "where messages that are not reports move"},
    {"poll_interval", "", Type::duration, &M::poll_interval, "60s", "time between polls when the server has no IDLE", 1,
     day},
    {"ca_file", "", Type::path, &M::ca_file, "", "extra trusted CAs (PEM) for this server", 0, 0, "", "(the system's CAs)"},
    {"verify", "", Type::boolean, &M::verify, "true", "verify the server's certificate and name"},
};

using D = MonitoredDomain;
const Row<MonitoredDomain> domain_rows[] = {
    reloads<MonitoredDomain>({"name", "", Type::string, &D::name, "", "the monitored domain (required)"}),
    reloads<MonitoredDomain>({"rua", "", Type::string, &D::rua, "", "the address its _smtp._tls record must list first", 0, 0, "",
     "(the first user@domain of smtp.recipients)"}),
    reloads<MonitoredDomain>({"hosted", "", Type::boolean, &D::hosted, "false",
     "tlsrpt hosts its MTA-STS policy (policy.listen) and takes it through the roll-out (tlsrpt rollout)"}),
    reloads<MonitoredDomain>({"auto_enforce_days", "", Type::integer, &D::auto_enforce_days, "0",
     "hosted: switch testing to enforce by itself once the readiness verdict has been ready this many days in a row, "
     "checked after each posture check (0: never)", 0, 365}),
    reloads<MonitoredDomain>({"auto_rollback", "", Type::boolean, &D::auto_rollback, "false",
     "hosted: go back from enforce to testing by itself, within one checks.interval, when an MX fails its check or "
     "reports show refused mail above readiness.max_blocking_share (and count it for the alert)"}),
};

// A value as parsed, before it is stored in its member.
using Value = std::variant<std::string, std::int64_t, Seconds, std::uint64_t, bool, std::vector<std::string>, double>;

template <class S>
std::string range_text(const Row<S>& r) {
  if (r.type == Type::choice) {
    std::string out;
    std::string_view rest = r.choices;
    while (!rest.empty()) {
      const auto bar = rest.find('|');
      const bool last = bar == std::string_view::npos;
      if (!out.empty()) out += last ? " or " : ", ";
      out += rest.substr(0, bar);
      rest = last ? std::string_view() : rest.substr(bar + 1);
    }
    return out;
  }
  if (r.type == Type::fraction) return "0 to 1";
  if (r.type != Type::integer && r.type != Type::duration && r.type != Type::size) return "";
  auto shown = [&](std::int64_t n) {
    return r.type == Type::duration ? format_duration(Seconds(n))
           : r.type == Type::size   ? std::to_string(n) + " bytes"
                                    : std::to_string(n);
  };
  if (r.max == unbounded) return "at least " + shown(r.min);
  return shown(r.min) + " to " + shown(r.max);
}

std::optional<std::int64_t> whole_number(std::string_view text) {
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

template <class S>
std::int64_t in_range(const Row<S>& r, std::optional<std::int64_t> n, std::string_view text, std::string_view what) {
  if (!n) throw Error("'" + std::string(text) + "' is not " + std::string(what) + " (" + range_text(r) + ")");
  if (*n < r.min || *n > r.max) throw Error("'" + std::string(text) + "' is out of range (" + range_text(r) + ")");
  return *n;
}

// A number with a unit suffix: each suffix's factor, or nullopt when the text does not parse.
std::optional<std::int64_t> with_unit(std::string_view text, std::initializer_list<std::pair<char, std::int64_t>> units) {
  std::int64_t factor = 1;
  if (!text.empty())
    for (const auto& [suffix, f] : units)
      if (std::tolower(static_cast<unsigned char>(text.back())) == suffix) {
        factor = f;
        text.remove_suffix(1);
        break;
      }
  const auto n = whole_number(text);
  if (!n || *n < 0 || *n > std::numeric_limits<std::int64_t>::max() / factor) return std::nullopt;
  return *n * factor;
}

std::vector<std::string> secret_list(std::string_view text) {
  std::vector<std::string> out;
  if (text.find_first_not_of(' ') == std::string_view::npos) return out;
  while (true) {
    const auto comma = text.find(',');
    std::string item(text.substr(0, comma));
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item.empty()) throw Error("the list has an empty entry (two commas, or one at an end)");
    out.push_back(std::move(item));
    if (comma == std::string_view::npos) return out;
    text.remove_prefix(comma + 1);
  }
}

// A value written as text (the default, an environment variable, a TOML string).
template <class S>
Value parse_text(const Row<S>& r, std::string_view text) {
  switch (r.type) {
    case Type::string:
    case Type::path:
    case Type::secret:
      return std::string(text);
    case Type::choice: {
      if (text.empty() && !r.when_empty.empty()) return std::string();
      std::string_view rest = r.choices;
      while (true) {
        const auto bar = rest.find('|');
        if (rest.substr(0, bar) == text) return std::string(text);
        if (bar == std::string_view::npos) break;
        rest.remove_prefix(bar + 1);
      }
      throw Error("'" + std::string(text) + "' is not " + range_text(r));
    }
    case Type::integer:
      if (text.empty() && !r.when_empty.empty()) return std::int64_t{0};
      return in_range(r, whole_number(text), text, "an integer");
    case Type::duration:
      return Seconds(in_range(r, with_unit(text, {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', day}}), text,
                              "a duration (seconds, or a number with s, m, h or d)"));
    case Type::size:
      return static_cast<std::uint64_t>(in_range(
          r, with_unit(text, {{'k', 1 << 10}, {'m', 1 << 20}, {'g', std::int64_t{1} << 30}}), text,
          "a size (bytes, or a number with K, M or G)"));
    case Type::boolean:
      if (text == "true" || text == "yes" || text == "on" || text == "1") return true;
      if (text == "false" || text == "no" || text == "off" || text == "0") return false;
      throw Error("'" + std::string(text) + "' is neither true nor false");
    case Type::list:
      return split_list(text);
    case Type::secret_list:
      return secret_list(text);
    case Type::fraction: {
      double d = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
      if (ec != std::errc() || end != text.data() + text.size() || text.empty() || !(d >= 0 && d <= 1))
        throw Error("'" + std::string(text) + "' is not a fraction from 0 to 1");
      return d;
    }
  }
  throw Error("unknown type");
}

// A value from the settings file: strings as above; TOML integers where a number is meant,
// booleans where a boolean is, arrays of strings where a list is.
template <class S>
Value parse_node(const Row<S>& r, const toml::node& node) {
  if (const auto* str = node.as_string()) return parse_text(r, str->get());
  if (const auto* i = node.as_integer()) {
    const std::int64_t n = i->get();
    switch (r.type) {
      case Type::integer:
      case Type::duration:
      case Type::size:
        return parse_text(r, std::to_string(n));
      case Type::fraction:
        if (n == 0 || n == 1) return static_cast<double>(n);
        throw Error(std::to_string(n) + " is not a fraction from 0 to 1");
      case Type::string:
      case Type::choice:
        return parse_text(r, std::to_string(n));
      default:
        break;
    }
  }
  if (const auto* f = node.as_floating_point(); f && r.type == Type::fraction) {
    const double d = f->get();
    if (d >= 0 && d <= 1) return d;
    throw Error(std::to_string(d) + " is not a fraction from 0 to 1");
  }
  if (const auto* b = node.as_boolean(); b && r.type == Type::boolean) return b->get();
  if (const auto* arr = node.as_array(); arr && (r.type == Type::list || r.type == Type::secret_list)) {
    std::string joined;
    for (const auto& item : *arr) {
      const auto* e = item.as_string();
      if (!e) throw Error("expected a list of strings");
      if (r.type == Type::secret_list && e->get().empty()) throw Error("the list has an empty entry");
      joined += (joined.empty() ? "" : ",") + std::string(e->get());
    }
    return parse_text(r, joined);
  }
  throw Error("expected " + std::string(r.type == Type::integer ? "an" : "a") + " " + std::string(type_name(r.type)) +
              (r.type == Type::list || r.type == Type::secret_list ? " (a list of strings, or one comma-separated string)"
                                                                   : ""));
}

// The n-th of a row's choices ("" past the last: the empty value's meaning).
std::string_view choice_at(std::string_view choices, std::size_t n) {
  for (; n > 0; --n) {
    const auto bar = choices.find('|');
    if (bar == std::string_view::npos) return {};
    choices.remove_prefix(bar + 1);
  }
  return choices.substr(0, choices.find('|'));
}

// One item of a structured list; throws Error saying what is wrong (a secret's text unshown).
template <class T>
T parse_item(const std::string& item, std::size_t index);

template <>
MonitoredDomain parse_item(const std::string& item, std::size_t) {
  const auto eq = item.find('=');
  MonitoredDomain out{item.substr(0, eq), eq == std::string::npos ? std::string() : item.substr(eq + 1)};
  if (out.name.empty()) throw Error("'" + item + "' has no domain name before '='");
  if (eq != std::string::npos && out.rua.empty()) throw Error("'" + item + "' has no address after '='");
  return out;
}

template <>
IntakeToken parse_item(const std::string& item, std::size_t index) {
  const auto colon = item.find(':');
  if (colon == 0 || colon == std::string::npos || item.size() - colon - 1 < 16)
    throw Error("entry " + std::to_string(index + 1) +
                " is not submitter:token with a token of 16 characters or more (the entry is not shown: it is secret)");
  return {item.substr(0, colon), item.substr(colon + 1)};
}

template <>
AddressBlock parse_item(const std::string& item, std::size_t) {
  const auto block = net::parse_cidr(item);
  if (!block) throw Error("'" + item + "' is not an address or address/prefix");
  return {item, *block};
}

std::string item_text(const MonitoredDomain& d) { return d.rua.empty() ? d.name : d.name + "=" + d.rua; }
std::string item_text(const IntakeToken& t) { return t.submitter + ":" + t.token; }
std::string item_text(const AddressBlock& b) { return b.text; }

template <class T>
constexpr bool is_structured_list = std::is_same_v<T, std::vector<MonitoredDomain>> ||
                                    std::is_same_v<T, std::vector<IntakeToken>> ||
                                    std::is_same_v<T, std::vector<AddressBlock>>;

template <class S>
void store(const Row<S>& r, S& target, Value v) {
  std::visit(
      [&](auto S::*member) {
        using T = std::remove_reference_t<decltype(target.*member)>;
        if constexpr (std::is_enum_v<T>) {  // a choice, already checked against the row's choices
          const std::string& text = std::get<std::string>(v);
          std::size_t n = 0;
          while (!choice_at(r.choices, n).empty() && choice_at(r.choices, n) != text) ++n;
          target.*member = static_cast<T>(n);  // past the last: the empty value
        } else if constexpr (is_structured_list<T>) {
          const auto& items = std::get<std::vector<std::string>>(v);
          T out;
          for (std::size_t i = 0; i < items.size(); ++i)
            out.push_back(parse_item<typename T::value_type>(items[i], i));
          target.*member = std::move(out);
        } else {
          target.*member = std::get<T>(std::move(v));  // a row whose type and member disagree: bad_variant_access
        }
      },
      r.field);
}

template <class S>
std::string formatted(const Row<S>& r, const S& s) {
  return std::visit(
      [&](auto S::*member) -> std::string {
        const auto& v = s.*member;
        using T = std::remove_cvref_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return v;
        } else if constexpr (std::is_enum_v<T>) {
          return std::string(choice_at(r.choices, static_cast<std::size_t>(v)));
        } else if constexpr (is_structured_list<T>) {
          std::string out;
          for (const auto& item : v) out += (out.empty() ? "" : ",") + item_text(item);
          return out;
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, Seconds>) {
          return format_duration(v);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          std::string out;
          for (const auto& item : v) out += (out.empty() ? "" : ",") + item;
          return out;
        } else if constexpr (std::is_same_v<T, double>) {
          std::ostringstream out;
          out << v;
          return out.str();
        } else if constexpr (std::is_same_v<T, std::uint64_t>) {
          for (const auto& [unit, shift] : {std::pair{'G', 30}, {'M', 20}, {'K', 10}})
            if (v != 0 && v % (std::uint64_t{1} << shift) == 0) return std::to_string(v >> shift) + unit;
          return std::to_string(v);
        } else {
          return v == 0 && !r.when_empty.empty() ? std::string() : std::to_string(v);
        }
      },
      r.field);
}

template <class S, std::size_t N>
const Row<S>* find_row(const Row<S> (&rows)[N], std::string_view key) {
  for (const auto& r : rows)
    if (r.key == key) return &r;
  return nullptr;
}

template <class S, std::size_t N>
void set_defaults(const Row<S> (&rows)[N], S& out) {
  for (const auto& r : rows) store(r, out, parse_text(r, r.default_text));
}

std::string read_secret_file(const std::string& var, const char* path) {
  std::ifstream in(path);
  if (!in) throw Error(var + "_FILE: cannot read " + path);
  std::string value;
  std::getline(in, value);
  return value;
}

// Secret environment variables taken out of the environment by hide_secret_environment():
// settings read later (a reload) still find them here.
std::map<std::string, std::string>& hidden_environment() {
  static std::map<std::string, std::string> hidden;
  return hidden;
}

const char* getenv_or_hidden(const std::string& var) {
  const auto& hidden = hidden_environment();
  if (const auto it = hidden.find(var); it != hidden.end()) return it->second.c_str();
  return std::getenv(var.c_str());
}

// The environment value of a setting, from VAR or, for secrets, VAR_FILE.
std::optional<std::string> environment(const Row<Settings>& s) {
  const std::string var(s.environment);
  if (const char* v = getenv_or_hidden(var)) return std::string(v);
  if (s.type == Type::secret || s.type == Type::secret_list)
    if (const char* f = getenv_or_hidden(var + "_FILE")) return read_secret_file(var, f);
  return std::nullopt;
}

// The [[imap]] or [[domain]] tables: each a new item from the rows' defaults.
template <class S, std::size_t N>
void load_tables(const std::string& path, std::string_view section, const toml::node& node, const Row<S> (&rows)[N],
                 std::vector<S>& out, std::string_view see) {
  const toml::array* list = node.as_array();
  const std::string name(section);
  if (!list)
    throw Error(path + ": " + name + " must be a list of tables ([[" + name + "]]), one per " +
                (section == "imap" ? "mailbox" : "monitored domain"));
  for (const auto& item : *list) {
    const toml::table* tbl = item.as_table();
    const std::string where = path + ": " + name + "[" + std::to_string(out.size()) + "]";
    if (!tbl) throw Error(where + ": expected a table ([[" + name + "]])");
    S entry;
    set_defaults(rows, entry);
    for (const auto& [key, value] : *tbl) {
      const Row<S>* r = find_row(rows, key.str());
      if (!r) throw Error(where + ": unknown key " + std::string(key.str()) + " (see " + std::string(see) + ")");
      try {
        store(*r, entry, parse_node(*r, value));
      } catch (const Error& e) {
        throw Error(where + "." + std::string(key.str()) + ": " + e.what());
      }
    }
    out.push_back(std::move(entry));
  }
}

// The settings of one TOML document over `out`; `path` names it in errors.
void load_document(const std::string& path, std::optional<std::string_view> document, Settings& out) {
  toml::table doc;
  try {
    doc = document ? toml::parse(*document, path) : toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    throw Error(msg.str());
  }
  for (const auto& [section, node] : doc) {
    if (section.str() == "imap") {
      load_tables(path, "imap", node, imap_rows, out.imap, "tlsrpt.toml(5), IMAP MAILBOXES");
      for (auto& m : out.imap)
        if (m.name.empty()) m.name = m.username + "@" + m.host;
      continue;
    }
    if (section.str() == "domain") {
      load_tables(path, "domain", node, domain_rows, out.domains, "tlsrpt.toml(5), MONITORED DOMAINS");
      for (std::size_t i = 0; i < out.domains.size(); ++i)
        if (out.domains[i].name.empty()) throw Error(path + ": domain[" + std::to_string(i) + "]: name is missing");
      continue;
    }
    const toml::table* tbl = node.as_table();
    if (!tbl) throw Error(path + ": " + std::string(section.str()) + " must be a table ([" + std::string(section.str()) + "])");
    for (const auto& [name, value] : *tbl) {
      const std::string key = std::string(section.str()) + "." + std::string(name.str());
      if (section.str() == "limits") {
        std::string text;
        if (const auto* i = value.as_integer()) text = std::to_string(i->get());
        else if (const auto* s = value.as_string()) text = s->get();
        else throw Error(path + ": " + key + ": expected a number or a string such as \"20M\"");
        if (auto err = report::set_limit(out.limits, std::string(name.str()) + "=" + text)) throw Error(path + ": " + *err);
        continue;
      }
      const Row<Settings>* r = find_row(settings, key);
      if (!r) throw Error(path + ": unknown setting " + key + " (see tlsrpt.toml(5), or tlsrpt check-config --list)");
      try {
        store(*r, out, parse_node(*r, value));
      } catch (const Error& e) {
        throw Error(path + ": " + key + ": " + e.what());
      }
    }
  }
}

}  // namespace

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::string item;
  for (char c : text) {
    if (c == ',' || c == ' ') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else {
      item += c;
    }
  }
  if (!item.empty()) out.push_back(item);
  return out;
}

std::string format_duration(Seconds s) {
  const std::int64_t n = s.count();
  for (const auto& [unit, size] : {std::pair{'d', day}, {'h', 3600}, {'m', 60}})
    if (n != 0 && n % size == 0) return std::to_string(n / size) + unit;
  return std::to_string(n) + "s";
}

Settings parse(std::string_view text, const std::string& name) {
  Settings out;
  set_defaults(settings, out);
  load_document(name, text, out);
  return out;
}

Settings load(const std::string& path) {
  Settings out;
  set_defaults(settings, out);
  if (!path.empty()) load_document(path, std::nullopt, out);
  for (const auto& r : settings)
    if (auto v = environment(r)) try {
        store(r, out, parse_text(r, *v));
      } catch (const Error& e) {
        throw Error(std::string(r.environment) + " (" + std::string(r.key) + "): " + e.what());
      }
  if (auto err = report::apply_limit_environment(out.limits)) throw Error(*err);
  return out;
}

std::string describe(const Settings& s) {
  std::string out;
  for (const auto& r : settings) {
    const std::string value = formatted(r, s);
    const bool secret = r.type == Type::secret || r.type == Type::secret_list;
    out += std::string(r.key) + " = " +
           (value.empty() ? std::string(r.when_empty) : secret ? "(set, not shown)" : value) + "\n";
  }
  for (std::size_t i = 0; i < s.imap.size(); ++i)
    for (const auto& r : imap_rows) {
      const std::string value = formatted(r, s.imap[i]);
      if (value.empty()) continue;
      out += "imap[" + std::to_string(i) + "]." + std::string(r.key) + " = " +
             (r.type == Type::secret ? "(set, not shown)" : value) + "\n";
    }
  for (std::size_t i = 0; i < s.domains.size(); ++i)
    out += "domain[" + std::to_string(i) + "] = " + s.domains[i].name +
           (s.domains[i].rua.empty() ? "" : " (rua " + s.domains[i].rua + ")") + (s.domains[i].hosted ? " (hosted)" : "") + "\n";
  for (const auto& l : report::all_limits())
    out += "limits." + std::string(l.name) + " = " + std::to_string(s.limits.*(l.field)) + "\n";
  return out;
}

bool reloadable(std::string_view key) {
  if (key == "domain") return true;  // the [[domain]] tables, as changed() names them
  if (const auto* r = find_row(settings, key)) return r->reload;
  if (key.starts_with("domain."))
    if (const auto* r = find_row(domain_rows, key.substr(7))) return r->reload;
  return false;  // [[imap]] tables and limits
}

// The texts come from the rows, so that an enum and its row cannot disagree.
std::string_view to_string(DkimMode m) { return choice_at(find_row(settings, "dkim.mode")->choices, static_cast<std::size_t>(m)); }
std::string_view to_string(AlertOn a) { return choice_at(find_row(settings, "dkim.alert_on")->choices, static_cast<std::size_t>(a)); }
std::string_view to_string(ImapTls t) { return choice_at(find_row(imap_rows, "tls")->choices, static_cast<std::size_t>(t)); }
std::string_view to_string(ImapAfter a) { return choice_at(find_row(imap_rows, "after")->choices, static_cast<std::size_t>(a)); }

std::vector<std::string> changed(const Settings& a, const Settings& b) {
  std::vector<std::string> out;
  for (const auto& r : settings)
    if (formatted(r, a) != formatted(r, b)) out.emplace_back(r.key);
  auto tables_differ = [](const auto& rows, const auto& x, const auto& y) {
    if (x.size() != y.size()) return true;
    for (std::size_t i = 0; i < x.size(); ++i)
      for (const auto& r : rows)
        if (formatted(r, x[i]) != formatted(r, y[i])) return true;
    return false;
  };
  if (tables_differ(imap_rows, a.imap, b.imap)) out.emplace_back("imap");
  if (tables_differ(domain_rows, a.domains, b.domains)) out.emplace_back("domain");
  for (const auto& l : report::all_limits())
    if (a.limits.*(l.field) != b.limits.*(l.field)) out.push_back("limits." + std::string(l.name));
  return out;
}

void hide_secret_environment() {
  for (const auto& r : settings) {
    if (r.type != Type::secret && r.type != Type::secret_list) continue;
    for (std::string var : {std::string(r.environment), std::string(r.environment) + "_FILE"})
      if (char* v = std::getenv(var.c_str())) {
        hidden_environment()[var] = v;
        // /proc/PID/environ shows the block the process started with, not `environ`: the
        // "VAR=value" text itself is overwritten there once it is out of `environ`.
        char* entry = v - var.size() - 1;
        const std::size_t size = var.size() + 1 + std::strlen(v);
        unsetenv(var.c_str());
        std::memset(entry, 0, size);
      }
  }
}

std::vector<Reference> reference() {
  std::vector<Reference> out;
  auto add = [&](const auto& rows, std::string_view prefix) {
    for (const auto& r : rows) {
      const bool secret = r.type == Type::secret || r.type == Type::secret_list;
      std::string shown = std::string(r.default_text);
      if (shown.empty() || (r.type == Type::integer && shown == "0" && !r.when_empty.empty()))
        shown = std::string(r.when_empty);
      out.push_back({std::string(prefix) + std::string(r.key), std::string(r.environment), std::string(type_name(r.type)),
                     shown, std::string(r.description), range_text(r), secret, r.reload});
    }
  };
  add(settings, "");
  add(imap_rows, "imap.");
  add(domain_rows, "domain.");
  return out;
}

}  // namespace tlsrpt::config
