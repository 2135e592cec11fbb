#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <set>

#include "helpers.hpp"
#include "pipeline/pipeline.hpp"

using namespace tlsrpt;
namespace fs = std::filesystem;
using report::Quirk;
using report::Reason;

namespace {

pipeline::Result parse_file(const fs::path& p, const report::Limits& limits = {}) {
  return pipeline::parse(test::read_file(p), p.filename().string(), limits);
}

std::string stem_before(const fs::path& p, char stop) {
  const std::string name = p.filename().string();
  return name.substr(0, name.find_first_of(std::string(1, stop) + "."));
}

// Rejections that need more than a small file (or lowered limits) to show.
std::map<Reason, std::pair<std::string, report::Limits>> generated_rejections() {
  std::map<Reason, std::pair<std::string, report::Limits>> out;
  report::Limits l;
  const std::string report = test::report_json();
  l.message_size = 100;
  out[Reason::message_too_large] = {report, l};
  l = {};
  l.header_size = 64;
  out[Reason::header_too_large] = {"Subject: " + std::string(100, 'x') + "\n\nbody", l};
  std::string deep;
  for (int i = 0; i < 12; ++i) deep += "Content-Type: message/rfc822\n\n";
  out[Reason::mime_too_deep] = {deep, {}};
  std::string many = "Content-Type: multipart/mixed; boundary=b\n\n";
  for (int i = 0; i < 100; ++i) many += "--b\n\nx\n";
  out[Reason::mime_too_many_parts] = {many, {}};
  l = {};
  l.decoded_size = 10;
  out[Reason::decoded_too_large] = {"Content-Type: application/tlsrpt+json\n\n" + report, l};
  l = {};
  l.inflated_size = 100;
  out[Reason::inflated_too_large] = {test::gzip(report), l};
  l = {};
  l.policies = 0;
  out[Reason::too_many_policies] = {report, l};
  l = {};
  l.failure_details = 0;
  out[Reason::too_many_failure_details] = {report, l};
  l = {};
  l.string_length = 3;
  out[Reason::string_too_long] = {report, l};
  l = {};
  l.rollup_rows = 0;
  out[Reason::too_many_rollup_rows] = {report, l};
  return out;
}

}  // namespace

TEST_CASE("every quirk has a fixture that shows it, and each fixture shows its quirk") {
  std::set<std::string> covered;
  for (const auto& e : fs::directory_iterator(test::fixture_dir() + "/quirks")) {
    const std::string quirk = stem_before(e.path(), '.');
    CAPTURE(e.path().filename().string());
    REQUIRE(report::quirk_from_string(quirk));
    const auto result = parse_file(e.path());
    REQUIRE(result.accepted());
    bool shown = false;
    for (const auto& p : result.reports) shown |= p.report.quirks.has(*report::quirk_from_string(quirk));
    CHECK(shown);
    covered.insert(quirk);
  }
  for (const auto& q : report::all_quirks()) CHECK_MESSAGE(covered.count(std::string(q.name)), "no fixture for quirk ", q.name);
}

TEST_CASE("every rejection reason is shown by a fixture or a generated input") {
  std::set<Reason> covered;
  for (const auto& e : fs::directory_iterator(test::fixture_dir() + "/reject")) {
    CAPTURE(e.path().filename().string());
    const auto reason = report::reason_from_string(stem_before(e.path(), '_'));
    REQUIRE(reason);
    const auto result = parse_file(e.path());
    REQUIRE_FALSE(result.accepted());
    REQUIRE(result.rejections.size() == 1);
    CHECK(report::to_string(result.rejections[0].reason) == report::to_string(*reason));
    CHECK_FALSE(result.rejections[0].detail.empty());
    covered.insert(*reason);
  }
  for (const auto& [reason, input] : generated_rejections()) {
    CAPTURE(report::to_string(reason));
    const auto result = pipeline::parse(input.first, "", input.second);
    REQUIRE_FALSE(result.accepted());
    CHECK(report::to_string(result.rejections[0].reason) == report::to_string(reason));
    covered.insert(reason);
  }
  // Given at intake by dkim::Gate, not by the pipeline: tests/integration/dkim_test.sh shows them.
  covered.insert(Reason::dkim_not_authenticated);
  covered.insert(Reason::dkim_temperror);
  for (const auto& r : report::all_reasons()) CHECK_MESSAGE(covered.count(r.reason), "no test for reason ", r.name);
}

TEST_CASE("message layouts parse cleanly") {
  for (const auto& e : fs::directory_iterator(test::fixture_dir() + "/messages")) {
    CAPTURE(e.path().filename().string());
    const std::string bytes = test::read_file(e.path());
    for (auto message : pipeline::split_mbox(bytes)) {
      const auto result = pipeline::parse(message, e.path().filename().string(), {});
      REQUIRE(result.accepted());
      CHECK(result.rejections.empty());
      for (const auto& p : result.reports) {
        CHECK(p.report.policies[0].total_successful_session_count == 120);
        for (Quirk q : {Quirk::single_part_message, Quirk::not_multipart_report, Quirk::forwarded_message,
                        Quirk::media_type_mismatch, Quirk::report_part_rejected})
          CHECK_FALSE(p.report.quirks.has(q));
      }
    }
  }
}

TEST_CASE("origin: where a report came from") {
  const auto result = parse_file(test::fixture_dir() + "/messages/two-reports.eml");
  REQUIRE(result.reports.size() == 2);
  const auto& o = result.reports[1].origin;
  CHECK(o.kind == pipeline::InputKind::message);
  CHECK(o.part == "3");
  CHECK(o.filename == "b.json.gz");
  CHECK(o.media_type == "application/tlsrpt+gzip");
  CHECK(o.transfer_encoding == "base64");
  CHECK(o.gzip);
  CHECK(o.headers.tls_report_domain == "example.net");
  CHECK(o.headers.tls_report_submitter == "reporter.example");
  CHECK(result.reports[1].report.policies[0].policy_domain == "example.org");

  const auto fwd = parse_file(test::fixture_dir() + "/quirks/forwarded-message.eml");
  REQUIRE(fwd.reports.size() == 1);
  CHECK(fwd.reports[0].origin.part == "2.1.2");
  CHECK(fwd.reports[0].origin.headers.tls_report_domain == "example.net");  // the inner message's
}

TEST_CASE("input kind comes from content, not the file name") {
  const std::string report = test::report_json();
  CHECK(pipeline::detect(report) == pipeline::InputKind::json);
  CHECK(pipeline::detect("\xEF\xBB\xBF \n" + report) == pipeline::InputKind::json);
  CHECK(pipeline::detect(test::gzip(report)) == pipeline::InputKind::gzip);
  CHECK(pipeline::detect("From: a@b\n\n") == pipeline::InputKind::message);
  const auto r = pipeline::parse(test::gzip(report), "misleading-name.eml", {});
  REQUIRE(r.accepted());
  CHECK(r.reports[0].origin.kind == pipeline::InputKind::gzip);
}

TEST_CASE("mbox splitting") {
  CHECK(pipeline::split_mbox("From: a\n\nx").size() == 1);
  const auto parts = pipeline::split_mbox("From a@b Mon\nSubject: 1\n\nx\nFrom a@b Tue\nSubject: 2\n\ny\n");
  REQUIRE(parts.size() == 2);
  CHECK(parts[0] == "Subject: 1\n\nx\n");
  CHECK(parts[1] == "Subject: 2\n\ny\n");
}

TEST_CASE("a report with a policy-domain taken from the file name of a bare file") {
  const std::string json = test::report_json().replace(test::report_json().find("\"policy-domain\":\"example.net\","), 30, "");
  const auto r = pipeline::parse(json, "/tmp/google.com!named.example!1!2!001.json", {});
  REQUIRE(r.accepted());
  CHECK(r.reports[0].report.policies[0].policy_domain == "named.example");
  CHECK(r.reports[0].report.quirks.has(Quirk::policy_domain_from_filename));
}

TEST_CASE("a DANE policy that names an MX host of the report's domain is counted under that domain") {
  // Shaped like tlsrpt-reporter's output with Postfix 3.10: the TLSA base domain (the MX host)
  // as policy-domain; the report's domain comes from the file name here.
  const auto dane = [](const std::string& host, const std::string& type = "tlsa") {
    std::string json = test::report_json(R"([])", host);
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"\"policy-type\":\"sts\"", "\"policy-type\":\"" + type + "\""},
                                   {"\"total-failure-session-count\":2", "\"total-failure-session-count\":0"}})
      json.replace(json.find(from), from.size(), to);
    return json;
  };
  const std::string file = "/tmp/reporter.example!example.net!1767225600!1767311999!1.json";
  const auto under = pipeline::parse(dane("mx1.example.net"), file, {});
  REQUIRE(under.accepted());
  const report::Policy& p = under.reports[0].report.policies[0];
  CHECK(p.policy_domain == "example.net");
  CHECK(p.written_domain == "mx1.example.net");
  CHECK(p.mx_host == std::vector<std::string>{"mx.example.net", "mx1.example.net"});  // the host kept
  CHECK(under.reports[0].report.quirks.has(Quirk::policy_domain_mx_host));

  // A provider's MX host: only when it is known as an MX of the report's domain.
  const auto unrelated = pipeline::parse(dane("mx.hoster.example"), file, {});
  REQUIRE(unrelated.accepted());
  CHECK(unrelated.reports[0].report.policies[0].policy_domain == "mx.hoster.example");
  CHECK(unrelated.reports[0].report.policies[0].written_domain.empty());
  CHECK_FALSE(unrelated.reports[0].report.quirks.has(Quirk::policy_domain_mx_host));
  const report::MxOf mx_of = [](std::string_view domain, std::string_view host) {
    return domain == "example.net" && host == "mx.hoster.example";
  };
  const auto known = pipeline::parse(dane("mx.hoster.example"), file, {}, mx_of);
  CHECK(known.reports[0].report.policies[0].policy_domain == "example.net");
  CHECK(known.reports[0].report.quirks.has(Quirk::policy_domain_mx_host));
  const auto other = pipeline::parse(dane("mx.hoster.example"), "/tmp/r!other.example!1!2!1.json", {}, mx_of);
  CHECK(other.reports[0].report.policies[0].policy_domain == "mx.hoster.example");

  // Only DANE policies; and without a report domain nothing moves.
  CHECK(pipeline::parse(dane("mx1.example.net", "sts"), file, {}).reports[0].report.policies[0].policy_domain ==
        "mx1.example.net");
  CHECK(pipeline::parse(dane("mx1.example.net"), "", {}).reports[0].report.policies[0].policy_domain == "mx1.example.net");
  // A look-alike that does not lie under the domain stays.
  CHECK(pipeline::parse(dane("mx1.notexample.net"), file, {}).reports[0].report.policies[0].policy_domain ==
        "mx1.notexample.net");
}

TEST_CASE("report-wide limits: failure-details of all policies together, and rollup rows") {
  // Two policies of 3 failure-details each: within failure_details per policy, over 5 in all.
  std::string policy = R"({"policy":{"policy-type":"sts","policy-string":["mode: enforce"],"policy-domain":"DOMAIN",)"
                       R"("mx-host":["mx.example.net"]},"summary":{"total-successful-session-count":5,)"
                       R"("total-failure-session-count":3},"failure-details":[)"
                       R"({"result-type":"certificate-expired","receiving-mx-hostname":"mx1.example.net","failed-session-count":1},)"
                       R"({"result-type":"certificate-expired","receiving-mx-hostname":"mx2.example.net","failed-session-count":1},)"
                       R"({"result-type":"certificate-expired","receiving-mx-hostname":"mx2.example.net","failed-session-count":1}]})";
  auto with_domain = [&](const std::string& d) {
    std::string p = policy;
    p.replace(p.find("DOMAIN"), 6, d);
    return p;
  };
  const std::string two = R"({"organization-name":"o","date-range":{"start-datetime":"2024-01-01T00:00:00Z",)"
                          R"("end-datetime":"2024-01-01T23:59:59Z"},"contact-info":"c","report-id":"r","policies":[)" +
                          with_domain("a.example") + "," + with_domain("b.example") + "]}";
  report::Limits l;
  l.failure_details = 3;
  l.report_failure_details = 6;
  auto r = pipeline::parse(two, "", l);
  REQUIRE(r.accepted());
  // Per domain: success, failure, and two (result, MX) pairs (the repeated pair is one row).
  CHECK(report::rollup_rows(r.reports[0].report) == 8);
  l.report_failure_details = 5;
  r = pipeline::parse(two, "", l);
  REQUIRE(r.rejections.size() == 1);
  CHECK(r.rejections[0].reason == Reason::too_many_failure_details);
  l = {};
  l.rollup_rows = 7;
  r = pipeline::parse(two, "", l);
  REQUIRE(r.rejections.size() == 1);
  CHECK(r.rejections[0].reason == Reason::too_many_rollup_rows);
  l.rollup_rows = 8;
  CHECK(pipeline::parse(two, "", l).accepted());
}
