// JSON report reader: any bytes -> report or rejection; accepted reports respect the limits.
#include <cstdlib>
#include <variant>

#include "common.hpp"
#include "json/reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlsrpt;
  auto r = json::read_report(fuzz::view(data, size), fuzz::limits());
  if (auto* rep = std::get_if<report::Report>(&r)) {
    if (rep->policies.empty() || rep->policies.size() > fuzz::limits().policies) std::abort();
    for (const auto& p : rep->policies) {
      if (p.total_successful_session_count < 0 || p.total_failure_session_count < 0) std::abort();
      if (p.failure_details.size() > fuzz::limits().failure_details) std::abort();
      for (const auto& fd : p.failure_details)
        if (fd.failed_session_count < 0 || fd.get(report::FailureDetail::result_type).empty()) std::abort();
    }
  }
  return 0;
}
