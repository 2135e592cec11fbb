#include "api/params.hpp"

#include <array>
#include <span>
#include "json/text.hpp"

#include <map>
#include <set>

#include "json/reader.hpp"
#include "unpack/unpack.hpp"
#include "pipeline/output.hpp"

namespace tlsrpt::api {

std::string json_string(std::string_view text) { return json::string_of_bytes(text); }

namespace {

// Decodes %XX (and '+' as a space in a query); the result must be UTF-8 without control
// characters, since every value is compared with text in PostgreSQL (which refuses NUL and
// invalid UTF-8) or with names.
std::string percent_decode(std::string_view s, std::string_view what, bool plus_is_space = true) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else if (s[i] == '%') {
      const int hi = i + 2 < s.size() ? unpack::hex_value(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? unpack::hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) throw BadRequest{"bad percent-encoding in " + std::string(what)};
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  if (!json::is_valid_utf8(out)) throw BadRequest{std::string(what) + " is not valid UTF-8"};
  for (char c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) throw BadRequest{std::string(what) + " holds a control character"};
  return out;
}

// Query parameters: every name known to the route, none repeated, values decoded.
std::map<std::string, std::string> query_params(std::string_view query, const std::set<std::string_view>& allowed) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const std::string name = percent_decode(item.substr(0, eq), "a parameter name");
    if (!allowed.count(name)) {
      std::string known;
      for (auto a : allowed) known += (known.empty() ? "" : ", ") + std::string(a);
      throw BadRequest{"unknown parameter " + json_string(name) + " (this route takes: " + (known.empty() ? "none" : known) + ")"};
    }
    std::string value =
        eq == std::string_view::npos ? std::string() : percent_decode(item.substr(eq + 1), "parameter " + name);
    if (value.size() > 512) throw BadRequest{"parameter " + name + " is longer than 512 bytes"};
    if (!out.emplace(name, std::move(value)).second) throw BadRequest{"parameter " + name + " is given twice"};
  }
  return out;
}

std::optional<std::string> take(std::map<std::string, std::string>& q, const std::string& name) {
  auto it = q.find(name);
  if (it == q.end()) return std::nullopt;
  std::string v = std::move(it->second);
  q.erase(it);
  if (v.empty()) throw BadRequest{"parameter " + name + " is empty"};
  return v;
}

std::optional<std::string> time_param(std::map<std::string, std::string>& q, const std::string& name) {
  auto v = take(q, name);
  if (!v) return v;
  const auto t = report::parse_datetime(*v);
  if (!t || (v->size() > 10 && t->quirks.has(report::Quirk::datetime_no_timezone)) ||
      t->quirks.has(report::Quirk::datetime_space_separator))
    throw BadRequest{"parameter " + name + ": " + json_string(*v) +
                     " is not a date (YYYY-MM-DD) or an RFC 3339 date-time with a time zone"};
  return report::format_datetime(t->epoch);
}

std::optional<std::string> domain_param(std::map<std::string, std::string>& q, const std::string& name) {
  auto v = take(q, name);
  if (!v) return v;
  report::QuirkSet ignored;
  if (v->size() > 253 || !report::normalise_domain(*v, ignored))
    throw BadRequest{"parameter " + name + ": " + json_string(*v) + " is not a domain name"};
  return v;
}

std::optional<std::string> enum_param(std::map<std::string, std::string>& q, const std::string& name,
                                      std::span<const std::string_view> values) {
  auto v = take(q, name);
  if (!v) return v;
  std::string list;
  for (auto x : values) {
    if (x == *v) return v;
    list += (list.empty() ? "" : ", ") + std::string(x);
  }
  throw BadRequest{"parameter " + name + ": " + json_string(*v) + " is not one of " + list};
}

std::optional<std::string> token_param(std::map<std::string, std::string>& q, const std::string& name) {
  auto v = take(q, name);
  if (v && (v->size() > 64 || v->find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos))
    throw BadRequest{"parameter " + name + ": " + json_string(*v) + " is not a result-type (lower-case letters, digits, -)"};
  return v;
}

}  // namespace

std::int64_t positive(const std::string& text, const std::string& name) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos || std::stoll(text) <= 0)
    throw BadRequest{name + ": " + json_string(text) + " is not a positive integer"};
  return std::stoll(text);
}

namespace {

store::Page page_param(std::map<std::string, std::string>& q) {
  store::Page p;
  if (auto l = take(q, "limit")) {
    const auto n = positive(*l, "parameter limit");
    if (n > 500) throw BadRequest{"parameter limit: at most 500"};
    p.limit = static_cast<std::size_t>(n);
  }
  if (auto c = take(q, "cursor")) p.before = positive(*c, "parameter cursor");
  return p;
}

store::Filter filter_params(std::map<std::string, std::string>& q) {
  store::Filter f;
  f.from = time_param(q, "from");
  f.to = time_param(q, "to");
  f.policy_domain = domain_param(q, "domain");
  f.organization = take(q, "organization");
  f.policy_type = enum_param(q, "policy_type", std::array<std::string_view, 3>{"sts", "tlsa", "no-policy-found"});
  f.result_type = token_param(q, "result_type");
  f.mx_host = domain_param(q, "mx_host");
  f.dkim = enum_param(q, "dkim", std::array<std::string_view, 6>{"pass", "fail", "none", "temperror", "permerror", "unverified"});
  return f;
}

}  // namespace

Query parse_query(Params kind, std::string_view query) {
  static const std::set<std::string_view> allowed[] = {
      {},
      {"from", "to", "organization", "policy_type", "dkim", "limit", "cursor"},
      {"from", "to", "domain", "organization", "policy_type", "result_type", "mx_host", "dkim"},
      {"from", "to", "domain", "organization", "policy_type", "result_type", "mx_host", "bucket", "dkim"},
      {"from", "to", "domain", "organization", "policy_type", "result_type", "mx_host", "limit", "cursor", "dkim"},
      {"from", "to", "reason", "limit", "cursor"},
      {"days"},
      {"days", "q", "sort", "page", "limit"},
      {"next"},
  };
  auto q = query_params(query, allowed[static_cast<int>(kind)]);
  Query out;
  out.bucket = enum_param(q, "bucket", std::array<std::string_view, 2>{"day", "hour"}).value_or("day");
  // (the domain list's cursor is the last domain of the previous page; the others' an id)
  const std::optional<std::string> after = kind == Params::domains ? domain_param(q, "cursor") : std::nullopt;
  out.page = page_param(q);
  out.page.after = after;
  out.reason = take(q, "reason");
  if (out.reason && !report::reason_from_string(*out.reason))
    throw BadRequest{"parameter reason: " + json_string(*out.reason) + " is not a rejection reason (tlsrpt parse --list-reasons)"};
  if (auto d = take(q, "days")) {
    const auto n = positive(*d, "parameter days");
    if (n > 400) throw BadRequest{"parameter days: at most 400"};
    out.days = static_cast<int>(n);
  }
  out.name_filter = take(q, "q");
  out.sort = enum_param(q, "sort", store::list_sorts);
  out.list.sort = out.sort.value_or("name");
  for (char c : out.name_filter.value_or(""))  // (names are stored in lower case)
    out.list.name_contains += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  out.list.limit = static_cast<std::int64_t>(out.page.limit);
  if (auto n = take(q, "page")) {
    out.list.page = positive(*n, "parameter page");
    if (out.list.page > 1000000) throw BadRequest{"parameter page: at most 1000000"};
  }
  out.next = take(q, "next");
  out.filter = filter_params(q);
  return out;
}

std::map<std::string, std::string> form_fields(std::string_view body, const std::set<std::string_view>& allowed) {
  return query_params(body, allowed);
}

std::optional<std::string> decode_path(std::string_view path) {
  try {
    std::string out = percent_decode(path, "the path", false);
    // An encoded "/" would join two segments into one: it never names a route.
    for (std::size_t i = 0; i + 2 < path.size(); ++i)
      if (path[i] == '%' && path[i + 1] == '2' && (path[i + 2] == 'f' || path[i + 2] == 'F')) return std::nullopt;
    return out;
  } catch (const BadRequest&) {
    return std::nullopt;
  }
}

bool match_path(std::string_view pattern, std::string_view path, std::vector<std::string>& ids) {
  std::string_view p = path, t = pattern;
  while (!t.empty() && !p.empty()) {
    const auto ts = t.find('/', 1), ps = p.find('/', 1);
    const std::string_view tseg = t.substr(0, ts), pseg = p.substr(0, ps);
    if (tseg.size() > 3 && tseg[1] == '{' && tseg.back() == '}') {  // a variable: "/{id}", "/{domain}"
      if (pseg.size() <= 1) return false;
      ids.emplace_back(pseg.substr(1));
    } else if (tseg != pseg) {
      return false;
    }
    t = ts == std::string_view::npos ? std::string_view() : t.substr(ts);
    p = ps == std::string_view::npos ? std::string_view() : p.substr(ps);
  }
  return t.empty() && p.empty();
}

}  // namespace tlsrpt::api
