#include <doctest/doctest.h>
#include <sys/resource.h>

#include <chrono>

#include "helpers.hpp"
#include "unpack/unpack.hpp"

using namespace tlsrpt;
using report::Reason;

TEST_CASE("base64: strict alphabet, whitespace skipped, optional padding, capped output") {
  std::string out;
  CHECK_FALSE(unpack::decode_base64("aGVs\r\nbG8=\r\n", out, 100));
  CHECK(out == "hello");
  CHECK_FALSE(unpack::decode_base64("aGVsbG8", out, 100));  // padding missing
  CHECK(out == "hello");
  CHECK_FALSE(unpack::decode_base64("", out, 100));
  CHECK(out.empty());
  auto r = unpack::decode_base64("aGVs*G8=", out, 100);
  REQUIRE(r);
  CHECK(r->reason == Reason::bad_transfer_encoding);
  CHECK(r->detail.find("offset 4") != std::string::npos);
  r = unpack::decode_base64("aGVsbG8=aGVs", out, 100);
  REQUIRE(r);
  CHECK(r->reason == Reason::bad_transfer_encoding);
  r = unpack::decode_base64("aGVsb", out, 100);  // 5 sextets: half a byte left over
  REQUIRE(r);
  CHECK(r->reason == Reason::bad_transfer_encoding);
  r = unpack::decode_base64("\xc3\xa9", out, 100);  // 8-bit bytes
  REQUIRE(r);
  r = unpack::decode_base64("aGVsbG8gd29ybGQ=", out, 8);
  REQUIRE(r);
  CHECK(r->reason == Reason::decoded_too_large);
  CHECK(out.capacity() >= out.size() + unpack::json_padding);
}

TEST_CASE("quoted-printable: escapes, soft breaks, lenient on stray '='") {
  std::string out;
  CHECK_FALSE(unpack::decode_quoted_printable("a=3Db=\r\nc= \nd=ZZ=4", out, 100));
  CHECK(out == "a=bcd=ZZ=4");
  CHECK_FALSE(unpack::decode_quoted_printable("x=", out, 100));
  CHECK(out == "x");
  auto r = unpack::decode_quoted_printable("abcdef", out, 3);
  REQUIRE(r);
  CHECK(r->reason == Reason::decoded_too_large);
}

namespace {
// gunzip into `out`, trimmed to what was produced.
std::optional<report::Rejection> gz_(std::string_view in, std::string& out, const report::Limits& limits,
                                     report::QuirkSet& q) {
  std::size_t produced = 0;
  auto r = unpack::gunzip(in, out, produced, limits, q);
  if (!r) {
    CHECK(out.size() >= produced + unpack::json_padding);
    out.resize(produced);
  }
  return r;
}
}  // namespace

TEST_CASE("gunzip: one and several members, corrupt and truncated data") {
  report::Limits limits;
  report::QuirkSet q;
  std::string out;
  const std::string text = "{\"hello\": \"world\"}";
  CHECK_FALSE(gz_(test::gzip(text), out, limits, q));
  CHECK(out == text);
  CHECK(q.empty());

  CHECK_FALSE(gz_(test::gzip("abc") + test::gzip("def"), out, limits, q));
  CHECK(out == "abcdef");
  CHECK(q.has(report::Quirk::gzip_multi_member));

  report::QuirkSet q2;
  CHECK_FALSE(gz_(test::gzip("abc") + "\n\n", out, limits, q2));
  CHECK(q2.has(report::Quirk::gzip_trailing_garbage));

  std::string gz = test::gzip(text);
  auto r = gz_(gz.substr(0, gz.size() - 5), out, limits, q);
  REQUIRE(r);
  CHECK(r->reason == Reason::gzip_corrupt);
  gz[gz.size() - 6] ^= 1;  // CRC
  r = gz_(gz, out, limits, q);
  REQUIRE(r);
  CHECK(r->reason == Reason::gzip_corrupt);
  r = gz_("\x1f\x8b", out, limits, q);
  REQUIRE(r);
  CHECK(r->reason == Reason::gzip_corrupt);
}

TEST_CASE("gunzip: a bomb of gigabytes is stopped at the cap, fast and in bounded memory") {
  // 64 members of 64 MiB of zeros each: 4 GiB when fully inflated, ~4 MiB compressed.
  const std::string member = test::gzip(std::string(64 << 20, '\0'), 9);
  std::string bomb;
  for (int i = 0; i < 64; ++i) bomb += member;
  report::Limits limits;
  limits.inflate_ratio = 1u << 30;  // show the size cap alone
  report::QuirkSet q;
  std::string out;
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = gz_(bomb, out, limits, q);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  REQUIRE(r);
  CHECK(r->reason == Reason::inflated_too_large);
  if (test::sanitized) {
    MESSAGE("skipped: time and memory bounds (sanitizer build)");
  } else {
    CHECK(seconds < 1.0);
    CHECK((after.ru_maxrss - before.ru_maxrss) / 1024 < 64);  // MiB grown: the 16 MiB cap, not 4 GiB
  }
  MESSAGE("bomb: " << bomb.size() << " bytes in, rejected after " << seconds << " s");

  // With the default ratio limit the same bomb is stopped earlier, at 1 MiB of output.
  r = gz_(bomb, out, report::Limits{}, q);
  REQUIRE(r);
  CHECK(r->reason == Reason::inflate_ratio_exceeded);
}

TEST_CASE("gunzip: a reused buffer that grew under larger limits still honours the cap") {
  std::string buf(64 << 20, 'x');
  std::size_t produced = 0;
  report::Limits small;
  small.inflated_size = 1000;
  report::QuirkSet q;
  auto r = unpack::gunzip(test::gzip(std::string(5000, 'a')), buf, produced, small, q);
  REQUIRE(r);
  CHECK(r->reason == Reason::inflated_too_large);
  CHECK(produced == 1000);
}

TEST_CASE("gunzip: large real-looking output below the caps is accepted") {
  std::string big;
  for (int i = 0; big.size() < (3u << 20); ++i)
    big += "{\"result-type\":\"certificate-expired\",\"sending-mta-ip\":\"192.0.2." + std::to_string(i % 250) +
           "\",\"failed-session-count\":" + std::to_string(i) + "},";
  report::QuirkSet q;
  std::string out;
  CHECK_FALSE(gz_(test::gzip(big), out, report::Limits{}, q));
  CHECK(out == big);
}
