// What a domain publishes: any bytes as an MTA-STS policy text, as TXT records (split at NUL)
// for _mta-sts and _smtp._tls, and as MX patterns and host names. Parsing either names a
// finding of the right kind with a detail, or yields values within their bounds.
#include <cstdlib>
#include <string>
#include <vector>

#include "common.hpp"
#include "policy/policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlsrpt::policy;
  const std::string_view input = tlsrpt::fuzz::view(data, size);
  const auto p = parse_sts_policy(input);
  if (const auto* policy = std::get_if<StsPolicy>(&p)) {
    if (policy->max_age < 0 || policy->max_age > max_max_age || policy->mx.size() > 100) std::abort();
    if (policy->mx.empty() && policy->mode != Mode::none) std::abort();
    for (const auto& mx : policy->mx)
      if (!mx_matches(mx, mx.starts_with("*.") ? "a" + mx.substr(1) : mx)) std::abort();
  } else {
    const Problem& problem = std::get<Problem>(p);
    if (problem.detail.empty() ||
        (problem.finding != Finding::sts_policy_invalid && problem.finding != Finding::sts_policy_too_large))
      std::abort();
  }
  std::vector<std::string> records;
  std::string_view rest = input;
  while (!rest.empty()) {
    const auto nul = rest.find('\0');
    records.emplace_back(rest.substr(0, nul));
    rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  }
  const auto sts = parse_sts_records(records);
  if (const auto* r = std::get_if<StsRecord>(&sts)) {
    if (r->id.empty() || r->id.size() > 32) std::abort();
  } else if (const Finding f = std::get<Problem>(sts).finding;
             f != Finding::sts_record_missing && f != Finding::sts_record_multiple && f != Finding::sts_record_invalid) {
    std::abort();
  }
  const auto tlsrpt = parse_tlsrpt_records(records);
  if (const auto* r = std::get_if<TlsrptRecord>(&tlsrpt)) {
    if (r->rua.empty()) std::abort();
    for (const auto& uri : r->rua) (void)rua_names(uri, "tls@example.net");
  } else if (const Finding f = std::get<Problem>(tlsrpt).finding;
             f != Finding::tlsrpt_record_missing && f != Finding::tlsrpt_record_invalid) {
    std::abort();
  }
  if (records.size() >= 2) (void)mx_matches(records[0], records[1]);
  // A domain name as the API and the settings take it: a valid result is a fixed point.
  if (const auto d = normalize_domain(input)) {
    if (d->empty() || d->size() > 253 || normalize_domain(*d) != d) std::abort();
  }
  return 0;
}
