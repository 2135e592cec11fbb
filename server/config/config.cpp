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
      const auto* s = value.as_string();
      if (!s) throw Error(path + ": " + key + ": expected a string");
      *target = s->get();
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
  for (const auto& l : report::all_limits())
    out += "limits." + std::string(l.name) + " = " + std::to_string(s.limits.*(l.field)) + "\n";
  return out;
}

}  // namespace tlsrpt::config
