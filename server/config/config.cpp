#include "config/config.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

namespace tlsrpt::config {
namespace {

// One row per setting (limits have their own table in report/limits.hpp): the key in the file,
// the environment variable (secrets also read VARIABLE_FILE), the member it sets, and what
// check-config shows while it is empty. Defaults live in the Settings struct.
struct SettingInfo {
  std::string_view key;
  std::string_view environment;
  std::string Settings::*field;
  bool secret = false;
  std::string_view when_empty = "";
};

constexpr SettingInfo settings[] = {
    {"database.url", "TLSRPT_DATABASE_URL", &Settings::database_url, true, "(embedded)"},
    {"database.data_dir", "TLSRPT_DATA_DIR", &Settings::data_dir},
    {"server.user", "TLSRPT_SERVER_USER", &Settings::server_user, false, "(tlsrpt when started as root and it exists)"},
    {"server.allow_root", "TLSRPT_SERVER_ALLOW_ROOT", &Settings::server_allow_root},
    {"smtp.listen", "TLSRPT_SMTP_LISTEN", &Settings::smtp_listen},
    {"smtp.recipients", "TLSRPT_SMTP_RECIPIENTS", &Settings::smtp_recipients},
    {"smtp.hostname", "TLSRPT_SMTP_HOSTNAME", &Settings::smtp_hostname},
    {"smtp.tls_cert", "TLSRPT_SMTP_TLS_CERT", &Settings::smtp_tls_cert},
    {"smtp.tls_key", "TLSRPT_SMTP_TLS_KEY", &Settings::smtp_tls_key},
    {"smtp.max_sessions", "TLSRPT_SMTP_MAX_SESSIONS", &Settings::smtp_max_sessions},
    {"smtp.max_sessions_per_client", "TLSRPT_SMTP_MAX_SESSIONS_PER_CLIENT", &Settings::smtp_max_sessions_per_client},
    {"smtp.recipients_per_message", "TLSRPT_SMTP_RECIPIENTS_PER_MESSAGE", &Settings::smtp_recipients_per_message},
    {"smtp.command_timeout", "TLSRPT_SMTP_COMMAND_TIMEOUT", &Settings::smtp_command_timeout},
    {"smtp.data_timeout", "TLSRPT_SMTP_DATA_TIMEOUT", &Settings::smtp_data_timeout},
    {"smtp.store_connections", "TLSRPT_SMTP_STORE_CONNECTIONS", &Settings::smtp_store_connections},
    {"smtp.messages_per_minute", "TLSRPT_SMTP_MESSAGES_PER_MINUTE", &Settings::smtp_messages_per_minute},
    {"smtp.message_burst", "TLSRPT_SMTP_MESSAGE_BURST", &Settings::smtp_message_burst},
    {"http.listen", "TLSRPT_HTTP_LISTEN", &Settings::http_listen, false, "(no HTTP server)"},
    {"http.tls_cert", "TLSRPT_HTTP_TLS_CERT", &Settings::http_tls_cert},
    {"http.tls_key", "TLSRPT_HTTP_TLS_KEY", &Settings::http_tls_key},
    {"http.read_tokens", "TLSRPT_HTTP_READ_TOKENS", &Settings::http_read_tokens, true, "(none)"},
    {"http.admin_tokens", "TLSRPT_HTTP_ADMIN_TOKENS", &Settings::http_admin_tokens, true, "(none)"},
    {"http.intake_tokens", "TLSRPT_HTTP_INTAKE_TOKENS", &Settings::http_intake_tokens, true, "(none: POST /tlsrpt is open)"},
    {"http.protect_metrics", "TLSRPT_HTTP_PROTECT_METRICS", &Settings::http_protect_metrics},
    {"http.intake_per_minute", "TLSRPT_HTTP_INTAKE_PER_MINUTE", &Settings::http_intake_per_minute},
    {"http.intake_burst", "TLSRPT_HTTP_INTAKE_BURST", &Settings::http_intake_burst},
    {"http.max_connections", "TLSRPT_HTTP_MAX_CONNECTIONS", &Settings::http_max_connections},
    {"http.max_connections_per_client", "TLSRPT_HTTP_MAX_CONNECTIONS_PER_CLIENT", &Settings::http_max_connections_per_client},
    {"http.buffer_memory", "TLSRPT_HTTP_BUFFER_MEMORY", &Settings::http_buffer_memory},
    {"http.request_timeout", "TLSRPT_HTTP_REQUEST_TIMEOUT", &Settings::http_request_timeout},
    {"http.idle_timeout", "TLSRPT_HTTP_IDLE_TIMEOUT", &Settings::http_idle_timeout},
    {"http.trusted_proxies", "TLSRPT_HTTP_TRUSTED_PROXIES", &Settings::http_trusted_proxies, false, "(none)"},
    {"http.workers", "TLSRPT_HTTP_WORKERS", &Settings::http_workers},
    {"http.cache_seconds", "TLSRPT_HTTP_CACHE_SECONDS", &Settings::http_cache_seconds},
    {"quota.rejected_per_client", "TLSRPT_QUOTA_REJECTED_PER_CLIENT", &Settings::quota_rejected_per_client},
    {"quota.rejected_total", "TLSRPT_QUOTA_REJECTED_TOTAL", &Settings::quota_rejected_total},
    {"dns.server", "TLSRPT_DNS_SERVER", &Settings::dns_server, false, "(resolve from the root)"},
    {"dns.trust_anchor_file", "TLSRPT_DNS_TRUST_ANCHOR_FILE", &Settings::dns_trust_anchor_file},
    {"dns.timeout", "TLSRPT_DNS_TIMEOUT", &Settings::dns_timeout},
    {"checks.ca_file", "TLSRPT_CHECKS_CA_FILE", &Settings::checks_ca_file, false, "(the system's CAs only)"},
    {"checks.smtp_port", "TLSRPT_CHECKS_SMTP_PORT", &Settings::checks_smtp_port},
    {"checks.https_port", "TLSRPT_CHECKS_HTTPS_PORT", &Settings::checks_https_port},
    {"checks.timeout", "TLSRPT_CHECKS_TIMEOUT", &Settings::checks_timeout},
    {"checks.expiry_warning_days", "TLSRPT_CHECKS_EXPIRY_WARNING_DAYS", &Settings::checks_expiry_warning_days},
    {"readiness.days", "TLSRPT_READINESS_DAYS", &Settings::readiness_days},
    {"readiness.min_days", "TLSRPT_READINESS_MIN_DAYS", &Settings::readiness_min_days},
    {"readiness.min_reporters", "TLSRPT_READINESS_MIN_REPORTERS", &Settings::readiness_min_reporters},
    {"readiness.max_blocking_share", "TLSRPT_READINESS_MAX_BLOCKING_SHARE", &Settings::readiness_max_blocking_share},
    {"dkim.mode", "TLSRPT_DKIM_MODE", &Settings::dkim_mode},
    {"dkim.max_signatures", "TLSRPT_DKIM_MAX_SIGNATURES", &Settings::dkim_max_signatures},
    {"dkim.timeout", "TLSRPT_DKIM_TIMEOUT", &Settings::dkim_timeout},
    {"dkim.alert_on", "TLSRPT_DKIM_ALERT_ON", &Settings::dkim_alert_on, false, "(authenticated; all when dkim.mode is off)"},
    {"dkim.known_reporters", "TLSRPT_DKIM_KNOWN_REPORTERS", &Settings::dkim_known_reporters},
    {"dkim.trusted_authserv_ids", "TLSRPT_DKIM_TRUSTED_AUTHSERV_IDS", &Settings::dkim_trusted_authserv_ids, false, "(none)"},
    {"checks.domains", "TLSRPT_CHECKS_DOMAINS", &Settings::checks_domains, false, "(none besides [[domain]] tables)"},
    {"checks.interval", "TLSRPT_CHECKS_INTERVAL", &Settings::checks_interval},
    {"checks.concurrency", "TLSRPT_CHECKS_CONCURRENCY", &Settings::checks_concurrency},
    {"metrics.domains", "TLSRPT_METRICS_DOMAINS", &Settings::metrics_domains, false, "(the first max_domains seen)"},
    {"metrics.organizations", "TLSRPT_METRICS_ORGANIZATIONS", &Settings::metrics_organizations, false,
     "(the first max_organizations seen)"},
    {"metrics.max_domains", "TLSRPT_METRICS_MAX_DOMAINS", &Settings::metrics_max_domains},
    {"metrics.max_organizations", "TLSRPT_METRICS_MAX_ORGANIZATIONS", &Settings::metrics_max_organizations},
};

const SettingInfo* find_setting(std::string_view key) {
  for (const auto& s : settings)
    if (s.key == key) return &s;
  return nullptr;
}

std::string read_secret_file(const std::string& var, const char* path) {
  std::ifstream in(path);
  if (!in) throw Error(var + "_FILE: cannot read " + path);
  std::string value;
  std::getline(in, value);
  return value;
}

// The environment value of a setting, from VAR or, for secrets, VAR_FILE.
std::optional<std::string> environment(const SettingInfo& s) {
  const std::string var(s.environment);
  if (const char* v = std::getenv(var.c_str())) return std::string(v);
  if (s.secret)
    if (const char* f = std::getenv((var + "_FILE").c_str())) return read_secret_file(var, f);
  return std::nullopt;
}

// The keys of an [[imap]] table and the members they set.
constexpr std::pair<std::string_view, std::string ImapMailbox::*> imap_keys[] = {
    {"name", &ImapMailbox::name},
    {"host", &ImapMailbox::host},
    {"port", &ImapMailbox::port},
    {"tls", &ImapMailbox::tls},
    {"username", &ImapMailbox::username},
    {"password", &ImapMailbox::password},
    {"password_file", &ImapMailbox::password_file},
    {"folder", &ImapMailbox::folder},
    {"after", &ImapMailbox::after},
    {"processed_folder", &ImapMailbox::processed_folder},
    {"invalid_folder", &ImapMailbox::invalid_folder},
    {"poll_interval", &ImapMailbox::poll_interval},
    {"ca_file", &ImapMailbox::ca_file},
    {"verify", &ImapMailbox::verify},
};

void load_imap(const std::string& path, const toml::node& node, Settings& out) {
  const toml::array* list = node.as_array();
  if (!list) throw Error(path + ": imap must be a list of tables ([[imap]]), one per mailbox");
  for (const auto& item : *list) {
    const toml::table* tbl = item.as_table();
    if (!tbl) throw Error(path + ": each imap entry must be a table ([[imap]])");
    ImapMailbox m;
    const std::string where = path + ": imap[" + std::to_string(out.imap.size()) + "]";
    for (const auto& [name, value] : *tbl) {
      std::string ImapMailbox::*field = nullptr;
      for (const auto& [key, member] : imap_keys)
        if (key == name.str()) field = member;
      if (!field) throw Error(where + ": unknown key " + std::string(name.str()) + " (see README, IMAP)");
      if (const auto* str = value.as_string()) m.*field = str->get();
      else if (const auto* i = value.as_integer()) m.*field = std::to_string(i->get());
      else if (const auto* b = value.as_boolean()) m.*field = b->get() ? "true" : "false";
      else throw Error(where + "." + std::string(name.str()) + ": expected a string, number or boolean");
    }
    if (m.name.empty()) m.name = m.username + "@" + m.host;
    out.imap.push_back(std::move(m));
  }
}

void load_domains(const std::string& path, const toml::node& node, Settings& out) {
  const toml::array* list = node.as_array();
  if (!list) throw Error(path + ": domain must be a list of tables ([[domain]]), one per monitored domain");
  for (const auto& item : *list) {
    const toml::table* tbl = item.as_table();
    const std::string where = path + ": domain[" + std::to_string(out.domains.size()) + "]";
    if (!tbl) throw Error(where + ": expected a table ([[domain]])");
    MonitoredDomain d;
    for (const auto& [name, value] : *tbl) {
      const auto* str = value.as_string();
      if (!str) throw Error(where + "." + std::string(name.str()) + ": expected a string");
      if (name.str() == "name") d.name = str->get();
      else if (name.str() == "rua") d.rua = str->get();
      else throw Error(where + ": unknown key " + std::string(name.str()) + " (name, rua; see README, Monitored domains)");
    }
    if (d.name.empty()) throw Error(where + ": name is missing");
    out.domains.push_back(std::move(d));
  }
}

void load_file(const std::string& path, Settings& out) {
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    throw Error(msg.str());
  }
  for (const auto& [section, node] : doc) {
    if (section.str() == "imap") {
      load_imap(path, node, out);
      continue;
    }
    if (section.str() == "domain") {
      load_domains(path, node, out);
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
      const SettingInfo* info = find_setting(key);
      if (!info) throw Error(path + ": unknown setting " + key + " (see README, Settings)");
      std::string* target = &(out.*(info->field));
      if (const auto* str = value.as_string()) {
        *target = str->get();
      } else if (const auto* i = value.as_integer()) {
        *target = std::to_string(i->get());
      } else if (const auto* arr = value.as_array()) {  // a list: joined with commas
        target->clear();
        for (const auto& item : *arr) {
          const auto* e = item.as_string();
          if (!e) throw Error(path + ": " + key + ": expected a list of strings");
          *target += (target->empty() ? "" : ",") + std::string(e->get());
        }
      } else {
        throw Error(path + ": " + key + ": expected a string");
      }
    }
  }
}

}  // namespace

Settings load(const std::string& path) {
  Settings out;
  if (!path.empty()) load_file(path, out);
  for (const auto& s : settings)
    if (auto v = environment(s)) out.*(s.field) = *v;
  if (auto err = report::apply_limit_environment(out.limits)) throw Error(*err);
  return out;
}

std::string describe(const Settings& s) {
  std::string out;
  for (const auto& info : settings) {
    const std::string& value = s.*(info.field);
    out += std::string(info.key) + " = ";
    out += value.empty() ? std::string(info.when_empty) : info.secret ? "(set, not shown)" : value;
    out += "\n";
  }
  for (std::size_t i = 0; i < s.imap.size(); ++i)
    for (const auto& [key, member] : imap_keys) {
      const std::string& value = s.imap[i].*member;
      if (value.empty()) continue;
      out += "imap[" + std::to_string(i) + "]." + std::string(key) + " = " + (key == "password" ? "(set, not shown)" : value) + "\n";
    }
  for (std::size_t i = 0; i < s.domains.size(); ++i)
    out += "domain[" + std::to_string(i) + "] = " + s.domains[i].name +
           (s.domains[i].rua.empty() ? "" : " (rua " + s.domains[i].rua + ")") + "\n";
  for (const auto& l : report::all_limits())
    out += "limits." + std::string(l.name) + " = " + std::to_string(s.limits.*(l.field)) + "\n";
  return out;
}

}  // namespace tlsrpt::config
