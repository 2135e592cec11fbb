// The whole pipeline plus the output writer: any bytes -> reports (each with a policy-domain and
// a valid date range) or exactly one rejection. Every other host is taken for a known MX host of
// the report's domain, so that DANE policies are attributed both ways; an attributed policy keeps
// the domain it was written with, and its host is in mx-host.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "common.hpp"
#include "pipeline/output.hpp"
#include "pipeline/pipeline.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlsrpt;
  const report::MxOf mx_of = [](std::string_view, std::string_view host) { return host.size() % 2 == 0; };
  const auto result = pipeline::parse(fuzz::view(data, size), "fuzz.eml", fuzz::limits(), mx_of);
  if (!result.accepted() && result.rejections.size() != 1) std::abort();
  std::string out;
  for (const auto& p : result.reports) {
    if (p.report.end_datetime < p.report.start_datetime) std::abort();
    for (const auto& pol : p.report.policies) {
      if (pol.policy_domain.empty()) std::abort();
      if (!pol.written_domain.empty() &&
          (pol.written_domain == pol.policy_domain || pol.policy_type != "tlsa" ||
           std::find(pol.mx_host.begin(), pol.mx_host.end(), pol.written_domain) == pol.mx_host.end()))
        std::abort();
    }
    pipeline::append_json(out, p, "fuzz.eml", size % 2 == 0);
  }
  return 0;
}
