#include "cli/serve_plan.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/ip/address.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/database.hpp"
#include "cli/dkim_command.hpp"
#include "cli/monitoring.hpp"
#include "net/listen.hpp"
#include "net/tls.hpp"
#include "policy/policy.hpp"
#include "store/store.hpp"

namespace tlsrpt::cli {
namespace {

[[noreturn]] void refuse(const std::string& key, const std::string& what) { throw CLI::ValidationError(key, what); }

// A file the process must read (a key's value): refused when it cannot be opened.
void readable(const std::string& key, const std::string& path) {
  if (path.empty()) return;
  if (!std::ifstream(path)) refuse(key, "cannot read '" + path + "'");
}

// The addresses of `key` (smtp.listen, http.listen): the command line's, else the setting's,
// each HOST:PORT with a numeric address and a port of 1 to 65535.
std::vector<std::string> listen_list(const char* key, const std::vector<std::string>& flags,
                                     const std::vector<std::string>& setting) {
  std::vector<std::string> out = setting;
  if (!flags.empty()) {
    out.clear();
    for (const auto& f : flags)
      for (auto& a : config::split_list(f)) out.push_back(std::move(a));
  }
  for (const auto& a : out) try {
      net::parse_endpoint(a);
    } catch (const std::runtime_error& e) {
      refuse(key, "'" + a + "' is not HOST:PORT with a numeric address and a port of 1 to 65535 (" + e.what() + ")");
    }
  return out;
}

// A certificate and key pair (comma-separated lists): both or neither, and they load and match.
void tls_pair(const char* cert_key, const char* key_key, const std::string& cert, const std::string& key, bool tls12) {
  if (cert.empty() != key.empty())
    refuse(cert.empty() ? cert_key : key_key, std::string("set both ") + cert_key + " and " + key_key + ", or neither");
  if (cert.empty()) return;
  for (const auto& f : config::split_list(cert)) readable(cert_key, f);
  for (const auto& f : config::split_list(key)) readable(key_key, f);
  try {
    net::server_tls_context(cert, key, tls12);
  } catch (const std::runtime_error& e) {
    refuse(cert_key, e.what());
  }
}

// A host name as SMTP's greeting writes it: letters, digits, '-', '.', or an address literal.
bool host_name(const std::string& h) {
  if (h.empty() || h.size() > 255) return false;
  if (h.front() == '[' && h.back() == ']') return true;
  for (const char c : h)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return false;
  return true;
}

smtp_server::Settings smtp_settings(const config::Settings& s, const CommandLine& o) {
  smtp_server::Settings out;
  out.listen = listen_list("smtp.listen", o.smtp_listen, s.smtp_listen);
  if (out.listen.empty()) return out;  // no SMTP listener
  out.protocol.recipients = o.smtp_recipients.empty() ? s.smtp_recipients : config::split_list(o.smtp_recipients);
  if (out.protocol.recipients.empty())
    refuse("smtp.recipients",
           "no recipients configured: set smtp.recipients, TLSRPT_SMTP_RECIPIENTS or --smtp-recipients "
           "(addresses and @domains the rua points at)");
  for (const auto& r : out.protocol.recipients)
    if (r.find('@') == std::string::npos || r.back() == '@')
      refuse("smtp.recipients", "'" + r + "' is neither user@domain nor @domain");
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "localhost");
  out.protocol.hostname = s.smtp_hostname.empty() ? host : s.smtp_hostname;
  if (!s.smtp_hostname.empty() && !host_name(s.smtp_hostname))
    refuse("smtp.hostname", "'" + s.smtp_hostname + "' is not a host name (letters, digits, '-' and '.') or [address]");
  out.protocol.limits.message_size = s.limits.message_size;
  out.protocol.limits.recipients = static_cast<std::size_t>(s.smtp_recipients_per_message);
  out.tls_cert = s.smtp_tls_cert;
  out.tls_key = s.smtp_tls_key;
  tls_pair("smtp.tls_cert", "smtp.tls_key", out.tls_cert, out.tls_key, false);
  out.max_sessions = static_cast<std::size_t>(s.smtp_max_sessions);
  out.max_sessions_per_client = static_cast<std::size_t>(s.smtp_max_sessions_per_client);
  out.command_timeout = s.smtp_command_timeout;
  out.data_timeout = s.smtp_data_timeout;
  out.store_threads = static_cast<unsigned>(s.smtp_store_connections);
  out.messages_per_minute = static_cast<double>(s.smtp_messages_per_minute);
  out.message_burst = static_cast<std::size_t>(s.smtp_message_burst);
  return out;
}

http_server::Settings http_settings(const config::Settings& s, const CommandLine& o) {
  http_server::Settings out;
  out.listen = listen_list("http.listen", o.http_listen, s.http_listen);
  out.tls_cert = s.http_tls_cert;
  out.tls_key = s.http_tls_key;
  if (!out.listen.empty()) tls_pair("http.tls_cert", "http.tls_key", out.tls_cert, out.tls_key, true);
  out.max_connections = static_cast<std::size_t>(s.http_max_connections);
  out.max_connections_per_client = static_cast<std::size_t>(s.http_max_connections_per_client);
  out.worker_threads = static_cast<unsigned>(s.http_workers);
  out.worker_requests_per_client = static_cast<std::size_t>(s.http_workers_per_client);
  out.body_limit = s.limits.message_size;
  out.buffer_memory = s.http_buffer_memory;
  if (out.buffer_memory < out.body_limit)
    refuse("http.buffer_memory", "'" + std::to_string(out.buffer_memory) + "' is less than limits.message_size (" +
                                     std::to_string(out.body_limit) + " bytes), the largest body");
  out.read_timeout = s.http_request_timeout;
  out.idle_timeout = s.http_idle_timeout;
  for (const auto& t : s.http_trusted_proxies) out.trusted_proxies.push_back(t.block);
  return out;
}

api::Settings api_settings(const config::Settings& s, const http_server::Settings& http) {
  api::Settings out;
  out.read_tokens = s.http_read_tokens;
  out.admin_tokens = s.http_admin_tokens;
  for (const auto& [key, list] : {std::pair{"http.read_tokens", &out.read_tokens}, {"http.admin_tokens", &out.admin_tokens}})
    for (std::size_t i = 0; i < list->size(); ++i)
      if ((*list)[i].size() < 16)
        refuse(key, "token " + std::to_string(i + 1) +
                        " is shorter than 16 characters (not shown: it is secret; make one with openssl rand -hex 24)");
  for (const auto& t : s.http_intake_tokens) out.intake_tokens.emplace_back(t.submitter, t.token);
  out.protect_metrics = s.http_protect_metrics;
  out.intake_per_minute = static_cast<double>(s.http_intake_per_minute);
  out.intake_burst = static_cast<std::size_t>(s.http_intake_burst);
  out.body_limit = http.body_limit;
  out.cache = s.http_cache_seconds;
  out.readiness = readiness_thresholds(s);
  out.readiness_days = readiness_days(s);
  out.query_timeout = s.http_query_timeout;
  if (out.read_tokens.empty() && out.admin_tokens.empty() && !net::all_loopback(http.listen))
    refuse("http.listen", "the API has no tokens and would be open on a non-loopback address; set http.read_tokens "
                          "and http.admin_tokens (or TLSRPT_HTTP_*_TOKENS[_FILE]), or listen on 127.0.0.1 / [::1]");
  return out;
}

std::vector<imap_poller::Mailbox> imap_mailboxes(const config::Settings& s) {
  std::vector<imap_poller::Mailbox> out;
  for (std::size_t i = 0; i < s.imap.size(); ++i) {
    const config::ImapMailbox& c = s.imap[i];
    const std::string key = "imap[" + std::to_string(i) + "]";
    imap_poller::Mailbox m;
    m.name = c.name;
    m.host = c.host;
    if (m.host.empty()) refuse(key + ".host", "missing");
    using Tls = imap_poller::Mailbox::Tls;
    m.tls = c.tls == config::ImapTls::implicit ? Tls::implicit : c.tls == config::ImapTls::starttls ? Tls::starttls : Tls::plain;
    if (m.tls == Tls::plain) {
      boost::system::error_code ec;
      const auto address = boost::asio::ip::make_address(m.host, ec);
      if (ec || !address.is_loopback())
        refuse(key + ".tls", "plain (no TLS) is allowed only to a loopback address such as 127.0.0.1, not '" + m.host + "'");
    }
    m.port = static_cast<unsigned short>(c.port != 0 ? c.port : m.tls == Tls::implicit ? 993 : 143);
    m.username = c.username;
    if (m.username.empty()) refuse(key + ".username", "missing");
    m.password = c.password;
    if (!c.password_file.empty()) {
      std::ifstream in(c.password_file);
      if (!in) refuse(key + ".password_file", "cannot read '" + c.password_file + "'");
      std::getline(in, m.password);
    }
    if (m.password.empty()) refuse(key + ".password", "set password or password_file");
    m.folder = c.folder;
    using After = imap_poller::Mailbox::After;
    m.after = c.after == config::ImapAfter::move ? After::move : c.after == config::ImapAfter::flag ? After::flag : After::remove;
    m.processed_folder = c.processed_folder;
    m.invalid_folder = c.invalid_folder;
    for (const auto& [name, f] : {std::pair{".folder", &m.folder}, {".processed_folder", &m.processed_folder},
                                  {".invalid_folder", &m.invalid_folder}})
      for (char ch : *f)
        if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e || ch == '"' || ch == '\\')
          refuse(key + name, "'" + *f + "' is not printable ASCII without quotes or backslashes (a folder name)");
    m.poll_interval = c.poll_interval;
    m.ca_file = c.ca_file;
    readable(key + ".ca_file", m.ca_file);
    m.verify = c.verify;
    out.push_back(std::move(m));
  }
  return out;
}

// Each entry a domain name (labels and reporters are matched against domains).
void domain_names(const char* key, const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (!policy::normalize_domain(n)) refuse(key, "'" + n + "' is not a domain name");
}

metrics::LabelSettings label_settings(const config::Settings& s) {
  domain_names("metrics.domains", s.metrics_domains);
  domain_names("dkim.known_reporters", s.dkim_known_reporters);
  metrics::LabelSettings out;
  out.domains = s.metrics_domains;
  out.organizations = s.metrics_organizations;
  out.max_domains = static_cast<std::size_t>(s.metrics_max_domains);
  out.max_organizations = static_cast<std::size_t>(s.metrics_max_organizations);
  out.known_reporters = s.dkim_known_reporters;
  return out;
}

// dns.server as the resolver takes it: ADDRESS, ADDRESS:PORT, [IPv6]:PORT or ADDRESS@PORT (the
// same forms as dns.update_server).
void dns_server(const std::string& text) {
  if (text.empty()) return;
  try {
    dns::parse_server(text);
  } catch (const std::runtime_error& e) {
    refuse("dns.server", "'" + text + "' is not ADDRESS, ADDRESS:PORT or [IPv6]:PORT with a numeric address and a port of "
                         "1 to 65535 (" + e.what() + ")");
  }
}

// http.external_url: http(s)://host[:port][/path], nothing a link could not hold.
std::string external_url(std::string url) {
  if (url.empty()) return url;
  const auto scheme = url.find("://");
  const bool http = url.starts_with("https://") || url.starts_with("http://");
  const auto host_end = http ? url.find('/', scheme + 3) : std::string::npos;
  const std::string host = http ? url.substr(scheme + 3, host_end == std::string::npos ? std::string::npos : host_end - scheme - 3) : "";
  if (!http || host.empty() || url.find_first_of("?#\"'<> \t\r\n") != std::string::npos)
    refuse("http.external_url", "'" + url + "' is not an http:// or https:// URL with a host and no query or fragment "
                                "(e.g. https://tlsrpt.example.net)");
  while (url.back() == '/') url.pop_back();
  return url;
}

// A directory a key names (whether serve's user may read it shows at run time, in the log).
void directory(const std::string& key, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) refuse(key, "'" + path + "' does not exist or is not a directory");
}

Hosting hosting(const config::Settings& s, const http_server::Settings& http) {
  Hosting out;
  out.domains = hosted_domains(s);
  out.rollout = rollout_settings(s);
  if (s.rollout_testing_max_age > s.rollout_enforce_max_age)
    refuse("rollout.testing_max_age", "'" + config::format_duration(s.rollout_testing_max_age) +
                                          "' is longer than rollout.enforce_max_age (" +
                                          config::format_duration(s.rollout_enforce_max_age) + ")");
  // Both listeners have the HTTP server's bounds (connections, per client, timeouts); they read
  // no bodies and answer from memory.
  for (auto* l : {&out.listener, &out.acme}) {
    *l = http;
    l->tls_cert.clear();
    l->tls_key.clear();
    l->body_limit = 0;
    l->worker_threads = 1;
    l->trusted_proxies.clear();
  }
  out.listener.listen = listen_list("policy.listen", {}, s.policy_listen);
  out.acme.listen = listen_list("policy.acme_listen", {}, s.policy_acme_listen);
  out.cert_dir = s.policy_cert_dir;
  out.acme_webroot = s.policy_acme_webroot;
  if (!out.listener.listen.empty()) {
    if (out.cert_dir.empty()) refuse("policy.cert_dir", "is required with policy.listen (the policy hosts' certificates)");
    directory("policy.cert_dir", out.cert_dir);
  }
  if (!out.acme.listen.empty()) {
    if (out.acme_webroot.empty()) refuse("policy.acme_webroot", "is required with policy.acme_listen (where the ACME client writes)");
    directory("policy.acme_webroot", out.acme_webroot);
  }
  if (!s.dns_update_server.empty()) {
    try {
      out.update_server = dns::parse_server(s.dns_update_server);
    } catch (const std::runtime_error& e) {
      refuse("dns.update_server", "'" + s.dns_update_server + "': " + e.what());
    }
    if (s.dns_tsig_key_file.empty()) refuse("dns.tsig_key_file", "is required with dns.update_server (updates are TSIG-signed)");
    try {
      out.key = dns::read_tsig_key(s.dns_tsig_key_file);
    } catch (const std::runtime_error& e) {
      refuse("dns.tsig_key_file", e.what());
    }
  } else if (!s.dns_tsig_key_file.empty()) {
    refuse("dns.tsig_key_file", "is set, but dns.update_server is not: no update would be sent");
  }
  return out;
}

}  // namespace

Plan plan(const config::Settings& s, const CommandLine& o) {
  Plan p;
  p.log_level = s.log_level;
  p.log_format = s.log_format;
  const std::string& url = o.database_url.empty() ? s.database_url : o.database_url;
  const std::string& data_dir = o.data_dir.empty() ? s.data_dir : o.data_dir;
  for (const auto& [key, value] : {std::pair{"database.url", &url}, {"database.read_url", &s.database_read_url}})
    if (!value->empty())
      if (const auto error = store::connection_string_error(*value))
        refuse(key, "not a PostgreSQL connection string (" + *error + "; the value is not shown: it may hold a password)");
  if (url.empty() && std::filesystem::exists(data_dir) && !std::filesystem::is_directory(data_dir))
    refuse("database.data_dir", "'" + data_dir + "' is not a directory (the embedded cluster lives there)");
  if (!s.server_user.empty() && !getpwnam(s.server_user.c_str())) refuse("server.user", "no user '" + s.server_user + "'");
  try {
    p.run_as = plan_run_as(s.server_user, s.server_allow_root || o.allow_root);
  } catch (const std::runtime_error& e) {
    refuse("server.user", e.what());
  }
  struct stat dir {};
  if (p.run_as && url.empty() && ::stat(data_dir.c_str(), &dir) == 0 && dir.st_uid != p.run_as->uid && dir.st_uid != 0)
    refuse("database.data_dir", "'" + data_dir + "' belongs to another user than " + p.run_as->user + " (uid " +
                                    std::to_string(dir.st_uid) + "); give it to " + p.run_as->user);
  p.smtp = smtp_settings(s, o);
  p.http = http_settings(s, o);
  p.api = api_settings(s, p.http);
  p.mailboxes = imap_mailboxes(s);
  p.monitored = monitored_domains(s);
  for (const auto& m : p.monitored) p.api.monitored.push_back(m.name);
  if (s.readiness_min_days > s.readiness_days)
    refuse("readiness.min_days", "'" + std::to_string(s.readiness_min_days) + "' is more than readiness.days (" +
                                     std::to_string(s.readiness_days) + "): no verdict could ever be given");
  p.dkim_mode = dkim_mode(s);
  p.dkim = dkim_settings(s);
  p.alert_on_authenticated = dkim_alert_on_authenticated(s);
  dns_server(s.dns_server);
  if (p.dkim_mode != dkim::Mode::off || !p.monitored.empty()) readable("dns.trust_anchor_file", s.dns_trust_anchor_file);
  if (!p.monitored.empty()) readable("checks.ca_file", s.checks_ca_file);
  p.retention = retention(s);
  p.prune = s.retention_prune;
  p.labels = label_settings(s);
  p.external_url = external_url(s.http_external_url);
  p.hosting = hosting(s, p.http);
  p.api.hosted = p.hosting.domains;
  p.api.rollout = p.hosting.rollout;
  if (p.smtp.listen.empty() && p.http.listen.empty() && p.mailboxes.empty() && p.monitored.empty() &&
      p.hosting.listener.listen.empty())
    throw CLI::ValidationError(
        "no smtp.listen, no http.listen, no [[imap]] mailbox and no monitored domain: serve has nothing to do");
  return p;
}

std::string describe(const Plan& p) {
  auto list = [](const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
    return out;
  };
  std::string out;
  if (p.run_as) out += "# serve runs as " + p.run_as->user + "\n";
  if (!p.smtp.listen.empty())
    out += "# serve: SMTP on " + list(p.smtp.listen) + " for " + list(p.smtp.protocol.recipients) +
           (p.smtp.tls_cert.empty() ? "" : ", STARTTLS offered") + "\n";
  if (!p.http.listen.empty())
    out += "# serve: " + std::string(p.http.tls_cert.empty() ? "HTTP" : "HTTPS") + " on " + list(p.http.listen) + ", API " +
           (p.api.read_tokens.empty() && p.api.admin_tokens.empty() ? "open (loopback only)" : "behind tokens") +
           ", intake " + (p.api.intake_tokens.empty() ? "open" : "behind submitter tokens") + "\n";
  for (const auto& m : p.mailboxes) out += "# serve: IMAP mailbox " + m.name + "\n";
  if (!p.monitored.empty()) out += "# serve: posture checks of " + std::to_string(p.monitored.size()) + " domains\n";
  if (!p.hosting.listener.listen.empty())
    out += "# serve: MTA-STS policies of " + std::to_string(p.hosting.domains.size()) + " hosted domains on " +
           list(p.hosting.listener.listen) + " (certificates from " + p.hosting.cert_dir + ")\n";
  if (!p.hosting.acme.listen.empty())
    out += "# serve: ACME HTTP-01 challenges on " + list(p.hosting.acme.listen) + " from " + p.hosting.acme_webroot + "\n";
  if (p.hosting.update_server)
    out += "# serve: _mta-sts records updated at " + p.hosting.update_server->address + ":" +
           std::to_string(p.hosting.update_server->port) + " with the TSIG key " + p.hosting.key.name + "\n";
  out += "# serve: dkim " + std::string(dkim::to_string(p.dkim_mode)) + ", alerts on " +
         (p.alert_on_authenticated ? "authenticated" : "all") + " reports\n";
  return out;
}

}  // namespace tlsrpt::cli
