#include <doctest/doctest.h>
#include "json/text.hpp"

#include "helpers.hpp"
#include "pipeline/output.hpp"

using namespace tlsrpt;

TEST_CASE("JSON strings are escaped per RFC 8259") {
  std::string out;
  json::append_string(out, std::string("a\"b\\c\n\x01\t\xc3\xa9", 10));
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
  CHECK(json::string_of_bytes("mx.example") == "\"mx.example\"");
  CHECK(json::string_of_bytes(std::string("a\"\\\xff\x01\0z", 7)) == "\"a\\\"\\\\\\u00ff\\u0001\\ufffdz\"");
}

TEST_CASE("the one JSON writer: objects, arrays, nulls, raw values, both string inputs") {
  std::string out;
  json::Writer w(out, false, json::Input::bytes);
  w.begin_object();
  w.field("name", std::string_view("a\xff"));
  w.key("list");
  w.strings({"x", "y"});
  w.key("inner");
  w.raw(R"({"k":1})");
  w.key("none");
  w.null();
  w.field("n", std::int64_t{-3});
  w.end_object();
  CHECK(out == R"({"name":"a\u00ff","list":["x","y"],"inner":{"k":1},"none":null,"n":-3})");
  CHECK(json::string(std::string("\0", 1)) == "\"\\u0000\"");  // utf8 input keeps U+0000 as itself
}
