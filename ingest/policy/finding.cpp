#include "policy/finding.hpp"

#include <array>

#include "report/kebab.hpp"

namespace tlsrpt::policy {
namespace {

#define TLSRPT_X(name, severity, desc, hint) inline constexpr report::Kebab finding_name_##name{#name};
TLSRPT_FINDINGS(TLSRPT_X)
#undef TLSRPT_X

constexpr std::array findings{
#define TLSRPT_X(name, sev, desc, hint) FindingInfo{Finding::name, finding_name_##name.view(), Severity::sev, desc, hint},
    TLSRPT_FINDINGS(TLSRPT_X)
#undef TLSRPT_X
};

}  // namespace

std::string_view to_string(Severity severity) {
  switch (severity) {
    case Severity::error: return "error";
    case Severity::warning: return "warning";
    case Severity::info: return "info";
  }
  return "error";
}

std::span<const FindingInfo> all_findings() { return findings; }
const FindingInfo& info(Finding finding) { return findings[static_cast<std::size_t>(finding)]; }
std::string_view to_string(Finding finding) { return info(finding).name; }
std::optional<Finding> finding_from_string(std::string_view name) {
  for (const auto& f : findings)
    if (f.name == name) return f.finding;
  return std::nullopt;
}

}  // namespace tlsrpt::policy
