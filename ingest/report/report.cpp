#include "report/report.hpp"

#include "report/kebab.hpp"

#include <array>
#include <cctype>
#include <limits>
#include <set>
#include <tuple>
#include <utility>

namespace tlsrpt::report {

std::string printable(std::string_view text, std::size_t max) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "'";
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == max) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x7f || c == '\\' || c == '\'') {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += "'";
  return out;
}

namespace {

constexpr std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  return a > std::numeric_limits<std::int64_t>::max() - b ? std::numeric_limits<std::int64_t>::max()
                                                          : a + b;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t y;
  unsigned m, d;
};
constexpr Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

constexpr bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
constexpr unsigned days_in_month(std::int64_t y, unsigned m) {
  constexpr std::array<unsigned, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

// Reads exactly `n` digits at `pos`.
bool digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + static_cast<unsigned>(s[i] - '0');
  }
  return true;
}

// ASCII only and locale-free: this runs once per hostname in every failure-detail.
constexpr bool is_alnum(unsigned char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }


// A plausible DNS name made of LDH labels with at least one dot (used for guessing).
bool looks_like_domain(std::string_view s) {
  if (s.size() < 3 || s.size() > 253 || s.find('.') == std::string_view::npos) return false;
  if (s.front() == '.' || s.front() == '-') return false;
  bool has_alpha = false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (!(std::isalnum(c) || c == '-' || c == '.')) return false;
    has_alpha |= std::isalpha(c) != 0;
  }
  return has_alpha;
}

}  // namespace

std::int64_t Report::total_successful() const {
  std::int64_t n = 0;
  for (const auto& p : policies) n = saturating_add(n, p.total_successful_session_count);
  return n;
}
std::int64_t Report::total_failure() const {
  std::int64_t n = 0;
  for (const auto& p : policies) n = saturating_add(n, p.total_failure_session_count);
  return n;
}

std::optional<DateTime> parse_datetime(std::string_view s) {
  DateTime out;
  unsigned year, month, day, hour = 0, minute = 0, second = 0;
  if (!digits(s, 0, 4, year) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, month) ||
      s[7] != '-' || !digits(s, 8, 2, day))
    return std::nullopt;
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
    return std::nullopt;
  std::int64_t offset = 0;
  if (s.size() == 10) {
    out.quirks.add(Quirk::datetime_date_only);
  } else {
    const char sep = s[10];
    if (sep == ' ') out.quirks.add(Quirk::datetime_space_separator);
    else if (sep != 'T' && sep != 't') return std::nullopt;
    if (!digits(s, 11, 2, hour) || s.size() < 19 || s[13] != ':' || !digits(s, 14, 2, minute) ||
        s[16] != ':' || !digits(s, 17, 2, second))
      return std::nullopt;
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
    if (second == 60) second = 59;  // a leap second; the epoch has no room for it
    std::size_t pos = 19;
    if (pos < s.size() && s[pos] == '.') {
      const std::size_t start = ++pos;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
      if (pos == start) return std::nullopt;
    }
    if (pos == s.size()) {
      out.quirks.add(Quirk::datetime_no_timezone);
    } else if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) {
    } else if (s[pos] == '+' || s[pos] == '-') {
      unsigned oh, om;
      if (!digits(s, pos + 1, 2, oh) || pos + 6 != s.size() || s[pos + 3] != ':' ||
          !digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
        return std::nullopt;
      offset = (s[pos] == '+' ? 1 : -1) * static_cast<std::int64_t>(oh * 3600 + om * 60);
    } else {
      return std::nullopt;
    }
  }
  out.epoch = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
  return out;
}

std::string format_datetime(std::int64_t epoch) {
  std::int64_t days = epoch / 86400;
  std::int64_t rem = epoch % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  const Civil c = civil_from_days(days);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(c.y), c.m,
                c.d, static_cast<long long>(rem / 3600), static_cast<long long>(rem / 60 % 60),
                static_cast<long long>(rem % 60));
  return buf;
}

namespace {

// Byte classes for domain names, in one table: this runs on every hostname of every report.
enum : unsigned char { c_bad = 0, c_ok = 1, c_upper = 2, c_dot = 4, c_high = 8 };
constexpr std::array<unsigned char, 256> make_domain_classes() {
  std::array<unsigned char, 256> t{};
  for (int c = 0; c < 256; ++c) {
    if (c >= 0x80) t[c] = c_high;
    else if (c >= 'A' && c <= 'Z') t[c] = c_upper;
    else if (is_alnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '*') t[c] = c_ok;
    else if (c == '.') t[c] = c_dot;
  }
  return t;
}
constexpr auto domain_classes = make_domain_classes();

bool ipv4(std::string_view s) {
  int octets = 0;
  std::size_t i = 0;
  while (true) {
    const std::size_t start = i;
    unsigned v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) v = v * 10 + static_cast<unsigned>(s[i++] - '0');
    const std::size_t len = i - start;
    if (len == 0 || v > 255 || (len > 1 && s[start] == '0')) return false;
    if (++octets == 4) return i == s.size();
    if (i >= s.size() || s[i++] != '.') return false;
  }
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

// RFC 4291 text forms: eight groups, one "::" for a run of zeros, an IPv4 tail.
bool ipv6(std::string_view s) {
  if (s.size() < 2 || s.size() > 45) return false;
  int groups = 0;
  bool compressed = false;
  std::size_t i = 0;
  if (s.starts_with("::")) {
    compressed = true;
    i = 2;
    if (i == s.size()) return true;
  } else if (s[0] == ':') {
    return false;
  }
  while (i < s.size()) {
    const std::size_t start = i;
    while (i < s.size() && is_hex(s[i]) && i - start < 5) ++i;
    if (i < s.size() && s[i] == '.') {  // IPv4 tail, worth two groups
      if (!ipv4(s.substr(start))) return false;
      groups += 2;
      break;
    }
    const std::size_t len = i - start;
    if (len == 0 || len > 4) return false;
    ++groups;
    if (i == s.size()) break;
    if (s[i] != ':') return false;
    ++i;
    if (i < s.size() && s[i] == ':') {
      if (compressed) return false;
      compressed = true;
      ++i;
      if (i == s.size()) break;
    } else if (i == s.size()) {
      return false;  // trailing single ':'
    }
  }
  return compressed ? groups < 8 : groups == 8;
}

}  // namespace

std::size_t normalise_domain(std::span<char> domain, QuirkSet& quirks) {
  std::size_t size = domain.size();
  if (size > 1 && domain[size - 1] == '.') {
    --size;
    quirks.add(Quirk::domain_trailing_dot);
  }
  if (size == 0 || size > 253 || domain[0] == '.') return std::string::npos;
  unsigned seen = 0;
  unsigned prev = 0;
  for (std::size_t i = 0; i < size; ++i) {
    const unsigned c = domain_classes[static_cast<unsigned char>(domain[i])];
    if (c == c_bad || (c & prev & c_dot)) return std::string::npos;
    seen |= c;
    prev = c;
  }
  if (seen & c_upper)
    for (std::size_t i = 0; i < size; ++i)
      if (domain[i] >= 'A' && domain[i] <= 'Z') domain[i] = static_cast<char>(domain[i] | 0x20);
  if (seen & c_high) quirks.add(Quirk::idn_unicode);
  return size;
}

bool normalise_domain(std::string& domain, QuirkSet& quirks) {
  const std::size_t size = normalise_domain(std::span<char>(domain), quirks);
  if (size == std::string::npos) {
    if (domain.size() > 1 && domain.back() == '.') domain.pop_back();
    return false;
  }
  domain.resize(size);
  return true;
}

void FailureDetail::set(Field f, std::string_view value) {
  begin_[f] = static_cast<std::uint32_t>(text_.size());
  size_[f] = static_cast<std::uint32_t>(value.size());
  present_ |= static_cast<std::uint8_t>(1u << f);
  text_.append(value);
}

bool is_ip_address(std::string_view text) {
  return text.find(':') != std::string_view::npos ? ipv6(text) : ipv4(text);
}

namespace {
#define TLSRPT_X(name, hint) inline constexpr Kebab result_type_name_##name{#name};
TLSRPT_RESULT_TYPES(TLSRPT_X)
#undef TLSRPT_X
constexpr ResultTypeInfo result_types[] = {
#define TLSRPT_X(name, hint) {result_type_name_##name.view(), hint},
    TLSRPT_RESULT_TYPES(TLSRPT_X)
#undef TLSRPT_X
};
constexpr std::string_view unregistered_hint =
    "Not a result type of RFC 8460: the reporter's own name. Read the failure-reason-code and the additional "
    "information it gave, and compare with the registered type it most resembles.";
}  // namespace

std::span<const ResultTypeInfo> all_result_types() { return result_types; }

bool is_registered_result_type(std::string_view type) {
  for (const auto& r : result_types)
    if (r.name == type) return true;
  return false;
}

std::string_view result_type_hint(std::string_view type) {
  for (const auto& r : result_types)
    if (r.name == type) return r.hint;
  return unregistered_hint;
}

std::string domain_from_subject(std::string_view subject) {
  static constexpr std::string_view key = "report domain:";
  for (std::size_t i = 0; i + key.size() <= subject.size(); ++i) {
    bool match = true;
    for (std::size_t k = 0; k < key.size() && match; ++k)
      match = std::tolower(static_cast<unsigned char>(subject[i + k])) == key[k];
    if (!match) continue;
    std::size_t b = i + key.size();
    while (b < subject.size() && (subject[b] == ' ' || subject[b] == '\t')) ++b;
    std::size_t e = b;
    while (e < subject.size() && !std::isspace(static_cast<unsigned char>(subject[e]))) ++e;
    std::string d(subject.substr(b, e - b));
    if (d.size() > 1 && d.back() == '.') d.pop_back();
    return looks_like_domain(d) ? d : std::string();
  }
  return {};
}

std::string domain_from_filename(std::string_view filename) {
  if (const auto slash = filename.find_last_of('/'); slash != std::string_view::npos)
    filename = filename.substr(slash + 1);
  std::array<std::string_view, 4> fields;
  for (auto& f : fields) {
    const auto bang = filename.find('!');
    f = filename.substr(0, bang);
    if (bang == std::string_view::npos) {
      filename = {};
      if (&f != &fields.back()) return {};
    } else {
      filename = filename.substr(bang + 1);
    }
  }
  // fields[3] may be "<end>.json.gz" when no unique id follows.
  auto numeric_prefix = [](std::string_view v) {
    return !v.empty() && std::isdigit(static_cast<unsigned char>(v.front()));
  };
  if (!numeric_prefix(fields[2]) || !numeric_prefix(fields[3])) return {};
  return looks_like_domain(fields[1]) ? std::string(fields[1]) : std::string();
}

std::string domain_from_report_id(std::string_view report_id) {
  const auto sep = report_id.find_last_of("_+");
  if (sep == std::string_view::npos) return {};
  const auto tail = report_id.substr(sep + 1);
  return looks_like_domain(tail) ? std::string(tail) : std::string();
}

std::size_t rollup_rows(const Report& report) {
  std::set<std::tuple<std::string_view, std::string_view, std::string_view, std::string_view>> keys;
  for (const auto& p : report.policies) {
    if (p.total_successful_session_count > 0) keys.emplace(p.policy_domain, p.policy_type, "\1success", "");
    if (p.total_failure_session_count > 0) keys.emplace(p.policy_domain, p.policy_type, "\1failure", "");
    for (const auto& fd : p.failure_details)
      if (fd.failed_session_count > 0)
        keys.emplace(p.policy_domain, p.policy_type, fd.get(FailureDetail::result_type),
                     fd.get(FailureDetail::receiving_mx_hostname));
  }
  return keys.size();
}

std::optional<Rejection> finish(Report& report, const DomainHints& hints, const Limits& limits) {
  if (report.end_datetime < report.start_datetime)
    return Rejection{Reason::invalid_value, "date-range: end-datetime is before start-datetime"};
  if (report.end_datetime > report.start_datetime && report.end_datetime % 86400 == 0)
    report.quirks.add(Quirk::end_datetime_exclusive);

  // The report's domain: the first hint that is a domain name.
  std::string report_domain;
  for (const std::string& d : {hints.header, domain_from_subject(hints.subject), domain_from_filename(hints.filename)}) {
    std::string n = d;
    QuirkSet ignored;
    if (!n.empty() && normalise_domain(n, ignored)) {
      report_domain = std::move(n);
      break;
    }
  }
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    Policy& p = report.policies[i];
    // A DANE policy whose policy-domain is the MX host (TLSA base domain) rather than the
    // recipient domain (tlsrpt-reporter with Postfix 3.10): counted under the report's domain
    // when the host lies under it or is one of its MX hosts; an unrelated host stays as written.
    if (p.policy_type == "tlsa" && !report_domain.empty() && !p.policy_domain.empty() && p.policy_domain != report_domain &&
        ((p.policy_domain.size() > report_domain.size() + 1 && p.policy_domain.ends_with(report_domain) &&
          p.policy_domain[p.policy_domain.size() - report_domain.size() - 1] == '.') ||
         (hints.mx_of && hints.mx_of(report_domain, p.policy_domain)))) {
      if (std::find(p.mx_host.begin(), p.mx_host.end(), p.policy_domain) == p.mx_host.end())
        p.mx_host.push_back(p.policy_domain);
      p.written_domain = std::exchange(p.policy_domain, report_domain);
      report.quirks.add(Quirk::policy_domain_mx_host);
    }
    if (p.policy_domain.empty()) {
      const std::pair<std::string, Quirk> sources[] = {
          {hints.header, Quirk::policy_domain_from_header},
          {domain_from_subject(hints.subject), Quirk::policy_domain_from_subject},
          {domain_from_filename(hints.filename), Quirk::policy_domain_from_filename},
          {domain_from_report_id(report.report_id), Quirk::policy_domain_from_report_id}};
      for (const auto& [domain, quirk] : sources) {
        std::string d = domain;
        QuirkSet q;
        if (!d.empty() && normalise_domain(d, q)) {
          p.policy_domain = std::move(d);
          report.quirks.add(quirk);
          report.quirks.merge(q);
          break;
        }
      }
      if (p.policy_domain.empty())
        return Rejection{Reason::missing_field,
                         "policies[" + std::to_string(i) +
                             "].policy.policy-domain (and no TLS-Report-Domain header, subject, "
                             "file name or report-id to take it from)"};
    }
    if (!p.failure_details.empty()) {
      std::int64_t sum = 0;
      for (const auto& fd : p.failure_details) sum = saturating_add(sum, fd.failed_session_count);
      if (sum != p.total_failure_session_count) report.quirks.add(Quirk::failure_count_mismatch);
    }
  }
  std::uint64_t details = 0;
  for (const auto& p : report.policies) details += p.failure_details.size();
  if (details > limits.report_failure_details)
    return Rejection{Reason::too_many_failure_details, std::to_string(details) + " failure-details in the report (limit " +
                                                           std::to_string(limits.report_failure_details) + ")"};
  if (const auto rows = rollup_rows(report); rows > limits.rollup_rows)
    return Rejection{Reason::too_many_rollup_rows,
                     std::to_string(rows) + " distinct (policy domain, policy type, result, receiving MX) rows (limit " +
                         std::to_string(limits.rollup_rows) + ")"};
  return std::nullopt;
}

}  // namespace tlsrpt::report
