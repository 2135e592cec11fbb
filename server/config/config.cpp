#include "config/config.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

namespace tlsrpt::config {
namespace {

constexpr SettingInfo settings[] = {
    {"database.url", "TLSRPT_DATABASE_URL", "(embedded)", true,
     "PostgreSQL connection string or URL; empty: the embedded cluster under data_dir"},
    {"database.data_dir", "TLSRPT_DATA_DIR", "data", false, "where the embedded PostgreSQL cluster lives"},
    {"smtp.listen", "TLSRPT_SMTP_LISTEN", "127.0.0.1:2525", false,
     "addresses the SMTP listener binds, comma-separated HOST:PORT ([v6]:PORT); port 25 in production"},
    {"smtp.recipients", "TLSRPT_SMTP_RECIPIENTS", "(none: serve refuses to start)", false,
     "addresses (user@domain) and whole domains (@domain) mail is accepted for, comma-separated"},
    {"smtp.hostname", "TLSRPT_SMTP_HOSTNAME", "(the host name)", false, "name in the greeting and replies"},
    {"smtp.tls_cert", "TLSRPT_SMTP_TLS_CERT", "(none)", false, "PEM certificate chain; STARTTLS is offered with tls_key"},
    {"smtp.tls_key", "TLSRPT_SMTP_TLS_KEY", "(none)", false, "PEM private key"},
    {"smtp.max_sessions", "TLSRPT_SMTP_MAX_SESSIONS", "100", false, "concurrent SMTP sessions in all (421 beyond)"},
    {"smtp.max_sessions_per_client", "TLSRPT_SMTP_MAX_SESSIONS_PER_CLIENT", "10", false,
     "concurrent SMTP sessions from one client address (421 beyond)"},
    {"smtp.recipients_per_message", "TLSRPT_SMTP_RECIPIENTS_PER_MESSAGE", "50", false, "RCPT commands per message (452 beyond)"},
    {"smtp.command_timeout", "TLSRPT_SMTP_COMMAND_TIMEOUT", "300", false, "seconds to wait for a command (421 after)"},
    {"smtp.data_timeout", "TLSRPT_SMTP_DATA_TIMEOUT", "600", false, "seconds to wait for message data (421 after)"},
    {"smtp.store_connections", "TLSRPT_SMTP_STORE_CONNECTIONS", "8", false,
     "database connections storing SMTP messages (each message is its own transaction)"},
};

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

std::string* field(Settings& out, std::string_view key) {
  if (key == "database.url") return &out.database_url;
  if (key == "database.data_dir") return &out.data_dir;
  if (key == "smtp.listen") return &out.smtp_listen;
  if (key == "smtp.recipients") return &out.smtp_recipients;
  if (key == "smtp.hostname") return &out.smtp_hostname;
  if (key == "smtp.tls_cert") return &out.smtp_tls_cert;
  if (key == "smtp.tls_key") return &out.smtp_tls_key;
  if (key == "smtp.max_sessions") return &out.smtp_max_sessions;
  if (key == "smtp.max_sessions_per_client") return &out.smtp_max_sessions_per_client;
  if (key == "smtp.recipients_per_message") return &out.smtp_recipients_per_message;
  if (key == "smtp.command_timeout") return &out.smtp_command_timeout;
  if (key == "smtp.data_timeout") return &out.smtp_data_timeout;
  if (key == "smtp.store_connections") return &out.smtp_store_connections;
  return nullptr;
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
      std::string* target = field(out, key);
      if (!target) throw Error(path + ": unknown setting " + key + " (see tlsrpt check-config --help)");
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

std::span<const SettingInfo> all_settings() { return settings; }

Settings load(const std::string& path) {
  Settings out;
  if (!path.empty()) load_file(path, out);
  for (const auto& s : settings)
    if (auto v = environment(s)) *field(out, s.key) = *v;
  if (auto err = report::apply_limit_environment(out.limits)) throw Error(*err);
  return out;
}

std::string describe(const Settings& s) {
  std::string out;
  out += "database.url = " + std::string(s.database_url.empty() ? "(embedded)" : "(set, not shown)") + "\n";
  out += "database.data_dir = " + s.data_dir + "\n";
  Settings copy = s;
  for (const auto& info : settings)
    if (info.key.starts_with("smtp.")) out += std::string(info.key) + " = " + *field(copy, info.key) + "\n";
  for (const auto& l : report::all_limits())
    out += "limits." + std::string(l.name) + " = " + std::to_string(s.limits.*(l.field)) + "\n";
  return out;
}

}  // namespace tlsrpt::config
