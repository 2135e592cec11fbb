#include <doctest/doctest.h>

#include "helpers.hpp"
#include "pipeline/output.hpp"

using namespace tlsrpt;

TEST_CASE("JSON strings are escaped per RFC 8259") {
  std::string out;
  pipeline::append_json_string(out, std::string("a\"b\\c\n\x01\t\xc3\xa9", 10));
  CHECK(out == "\"a\\\"b\\\\c\\n\\u0001\\t\xc3\xa9\"");
}

TEST_CASE("normalised output: fixed keys, arrays, UTC, nulls, quirks, source") {
  const std::string json = R"({"organization-name":"O","date-range":{"start-datetime":"2024-03-26T02:00:00+02:00",
    "end-datetime":"2024-03-26T23:59:59Z"},"report-id":"i","policies":[{"policy":{"policy-type":"sts",
    "policy-domain":"example.net","mx-host":"mx.example.net"},"summary":{"total-successful-session-count":1,
    "total-failure-session-count":0}}]})";
  const auto result = pipeline::parse(json, "x.json", {});
  REQUIRE(result.accepted());
  std::string out;
  pipeline::append_json(out, result.reports[0], "dir/x.json", false);
  CHECK(out ==
        R"({"organization-name":"O","date-range":{"start-datetime":"2024-03-26T00:00:00Z","end-datetime":"2024-03-26T23:59:59Z"},)"
        R"("contact-info":null,"report-id":"i","policies":[{"policy":{"policy-type":"sts","policy-string":[],)"
        R"("policy-domain":"example.net","mx-host":["mx.example.net"]},"summary":{"total-successful-session-count":1,)"
        R"("total-failure-session-count":0},"failure-details":[]}],"quirks":["mx-host-string","contact-info-missing"],)"
        R"("source":{"input":"dir/x.json","kind":"json","gzip":false,"part":null,"filename":null,"media-type":null,)"
        R"("transfer-encoding":null,"tls-report-domain":null,"tls-report-submitter":null,"subject":null,"message-id":null}})");
  std::string pretty;
  pipeline::append_json(pretty, result.reports[0], "dir/x.json", true);
  CHECK(pretty.find("{\n  \"organization-name\": \"O\",\n  \"date-range\": {\n    \"start-datetime\"") == 0);
  CHECK(pretty.find("\"policy-string\": [],") != std::string::npos);
}

TEST_CASE("JSON literals for untrusted bytes are valid UTF-8 without U+0000") {
  CHECK(pipeline::json_literal_for_bytes("mx.example") == "\"mx.example\"");
  CHECK(pipeline::json_literal_for_bytes(std::string("a\"\\\xff\x01\0z", 7)) == "\"a\\\"\\\\\\u00ff\\u0001\\ufffdz\"");
}
