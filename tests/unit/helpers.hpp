#pragma once

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace tlsrpt::test {

// Under sanitizers time and memory grow several-fold: resource bounds are checked in the normal
// build only (and the test says so).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#else
inline constexpr bool sanitized = false;
#endif

inline std::string fixture_dir() { return TLSRPT_FIXTURES; }

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// gzip of `data` (one member).
inline std::string gzip(const std::string& data, int level = 6) {
  z_stream zs{};
  deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A small valid report; `extra_policy_fields` is spliced into the first policy object.
inline std::string report_json(const std::string& failure_details = R"([{"result-type":"certificate-expired",
   "sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"mx.example.net","failed-session-count":2}])",
                               const std::string& domain = "example.net") {
  return R"({"organization-name":"Org","date-range":{"start-datetime":"2026-01-01T00:00:00Z",
    "end-datetime":"2026-01-01T23:59:59Z"},"contact-info":"a@b.example","report-id":"id-1",
    "policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1"],"policy-domain":")" +
         domain + R"(","mx-host":["mx.example.net"]},
    "summary":{"total-successful-session-count":10,"total-failure-session-count":2},
    "failure-details":)" + failure_details + "}]}";
}

}  // namespace tlsrpt::test
