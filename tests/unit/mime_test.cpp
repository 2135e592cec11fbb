#include <doctest/doctest.h>

#include "mime/mime.hpp"

using namespace tlsrpt;
using report::Reason;

namespace {
// Entities view the input, so it must outlive the Message: no temporaries.
mime::Message parse_ok(std::string&&, report::Limits = {}) = delete;
mime::Message parse_ok(const std::string& raw, report::Limits limits = {}) {
  auto r = mime::parse(raw, limits);
  REQUIRE(std::holds_alternative<mime::Message>(r));
  return std::get<mime::Message>(r);
}
report::Rejection parse_err(const std::string& raw, report::Limits limits = {}) {
  auto r = mime::parse(raw, limits);
  REQUIRE(std::holds_alternative<report::Rejection>(r));
  return std::get<report::Rejection>(r);
}
}  // namespace

TEST_CASE("multipart: parts, paths, headers, missing closing boundary, longer lookalike boundary") {
  const std::string raw =
      "Subject: Report Domain: example.net\r\nTLS-Report-Domain: example.net\r\n"
      "Content-Type: multipart/report; report-type=\"TLSRPT\";\r\n boundary=\"b\"\r\n\r\n"
      "preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--bb\r\nnot a boundary\r\n"
      "--b  \r\nContent-Type: application/tlsrpt+gzip; name=\"x.json.gz\"\r\n"
      "Content-Transfer-Encoding: BASE64\r\n\r\nH4sI\r\n";  // no closing delimiter
  const auto m = parse_ok(raw);
  REQUIRE(m.entities.size() == 3);
  CHECK(m.entities[0].media_type == "multipart/report");
  CHECK(m.entities[0].report_type == "tlsrpt");
  CHECK(m.entities[0].container);
  CHECK(m.entities[1].path == "1");
  CHECK(m.entities[1].body == "hello\r\n--bb\r\nnot a boundary");
  CHECK(m.entities[2].path == "2");
  CHECK(m.entities[2].filename == "x.json.gz");
  CHECK(m.entities[2].transfer_encoding == "base64");
  CHECK(m.entities[2].body == "H4sI\r\n");
  CHECK(m.entities[2].parent == 0);
  CHECK(m.messages[0].tls_report_domain == "example.net");
}

TEST_CASE("LF-only messages and parts without headers") {
  const std::string raw = "Content-Type: multipart/mixed; boundary=zz\n\n--zz\n\nbare body\n--zz--\nepilogue\n";
  const auto m = parse_ok(raw);
  REQUIRE(m.entities.size() == 2);
  CHECK(m.entities[1].media_type == "text/plain");
  CHECK(m.entities[1].body == "bare body");
}

TEST_CASE("message/rfc822: the inner message's headers are kept apart") {
  const std::string inner = "TLS-Report-Domain: inner.example\nSubject: inner\nContent-Type: text/plain\n\nhi\n";
  const std::string raw =
      "Subject: outer\nContent-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/rfc822\n\n" + inner + "--o--\n";
  const auto m = parse_ok(raw);
  REQUIRE(m.messages.size() == 2);
  CHECK(m.messages[1].tls_report_domain == "inner.example");
  REQUIRE(m.entities.size() == 3);
  CHECK(m.entities[2].path == "1.1");
  CHECK(m.entities[2].message == 1);
  CHECK(m.entities[2].depth == 2);
}

TEST_CASE("limits: depth, entity count, header size") {
  std::string deep;
  for (int i = 0; i < 20; ++i) deep += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" + std::to_string(i) + "\n";
  CHECK(parse_err(deep).reason == Reason::mime_too_deep);

  std::string deep822;
  for (int i = 0; i < 100000; ++i) deep822 += "Content-Type: message/rfc822\n\n";
  CHECK(parse_err(deep822).reason == Reason::mime_too_deep);

  std::string many = "Content-Type: multipart/mixed; boundary=b\n\n";
  for (int i = 0; i < 200; ++i) many += "--b\n\nx\n";
  CHECK(parse_err(many).reason == Reason::mime_too_many_parts);

  report::Limits small;
  small.header_size = 100;
  CHECK(parse_err("Subject: " + std::string(200, 'x') + "\n\nbody", small).reason == Reason::header_too_large);
}

TEST_CASE("RFC 2231 and RFC 2047 parameters") {
  using P = std::vector<std::pair<std::string, std::string>>;
  CHECK(mime::decode_parameter(P{{"filename", "plain.json"}}, "filename") == "plain.json");
  CHECK(mime::decode_parameter(P{{"filename*", "UTF-8''a%21b%20c.json"}}, "filename") == "a!b c.json");
  CHECK(mime::decode_parameter(P{{"filename*1", "two"}, {"filename*0*", "utf-8'en'one%2D"}}, "filename") == "one-two");
  CHECK(mime::decode_parameter(P{{"filename*0", "a"}, {"filename*2", "c"}}, "filename") == "a");  // gap ends it
  CHECK(mime::decode_parameter(P{{"name", "=?UTF-8?B?cmVwb3J0Lmpzb24=?="}}, "name") == "report.json");
  CHECK(mime::decode_encoded_words("=?utf-8?q?a_b?= =?utf-8?q?c?= d") == "a bc d");
  CHECK(mime::decode_encoded_words("=?x?z?bad?=") == "=?x?z?bad?=");
  CHECK(mime::decode_encoded_words("no words =? here") == "no words =? here");
}
