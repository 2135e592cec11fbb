// Throughput of the parsing pipeline (bytes -> validated reports) against the floor of the same
// payloads through the bare libraries: zlib inflate + simdjson DOM parse, with no MIME, no
// base64, no validation and no report values. Both run in one process, in alternating rounds,
// on one core; the medians and their ratio are printed. Machines here are noisy: trust the
// ratio more than the absolute numbers.
//
// Usage: bench_pipeline [seconds-per-round (default 0.3)] [rounds (default 7)]
#include <simdjson.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "pipeline/output.hpp"
#include "pipeline/pipeline.hpp"
#include "helpers.hpp"
#include "unpack/unpack.hpp"

using namespace tlsrpt;

namespace {

std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string base64_lines(const std::string& in) {
  static constexpr char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t col = 0;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(in[i]) << 16) |
                       (i + 1 < in.size() ? static_cast<unsigned char>(in[i + 1]) << 8 : 0) |
                       (i + 2 < in.size() ? static_cast<unsigned char>(in[i + 2]) : 0);
    out += a[n >> 18];
    out += a[(n >> 12) & 63];
    out += i + 1 < in.size() ? a[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? a[n & 63] : '=';
    if ((col += 4) == 76) {
      out += "\r\n";
      col = 0;
    }
  }
  return out + "\r\n";
}

// A large report: `n` failure-details with the variety real ones have.
std::string large_report(int n) {
  static const char* types[] = {"certificate-expired", "certificate-host-mismatch", "starttls-not-supported",
                                "validation-failure", "sts-webpki-invalid"};
  std::string details;
  for (int i = 0; i < n; ++i) {
    if (i) details += ",";
    details += "{\"result-type\":\"" + std::string(types[i % 5]) + "\",\"sending-mta-ip\":\"2001:db8:" +
               std::to_string(i % 4096) + "::" + std::to_string(i % 97) + "\",\"receiving-mx-hostname\":\"mx" +
               std::to_string(i % 13) + ".customer" + std::to_string(i % 211) +
               ".example\",\"receiving-mx-helo\":\"mx" + std::to_string(i % 13) + ".example\",\"receiving-ip\":\"198.51." +
               std::to_string(i % 256) + "." + std::to_string((i * 7) % 256) + "\",\"failed-session-count\":" +
               std::to_string(1 + i % 50) + ",\"additional-information\":\"https://reporter.example/help/" +
               std::to_string(i % 5) + "\",\"failure-reason-code\":\"X509_V_ERR_" + std::to_string(i % 40) + "\"}";
  }
  return R"({"organization-name":"Example Large Reporter","date-range":{"start-datetime":"2026-03-01T00:00:00Z",)"
         R"("end-datetime":"2026-03-01T23:59:59Z"},"contact-info":"tlsrpt@reporter.example","report-id":"large-1",)"
         R"("policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce",)"
         R"("mx: *.example","max_age: 86400"],"policy-domain":"example.net","mx-host":["*.example"]},)"
         R"("summary":{"total-successful-session-count":1000000,"total-failure-session-count":)" +
         std::to_string(n) + R"(},"failure-details":[)" + details + "]}]}";
}

std::string email_with(const std::string& gz) {
  return "From: tlsrpt@reporter.example\r\nTo: tls@example.net\r\nSubject: Report Domain: example.net "
         "Submitter: reporter.example Report-ID: <large-1>\r\nTLS-Report-Domain: example.net\r\n"
         "TLS-Report-Submitter: reporter.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; "
         "report-type=\"tlsrpt\"; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nreport\r\n--b\r\n"
         "Content-Type: application/tlsrpt+gzip\r\nContent-Disposition: attachment; "
         "filename=\"reporter.example!example.net!1772323200!1772409599!1.json.gz\"\r\n"
         "Content-Transfer-Encoding: base64\r\n\r\n" + base64_lines(gz) + "--b--\r\n";
}

// Runs `f` repeatedly for about `seconds`; returns calls per second.
double rate(const std::function<void()>& f, double seconds) {
  using clock = std::chrono::steady_clock;
  std::size_t calls = 0;
  const auto start = clock::now();
  double elapsed = 0;
  std::size_t batch = 1;
  while (elapsed < seconds) {
    for (std::size_t i = 0; i < batch; ++i) f();
    calls += batch;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
    if (elapsed < seconds / 10) batch *= 2;
  }
  return static_cast<double>(calls) / elapsed;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::size_t sink = 0;

void compare(const char* name, const std::string& input, const std::string& gz_payload, double secs, int rounds) {
  const report::Limits limits;
  simdjson::dom::parser parser;
  std::string inflated;
  report::QuirkSet q;
  auto floor_once = [&] {
    std::size_t produced = 0;
    if (unpack::gunzip(gz_payload, inflated, produced, limits, q)) std::abort();
    simdjson::dom::element doc;
    if (parser.parse(inflated.data(), produced, false).get(doc)) std::abort();
    sink += produced;
  };
  auto pipeline_once = [&] {
    auto r = pipeline::parse(input, "bench.eml", limits);
    if (!r.accepted()) std::abort();
    sink += r.reports.size();
  };
  std::string out;
  auto cli_once = [&] {
    auto r = pipeline::parse(input, "bench.eml", limits);
    out.clear();
    for (const auto& p : r.reports) pipeline::append_json(out, p, "bench.eml", false);
    sink += out.size();
  };
  std::vector<double> f, p, c;
  for (int i = 0; i < rounds; ++i) {
    f.push_back(rate(floor_once, secs));
    p.push_back(rate(pipeline_once, secs));
    c.push_back(rate(cli_once, secs));
  }
  const double mf = median(f), mp = median(p), mc = median(c);
  std::printf("%-34s %8zu B  floor %10.0f/s  pipeline %10.0f/s (ratio %.2f)  pipeline+output %10.0f/s (ratio %.2f)\n",
              name, input.size(), mf, mp, mp / mf, mc, mc / mf);
}

}  // namespace

int main(int argc, char** argv) {
  const double secs = argc > 1 ? std::atof(argv[1]) : 0.3;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 7;
  const std::string fixtures = TLSRPT_FIXTURES;
  std::printf("one thread; medians of %d rounds of %.2f s; floor = zlib inflate + simdjson DOM parse of the same gzip\n",
              rounds, secs);

  for (const char* f : {"google_2022-09-15_mox.eml", "microsoft_2023-01-10_no-tz-datetime_mox.eml",
                        "google_2024-09-03_cardinalhealth_parsedmarc.eml"}) {
    const std::string email = read_file(fixtures + "/corpus/" + f);
    // The floor gets the attachment already base64-decoded.
    const auto parsed = pipeline::parse(email, f, {});
    if (!parsed.accepted()) return 1;
    const auto body_start = email.find("H4sI");
    std::string gz;
    const auto end = email.find("\n--", body_start);
    if (unpack::decode_base64(std::string_view(email).substr(body_start, end - body_start), gz, 1 << 20)) return 1;
    compare(f, email, gz, secs, rounds);
  }
  for (int n : {1000, 5000, 20000}) {
    const std::string json = large_report(n);
    const std::string gz = test::gzip(json);
    const std::string email = email_with(gz);
    compare(("large email, " + std::to_string(n) + " failure-details").c_str(), email, gz, secs, rounds);
    compare(("large .json.gz, " + std::to_string(n) + " failure-details").c_str(), gz, gz, secs, rounds);
  }
  return sink == 0;
}
