// The whole pipeline plus the output writer: any bytes -> reports (each with a policy-domain and
// a valid date range) or exactly one rejection.
#include <cstdlib>
#include <string>

#include "common.hpp"
#include "pipeline/output.hpp"
#include "pipeline/pipeline.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlsrpt;
  const auto result = pipeline::parse(fuzz::view(data, size), "fuzz.eml", fuzz::limits());
  if (!result.accepted() && result.rejections.size() != 1) std::abort();
  std::string out;
  for (const auto& p : result.reports) {
    if (p.report.end_datetime < p.report.start_datetime) std::abort();
    for (const auto& pol : p.report.policies)
      if (pol.policy_domain.empty()) std::abort();
    pipeline::append_json(out, p, "fuzz.eml", size % 2 == 0);
  }
  return 0;
}
