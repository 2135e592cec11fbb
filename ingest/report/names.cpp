// Name tables for reasons, quirks and limits. Names are kebab-case forms of the identifiers.
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <string>

#include "report/kebab.hpp"
#include "report/limits.hpp"
#include "report/quirk.hpp"
#include "report/reason.hpp"

namespace tlsrpt::report {
namespace {

#define TLSRPT_X(name, desc) inline constexpr Kebab reason_name_##name{#name};
TLSRPT_REASONS(TLSRPT_X)
#undef TLSRPT_X
#define TLSRPT_X(name, desc) inline constexpr Kebab quirk_name_##name{#name};
TLSRPT_QUIRKS(TLSRPT_X)
#undef TLSRPT_X

constexpr std::array reasons{
#define TLSRPT_X(name, desc) ReasonInfo{Reason::name, reason_name_##name.view(), desc},
    TLSRPT_REASONS(TLSRPT_X)
#undef TLSRPT_X
};

constexpr std::array quirks{
#define TLSRPT_X(name, desc) QuirkInfo{Quirk::name, quirk_name_##name.view(), desc},
    TLSRPT_QUIRKS(TLSRPT_X)
#undef TLSRPT_X
};
static_assert(quirks.size() <= 64, "QuirkSet holds 64 quirks");

const std::array limits{
#define TLSRPT_X(name, unit, def, desc) LimitInfo{#name, LimitUnit::unit, def, desc, &Limits::name},
    TLSRPT_LIMITS(TLSRPT_X)
#undef TLSRPT_X
};

}  // namespace

std::span<const ReasonInfo> all_reasons() { return reasons; }
std::string_view to_string(Reason r) { return reasons[static_cast<std::size_t>(r)].name; }
std::optional<Reason> reason_from_string(std::string_view name) {
  for (const auto& info : reasons)
    if (info.name == name) return info.reason;
  return std::nullopt;
}

std::span<const QuirkInfo> all_quirks() { return quirks; }
std::string_view to_string(Quirk q) { return quirks[static_cast<std::size_t>(q)].name; }
std::optional<Quirk> quirk_from_string(std::string_view name) {
  for (const auto& info : quirks)
    if (info.name == name) return info.quirk;
  return std::nullopt;
}

std::span<const LimitInfo> all_limits() { return limits; }

std::optional<std::string> set_limit(Limits& target, std::string_view assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos) return "expected NAME=VALUE, got '" + std::string(assignment) + "'";
  std::string name(assignment.substr(0, eq));
  for (char& c : name) c = c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string value(assignment.substr(eq + 1));
  const LimitInfo* info = nullptr;
  for (const auto& l : limits)
    if (l.name == name) info = &l;
  if (!info) return "unknown limit '" + name + "' (see --list-limits)";
  if (value.empty() || !std::isdigit(static_cast<unsigned char>(value[0])))
    return "limits." + name + ": '" + value + "' is not a number";
  errno = 0;
  char* end = nullptr;
  unsigned long long n = std::strtoull(value.c_str(), &end, 10);
  std::string_view suffix(end);
  std::uint64_t scale = 1;
  if (suffix == "K" || suffix == "k" || suffix == "KiB") scale = KiB;
  else if (suffix == "M" || suffix == "m" || suffix == "MiB") scale = MiB;
  else if (suffix == "G" || suffix == "g" || suffix == "GiB") scale = 1024 * MiB;
  else if (!suffix.empty()) return "limits." + name + ": unknown suffix '" + std::string(suffix) + "'";
  if (errno == ERANGE || n > UINT64_MAX / scale || n == 0)
    return "limits." + name + ": '" + value + "' is out of range (1 to 2^64-1)";
  target.*(info->field) = n * scale;
  return std::nullopt;
}

std::optional<std::string> apply_limit_environment(Limits& target) {
  for (const auto& l : limits) {
    std::string var = "TLSRPT_LIMIT_";
    for (char c : l.name) var += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (const char* v = std::getenv(var.c_str())) {
      if (auto err = set_limit(target, std::string(l.name) + "=" + v)) return var + ": " + *err;
    }
  }
  return std::nullopt;
}

}  // namespace tlsrpt::report
