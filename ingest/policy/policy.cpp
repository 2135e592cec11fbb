#include "policy/policy.hpp"

#include <algorithm>
#include <cctype>

#include "unpack/unpack.hpp"

namespace tlsrpt::policy {
namespace {

bool wsp(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && wsp(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// RFC 8461's sts-ext-name and RFC 8460's tlsrpt-ext-name: a letter or digit, then at most 31 of
// letters, digits, "_", "-" and ".".
bool ext_name(std::string_view s) {
  if (s.empty() || s.size() > 32 || !alnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return alnum(c) || c == '_' || c == '-' || c == '.'; });
}

// sts-ext-value / tlsrpt-ext-value: printable ASCII but "=", ";" and space.
bool ext_value(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f && c != '=' && c != ';'; });
}

// The ";"-separated fields of a TXT record after its version, as (name, value) pairs; nullopt
// when a field is not name=value.
std::optional<std::vector<std::pair<std::string_view, std::string_view>>> fields(std::string_view rest) {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  while (!rest.empty()) {
    const auto semi = rest.find(';');
    const std::string_view field = trim(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    if (field.empty()) {
      if (!trim(rest).empty()) return std::nullopt;  // ";;" inside the record
      break;                                          // a final delimiter
    }
    const auto eq = field.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    out.emplace_back(field.substr(0, eq), field.substr(eq + 1));
  }
  return out;
}

// Records starting with `version` (then ";", whitespace or the end); the rest of each.
std::vector<std::string_view> versioned(const std::vector<std::string>& records, std::string_view version) {
  std::vector<std::string_view> out;
  for (const auto& r : records) {
    const std::string_view s(r);
    if (!s.starts_with(version)) continue;
    const std::string_view rest = s.substr(version.size());
    if (!rest.empty() && rest[0] != ';' && !wsp(rest[0])) continue;  // "v=STSv10"
    std::string_view fields = trim(rest);
    if (fields.starts_with(';')) fields.remove_prefix(1);  // the delimiter after the version
    else if (!fields.empty()) fields = "=";                 // no delimiter: a field that cannot parse
    out.push_back(fields);
  }
  return out;
}

// A host name of letters, digits and hyphens (A-labels for IDNs), labels of 1 to 63, at most 253.
bool host_name(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  if (s.empty() || s.size() > 253) return false;
  while (true) {
    const auto dot = s.find('.');
    const std::string_view label = s.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return alnum(c) || c == '-'; })) return false;
    if (dot == std::string_view::npos) return true;
    s = s.substr(dot + 1);
  }
}

std::string normal_host(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return lower(s);
}

}  // namespace

std::string_view to_string(Mode mode) {
  switch (mode) {
    case Mode::enforce: return "enforce";
    case Mode::testing: return "testing";
    case Mode::none: return "none";
  }
  return "none";
}

std::variant<StsRecord, Problem> parse_sts_records(const std::vector<std::string>& records) {
  const auto sts = versioned(records, "v=STSv1");
  if (sts.empty()) return Problem{Finding::sts_record_missing, "no TXT record starts with v=STSv1"};
  if (sts.size() > 1)
    return Problem{Finding::sts_record_multiple, std::to_string(sts.size()) + " TXT records start with v=STSv1"};
  const auto f = fields(sts[0]);
  if (!f) return Problem{Finding::sts_record_invalid, "a field is not name=value separated by \";\""};
  std::optional<StsRecord> out;
  for (const auto& [name, value] : *f) {
    if (name == "id") {
      if (value.empty() || value.size() > 32 || !std::all_of(value.begin(), value.end(), alnum))
        return Problem{Finding::sts_record_invalid, "id \"" + std::string(value.substr(0, 40)) +
                                                        "\" is not 1 to 32 letters and digits"};
      if (!out) out = StsRecord{std::string(value)};  // a repeated id: the first
    } else if (!ext_name(name) || !ext_value(value)) {
      return Problem{Finding::sts_record_invalid, "malformed field \"" + std::string(name.substr(0, 40)) + "\""};
    }
  }
  if (!out) return Problem{Finding::sts_record_invalid, "no id field"};
  return *out;
}

std::variant<StsPolicy, Problem> parse_sts_policy(std::string_view text) {
  if (text.size() > max_policy_size)
    return Problem{Finding::sts_policy_too_large, std::to_string(text.size()) + " bytes (at most 65536)"};
  auto invalid = [](std::string why) { return Problem{Finding::sts_policy_invalid, std::move(why)}; };
  std::optional<std::string_view> version, mode, max_age;
  StsPolicy out;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string where = "line " + std::to_string(line_number) + ": ";
    if (line.empty()) {
      if (trim(text).empty()) break;  // trailing blank lines
      return invalid(where + "empty line");
    }
    for (char c : line)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return invalid(where + "a control character");
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return invalid(where + "no \"key: value\"");
    const std::string_view key = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (!ext_name(key)) return invalid(where + "malformed key \"" + std::string(key.substr(0, 40)) + "\"");
    if (key == "mx") {
      std::string_view host = value;
      if (host.starts_with("*.")) host.remove_prefix(2);
      if (!host_name(host)) return invalid(where + "mx \"" + std::string(value.substr(0, 80)) + "\" is not a host name or *.name");
      if (out.mx.size() < 100) out.mx.push_back(lower(value));
    } else if (key == "version") {
      if (!version) version = value;
    } else if (key == "mode") {
      if (!mode) mode = value;
    } else if (key == "max_age") {
      if (!max_age) max_age = value;
    }  // other keys are extensions: ignored
    if (line_number >= 1000) return invalid("more than 1,000 lines");
  }
  if (!version) return invalid("no version");
  if (*version != "STSv1") return invalid("version \"" + std::string(version->substr(0, 40)) + "\" is not STSv1");
  if (!mode) return invalid("no mode");
  if (*mode == "enforce") out.mode = Mode::enforce;
  else if (*mode == "testing") out.mode = Mode::testing;
  else if (*mode == "none") out.mode = Mode::none;
  else return invalid("mode \"" + std::string(mode->substr(0, 40)) + "\" is not enforce, testing or none");
  if (!max_age) return invalid("no max_age");
  if (max_age->empty() || max_age->size() > 10 || !std::all_of(max_age->begin(), max_age->end(), ::isdigit))
    return invalid("max_age \"" + std::string(max_age->substr(0, 40)) + "\" is not 1 to 10 digits");
  out.max_age = std::stoll(std::string(*max_age));
  if (out.max_age > max_max_age)
    return invalid("max_age " + std::to_string(out.max_age) + " is more than 31557600 (a year)");
  if (out.mx.empty() && out.mode != Mode::none) return invalid("no mx line (required unless mode is none)");
  return out;
}

std::variant<TlsrptRecord, Problem> parse_tlsrpt_records(const std::vector<std::string>& records) {
  const auto found = versioned(records, "v=TLSRPTv1");
  if (found.empty()) return Problem{Finding::tlsrpt_record_missing, "no TXT record starts with v=TLSRPTv1"};
  if (found.size() > 1)
    return Problem{Finding::tlsrpt_record_invalid,
                   std::to_string(found.size()) + " TXT records start with v=TLSRPTv1: senders send no reports"};
  const auto f = fields(found[0]);
  if (!f) return Problem{Finding::tlsrpt_record_invalid, "a field is not name=value separated by \";\""};
  std::optional<TlsrptRecord> out;
  for (const auto& [name, value] : *f) {
    if (name != "rua") {
      if (!ext_name(name) || !ext_value(value))
        return Problem{Finding::tlsrpt_record_invalid, "malformed field \"" + std::string(name.substr(0, 40)) + "\""};
      continue;
    }
    if (out) return Problem{Finding::tlsrpt_record_invalid, "rua given twice"};
    out.emplace();
    std::string_view rest = value;
    while (true) {
      const auto comma = rest.find(',');
      const std::string_view uri = trim(rest.substr(0, comma));
      const std::string scheme = lower(uri.substr(0, uri.find(':') + 1));
      if ((scheme != "mailto:" && scheme != "https:") || uri.size() <= scheme.size() ||
          std::any_of(uri.begin(), uri.end(), [](char c) { return c <= ' ' || c >= 0x7f; }))
        return Problem{Finding::tlsrpt_record_invalid,
                       "rua \"" + std::string(uri.substr(0, 80)) + "\" is not a mailto: or https: URI"};
      out->rua.emplace_back(uri);
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
  }
  if (!out) return Problem{Finding::tlsrpt_record_invalid, "no rua field"};
  return *out;
}

bool rua_names(std::string_view uri, std::string_view address) {
  if (lower(uri.substr(0, 7)) != "mailto:") return false;
  uri.remove_prefix(7);
  uri = uri.substr(0, uri.find('?'));  // RFC 6068 header fields
  std::string decoded;
  for (std::size_t i = 0; i < uri.size(); ++i) {
    if (uri[i] == '%' && i + 2 < uri.size() && unpack::hex_value(uri[i + 1]) >= 0 && unpack::hex_value(uri[i + 2]) >= 0) {
      decoded += static_cast<char>(unpack::hex_value(uri[i + 1]) * 16 + unpack::hex_value(uri[i + 2]));
      i += 2;
    } else {
      decoded += uri[i];
    }
  }
  // RFC 7489-style size limit suffix ("!10m") that some publishers copy from DMARC.
  if (const auto bang = decoded.rfind('!'); bang != std::string::npos && bang > decoded.rfind('@'))
    decoded.erase(bang);
  return lower(decoded) == lower(address);
}

bool mx_matches(std::string_view pattern, std::string_view host) {
  const std::string p = normal_host(pattern), h = normal_host(host);
  if (p.empty() || h.empty()) return false;
  if (!p.starts_with("*.")) return p == h;
  const auto dot = h.find('.');
  return dot != std::string::npos && dot > 0 && std::string_view(h).substr(dot + 1) == std::string_view(p).substr(2);
}

std::optional<std::string> normalize_domain(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return std::nullopt;
  std::string out;
  std::size_t label = 0, labels = 1;
  for (char c : name) {
    const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (l == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
      ++labels;
    } else if ((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '-' || l == '_') {
      if (++label > 63) return std::nullopt;
    } else {
      return std::nullopt;
    }
    out += l;
  }
  if (label == 0 || labels < 2) return std::nullopt;
  return out;
}

}  // namespace tlsrpt::policy
