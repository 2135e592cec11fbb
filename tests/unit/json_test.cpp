#include <doctest/doctest.h>
#include <sys/resource.h>

#include <chrono>

#include "helpers.hpp"
#include "json/reader.hpp"

using namespace tlsrpt;
using report::Quirk;
using report::Reason;

namespace {
report::Report ok(const std::string& text, report::Limits limits = {}) {
  auto r = json::read_report(text, limits);
  if (auto* rej = std::get_if<report::Rejection>(&r)) FAIL("rejected: " << report::to_string(rej->reason) << ": " << rej->detail);
  return std::get<report::Report>(r);
}
report::Rejection bad(const std::string& text, report::Limits limits = {}) {
  auto r = json::read_report(text, limits);
  REQUIRE(std::holds_alternative<report::Rejection>(r));
  return std::get<report::Rejection>(r);
}
}  // namespace

TEST_CASE("a clean report reads into normalised values with no quirks") {
  const auto r = ok(test::report_json());
  CHECK(r.organization_name == "Org");
  CHECK(r.report_id == "id-1");
  CHECK(r.start_datetime == 1767225600);
  REQUIRE(r.policies.size() == 1);
  const auto& p = r.policies[0];
  CHECK(p.policy_type == "sts");
  CHECK(p.policy_domain == "example.net");
  CHECK(p.mx_host == std::vector<std::string>{"mx.example.net"});
  CHECK(p.total_successful_session_count == 10);
  REQUIRE(p.failure_details.size() == 1);
  using F = report::FailureDetail;
  CHECK(p.failure_details[0].get(F::result_type) == "certificate-expired");
  CHECK(p.failure_details[0].optional(F::sending_mta_ip) == "192.0.2.1");
  CHECK_FALSE(p.failure_details[0].has(F::receiving_ip));
  CHECK(p.failure_details[0].get(F::receiving_ip).empty());
  CHECK(r.quirks.empty());
}

TEST_CASE("types and values are checked with a path in the detail") {
  auto r = bad(test::report_json(R"([{"result-type":"x","failed-session-count":"2"}])"));
  CHECK(r.reason == Reason::wrong_type);
  CHECK(r.detail == "policies[0].failure-details[0].failed-session-count: expected an integer, got a string");
  r = bad(test::report_json(R"([{"result-type":"x","failed-session-count":-2}])"));
  CHECK(r.reason == Reason::count_out_of_range);
  r = bad(test::report_json(R"([{"result-type":"x","failed-session-count":18446744073709551615}])"));
  CHECK(r.reason == Reason::count_out_of_range);
  r = bad(test::report_json(R"([{"result-type":"x","failed-session-count":1e30}])"));
  CHECK(r.reason == Reason::count_out_of_range);
  r = bad(test::report_json(R"([{"result-type":"x","failed-session-count":2.5}])"));
  CHECK(r.reason == Reason::wrong_type);
  r = bad(test::report_json(R"([{"failed-session-count":2}])"));
  CHECK(r.reason == Reason::missing_field);
  CHECK(r.detail == "policies[0].failure-details[0].result-type");
  r = bad(test::report_json(R"({})"));
  CHECK(r.reason == Reason::wrong_type);
  r = bad("[]");
  CHECK(r.reason == Reason::not_an_object);
  r = bad("\"text\"");
  CHECK(r.reason == Reason::not_an_object);
  r = bad("{\"a\":1");
  CHECK(r.reason == Reason::invalid_json);
  r = bad("{\"organization-name\":\"\xc3\x28\"}");
  CHECK(r.reason == Reason::invalid_utf8);
  r = bad("");
  CHECK(r.reason == Reason::invalid_json);
}

TEST_CASE("the largest count accepted is 2^63-1") {
  const auto r = ok(test::report_json(R"([{"result-type":"x","failed-session-count":9223372036854775807}])"));
  CHECK(r.policies[0].failure_details[0].failed_session_count == INT64_MAX);
}

TEST_CASE("limits on policies, failure-details, strings and depth") {
  report::Limits l;
  l.failure_details = 1;
  CHECK(bad(test::report_json(R"([{"result-type":"a","failed-session-count":1},{"result-type":"b","failed-session-count":1}])"), l).reason ==
        Reason::too_many_failure_details);
  l = {};
  l.policies = 0;
  CHECK(bad(test::report_json(), l).reason == Reason::too_many_policies);
  l = {};
  l.string_length = 5;
  CHECK(bad(test::report_json(), l).reason == Reason::string_too_long);
  l = {};
  l.json_depth = 4;
  CHECK(bad(test::report_json(), l).reason == Reason::json_too_deep);
}

TEST_CASE("200,000 levels of nesting are rejected fast and in little memory") {
  const std::string deep = "{\"x\":" + std::string(200000, '[') + std::string(200000, ']') + "}";
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = bad(deep);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  CHECK(r.reason == Reason::json_too_deep);
  if (test::sanitized) {
    MESSAGE("skipped: time and memory bounds (sanitizer build)");
  } else {
    CHECK(seconds < 0.5);
    CHECK((after.ru_maxrss - before.ru_maxrss) / 1024 < 64);
  }
}

TEST_CASE("quirks are recorded, values normalised") {
  auto r = ok(R"({"organization-name":"O","date-range":{"start-datetime":"2024-03-26T00:00:00",
     "end-datetime":"2024-03-27T00:00:00Z"},"contact-info":null,"report-id":"i","policies":[{"policy":{
     "policy-type":"tlsa","policy-string":["[\"3 1 1 AA\",\"3 1 1 BB\"]"],"policy-domain":"Example.NET.",
     "mx-host":"mx: MX.Example.net"},"summary":{"total-successful-session-count":1,
     "total-failure-session-count":1},"failure-details":[{"result-type":"Testing","failed-session-count":1,
     "receiving-mx-host-name":"MX.Example.net.","additional-info-uri":"u","sending-mta-ip":"x.x.x.x",
     "x-extra":1}]}]})");
  for (Quirk q : {Quirk::datetime_no_timezone, Quirk::contact_info_null, Quirk::policy_string_json_array,
                  Quirk::domain_trailing_dot, Quirk::mx_host_string, Quirk::mx_host_policy_line,
                  Quirk::unknown_result_type, Quirk::key_receiving_mx_host_name, Quirk::key_additional_info_uri,
                  Quirk::invalid_ip_address, Quirk::unknown_key})
    CHECK_MESSAGE(r.quirks.has(q), report::to_string(q));
  const auto& p = r.policies[0];
  CHECK(p.policy_string == std::vector<std::string>{"3 1 1 AA", "3 1 1 BB"});
  CHECK(p.policy_domain == "example.net");
  CHECK(p.mx_host == std::vector<std::string>{"mx.example.net"});
  using F = report::FailureDetail;
  CHECK(p.failure_details[0].get(F::result_type) == "Testing");
  CHECK(p.failure_details[0].get(F::receiving_mx_hostname) == "mx.example.net");
  CHECK(p.failure_details[0].get(F::additional_information) == "u");
  CHECK(p.failure_details[0].get(F::sending_mta_ip) == "x.x.x.x");
  CHECK_FALSE(r.quirks.has(Quirk::failure_detail_minimal));
}

TEST_CASE("a string that only looks like a JSON array stays as it came") {
  auto r = ok(test::report_json().replace(test::report_json().find("[\"version: STSv1\"]"), 18, R"(["[not json]"])"));
  CHECK(r.policies[0].policy_string == std::vector<std::string>{"[not json]"});
  CHECK_FALSE(r.quirks.has(Quirk::policy_string_json_array));
}

TEST_CASE("failure-detail fields: null is absent, each field kept apart, U+0000 replaced") {
  using F = report::FailureDetail;
  auto r = ok(test::report_json(R"([{"result-type":"starttls-not-supported","sending-mta-ip":null,
    "receiving-ip":"2001:db8::25","failed-session-count":4,"failure-reason-code":"a\u0000b",
    "additional-information":"https://example.net/x"}])"));
  const auto& fd = r.policies[0].failure_details[0];
  CHECK_FALSE(fd.has(F::sending_mta_ip));
  CHECK(fd.get(F::receiving_ip) == "2001:db8::25");
  CHECK(fd.get(F::failure_reason_code) == "a\xEF\xBF\xBD" "b");
  CHECK(fd.get(F::additional_information) == "https://example.net/x");
  CHECK(fd.failed_session_count == 4);
  CHECK(r.quirks.has(Quirk::nul_in_string));
  CHECK_FALSE(r.quirks.has(Quirk::invalid_ip_address));
  CHECK(bad(test::report_json(R"([{"result-type":null,"failed-session-count":1}])")).reason == Reason::wrong_type);
}
