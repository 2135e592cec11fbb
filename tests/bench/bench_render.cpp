// The domain list page rendered from a 50-row JSON twin shaped like /api/v1/overview's (30 days,
// two result types, a newest report and a posture check per row): milliseconds per page. Not a
// test; run by hand. Instruction counts are steadier than time on a shared machine:
//   cmake --build build --target bench_render
//   valgrind --tool=callgrind build/tests/bench/bench_render 20
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "web/pages.hpp"

namespace {

std::string overview(int rows, int days) {
  std::string out = R"({"days":30,"from":"2026-11-08T00:00:00Z","sort":"ratio","q":"","page":1,"limit":50,"total":10000,)"
                    R"("pages":200,"domains":[)";
  for (int r = 0; r < rows; ++r) {
    const std::string d = "customer" + std::to_string(r) + ".example";
    out += (r ? "," : "") + std::string(R"({"policy_domain":")") + d + R"(","monitored":false,)" +
           R"("last_7_days":{"successful_sessions":7000,"failed_sessions":70,"success_ratio":0.990099},)" +
           R"("range":{"successful_sessions":30000,"failed_sessions":300,"success_ratio":0.990099},"daily":[)";
    for (int k = 0; k < days; ++k)
      out += (k ? "," : "") + std::string(R"({"time":"2026-11-)") + (k + 1 < 10 ? "0" : "") + std::to_string(k + 1) +
             R"(T00:00:00Z","successful_sessions":1000,"failed_sessions":)" + std::to_string(k % 7) + "}";
    out += R"(],"by_result_type":[{"result_type":"certificate-expired","sessions":200},)"
           R"({"result_type":"starttls-not-supported","sessions":100}],"newest_report":{"id":)" +
           std::to_string(1000 + r) + R"(,"organization_name":"Google LLC","start_datetime":"2026-11-30T00:00:00Z"},)"
           R"("organizations":["Google LLC","Microsoft Corporation","Mail.Ru"],)"
           R"("posture":{"checked_at":"2026-11-30T06:00:00Z","complete":true,"errors":0,"warnings":1},"readiness":null})";
  }
  return out + "]}";
}

}  // namespace

int main(int argc, char** argv) {
  const int pages = argc > 1 ? std::atoi(argv[1]) : 500;
  const std::string json = overview(50, 30);
  std::size_t bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < pages; ++i) bytes += tlsrpt::web::domains_page(json, tlsrpt::web::Frame{}, "").size();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d pages of %zu bytes from %zu bytes of JSON: %.3f ms a page\n", pages, bytes / static_cast<std::size_t>(pages),
              json.size(), ms / pages);
}
