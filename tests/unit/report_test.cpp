#include <doctest/doctest.h>

#include <cstdlib>
#include <set>

#include "report/report.hpp"

using namespace tlsrpt::report;

TEST_CASE("date-times: RFC 3339 and the tolerated deviations") {
  auto dt = parse_datetime("2023-01-10T00:00:00Z");
  REQUIRE(dt);
  CHECK(dt->epoch == 1673308800);
  CHECK(dt->quirks.empty());
  CHECK(format_datetime(dt->epoch) == "2023-01-10T00:00:00Z");

  dt = parse_datetime("2023-01-10T00:00:00");  // Microsoft
  REQUIRE(dt);
  CHECK(dt->epoch == 1673308800);
  CHECK(dt->quirks.has(Quirk::datetime_no_timezone));

  dt = parse_datetime("2023-01-10T02:30:00+02:30");
  REQUIRE(dt);
  CHECK(dt->epoch == 1673308800);
  CHECK(dt->quirks.empty());

  dt = parse_datetime("2023-01-09t20:00:00.123-04:00");
  REQUIRE(dt);
  CHECK(format_datetime(dt->epoch) == "2023-01-10T00:00:00Z");

  dt = parse_datetime("2023-01-10");
  REQUIRE(dt);
  CHECK(dt->quirks.has(Quirk::datetime_date_only));
  dt = parse_datetime("2023-01-10 00:00:00Z");
  REQUIRE(dt);
  CHECK(dt->quirks.has(Quirk::datetime_space_separator));
  dt = parse_datetime("2016-12-31T23:59:60Z");  // leap second
  REQUIRE(dt);
  CHECK(format_datetime(dt->epoch) == "2016-12-31T23:59:59Z");
  CHECK(format_datetime(parse_datetime("2024-02-29T12:00:00Z")->epoch) == "2024-02-29T12:00:00Z");

  for (const char* bad : {"", "2023", "2023-02-29T00:00:00Z", "2023-13-01T00:00:00Z", "2023-01-10T24:00:00Z",
                          "2023-01-10T00:00Z", "2023-01-10T00:00:00+0200", "2023-01-10T00:00:00ZZ",
                          "1969-12-31T23:59:59Z", "2023-01-10X00:00:00Z", "2023-01-10T00:00:00.Z", "２０２３-01-10"})
    CHECK_MESSAGE(!parse_datetime(bad), bad);
}

TEST_CASE("domains are lower-cased, trailing dots dropped, junk refused") {
  QuirkSet q;
  std::string d = "MX1.Example.NET.";
  CHECK(normalise_domain(d, q));
  CHECK(d == "mx1.example.net");
  CHECK(q.has(Quirk::domain_trailing_dot));
  d = "xn--gpher-jua.test";
  QuirkSet q2;
  CHECK(normalise_domain(d, q2));
  CHECK(d == "xn--gpher-jua.test");
  CHECK(q2.empty());
  d = "b\xc3\xbc" "cher.example";
  CHECK(normalise_domain(d, q2));
  CHECK(q2.has(Quirk::idn_unicode));
  for (std::string bad : {"", "a b.example", "a/b", "x\ty", "."}) CHECK_MESSAGE(!normalise_domain(bad, q), bad);
}

TEST_CASE("policy-domain hints") {
  CHECK(domain_from_subject("Report Domain: example.net Submitter: google.com Report-ID: <x>") == "example.net");
  CHECK(domain_from_subject("report domain:   Example.NET") == "Example.NET");
  CHECK(domain_from_subject("Report") == "");
  CHECK(domain_from_subject("Report Domain: <script>") == "");
  CHECK(domain_from_filename("google.com!example.net!1583107200!1583193599!001.json.gz") == "example.net");
  CHECK(domain_from_filename("/x/y/mx.egressif.io!redacted.example.com!1730332800!1730419200.json.gz") ==
        "redacted.example.com");
  CHECK(domain_from_filename("report.json") == "");
  CHECK(domain_from_filename("a!b!c!d") == "");
  CHECK(domain_from_report_id("2025-09-20T00:00:00Z_idx1_mpi-klsb.mpg.de") == "mpi-klsb.mpg.de");
  CHECK(domain_from_report_id("133988091029006454+josh.scot") == "josh.scot");
  CHECK(domain_from_report_id("133944884956529435+") == "");
  CHECK(domain_from_report_id("1730332800_11732957880687192466") == "");
}

TEST_CASE("finish(): fills the policy-domain from the best hint, flags cross-field deviations") {
  Report r;
  r.report_id = "2026-01-01T00:00:00Z_from-id.example";
  r.start_datetime = 0;
  r.end_datetime = 86400;
  r.policies.emplace_back();
  DomainHints hints{"Header.Example", "Report Domain: subject.example", "a!file.example!1!2.json", {}};
  REQUIRE_FALSE(finish(r, hints));
  CHECK(r.policies[0].policy_domain == "header.example");
  CHECK(r.quirks.has(Quirk::policy_domain_from_header));
  CHECK(r.quirks.has(Quirk::end_datetime_exclusive));

  r.policies[0].policy_domain.clear();
  hints.header.clear();
  REQUIRE_FALSE(finish(r, hints));
  CHECK(r.policies[0].policy_domain == "subject.example");
  r.policies[0].policy_domain.clear();
  hints.subject.clear();
  REQUIRE_FALSE(finish(r, hints));
  CHECK(r.policies[0].policy_domain == "file.example");
  r.policies[0].policy_domain.clear();
  hints.filename.clear();
  REQUIRE_FALSE(finish(r, hints));
  CHECK(r.policies[0].policy_domain == "from-id.example");
  r.policies[0].policy_domain.clear();
  r.report_id = "opaque";
  auto rej = finish(r, hints);
  REQUIRE(rej);
  CHECK(rej->reason == Reason::missing_field);

  Report m;
  m.policies.emplace_back().policy_domain = "example.net";
  m.policies[0].total_failure_session_count = 3;
  m.policies[0].failure_details.emplace_back().failed_session_count = 2;
  REQUIRE_FALSE(finish(m, {}));
  CHECK(m.quirks.has(Quirk::failure_count_mismatch));
  m.end_datetime = -1;
  REQUIRE(finish(m, {}));
}

TEST_CASE("names: unique, kebab-case, round trip") {
  std::set<std::string_view> seen;
  for (const auto& r : all_reasons()) {
    CHECK(seen.insert(r.name).second);
    CHECK(r.name.find('_') == std::string_view::npos);
    CHECK(reason_from_string(r.name) == r.reason);
    CHECK(to_string(r.reason) == r.name);
  }
  for (const auto& q : all_quirks()) {
    CHECK(seen.insert(q.name).second);
    CHECK(quirk_from_string(q.name) == q.quirk);
  }
  CHECK_FALSE(reason_from_string("nope"));
  CHECK(to_string(Reason::no_report_part) == "no-report-part");
}

TEST_CASE("limits: defaults, NAME=VALUE overrides, environment") {
  Limits l;
  CHECK(l.message_size == 20 * MiB);
  CHECK(l.json_depth == 16);
  CHECK_FALSE(set_limit(l, "message_size=5M"));
  CHECK(l.message_size == 5 * MiB);
  CHECK_FALSE(set_limit(l, "json-depth=64"));
  CHECK(l.json_depth == 64);
  CHECK_FALSE(set_limit(l, "INFLATED_SIZE=128K"));
  CHECK(l.inflated_size == 128 * KiB);
  CHECK(set_limit(l, "nope=1"));
  CHECK(set_limit(l, "json_depth"));
  CHECK(set_limit(l, "json_depth=-1"));
  CHECK(set_limit(l, "json_depth=0"));
  CHECK(set_limit(l, "json_depth=12X"));
  CHECK(set_limit(l, "message_size=99999999999999999999"));
  CHECK(set_limit(l, "message_size=20000000000G"));
  ::setenv("TLSRPT_LIMIT_POLICIES", "7", 1);
  CHECK_FALSE(apply_limit_environment(l));
  CHECK(l.policies == 7);
  ::setenv("TLSRPT_LIMIT_POLICIES", "many", 1);
  CHECK(apply_limit_environment(l));
  ::unsetenv("TLSRPT_LIMIT_POLICIES");
  CHECK(all_limits().size() == 13);
}

TEST_CASE("printable() keeps rejection details to one safe line") {
  CHECK(printable("ok") == "'ok'");
  CHECK(printable("a\nb\x01\xff") == "'a\\x0ab\\x01\\xff'");
  CHECK(printable(std::string(100, 'x'), 4) == "'xxxx...'");
}

TEST_CASE("IP addresses: IPv4 and IPv6 text forms") {
  for (const char* ok : {"192.0.2.1", "0.0.0.0", "255.255.255.255", "2001:db8::1", "::", "::1", "fe80::",
                         "2001:0db8:0000:0000:0000:ff00:0042:8329", "::ffff:192.0.2.128", "1:2:3:4:5:6:7::",
                         "1:2:3:4:5:6:1.2.3.4", "2001:DB8::A"})
    CHECK_MESSAGE(is_ip_address(ok), ok);
  for (const char* bad : {"", "x.x.x.x", "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.4 ", ":", ":::",
                          "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", ":1:2", "1:", "g::1",
                          "fe80::1%eth0", "::1.2.3", "1:2:3:4:5:6:7:1.2.3.4"})
    CHECK_MESSAGE(!is_ip_address(bad), bad);
}

#include <arpa/inet.h>

#include <random>

TEST_CASE("is_ip_address agrees with inet_pton on random strings") {
  std::mt19937 rng(12345);
  const std::string alphabet = "0123456789abcdefABCDEF:.:.:.12";
  int agreed = 0, valid = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string s;
    const int len = static_cast<int>(rng() % 24);
    for (int k = 0; k < len; ++k) s += alphabet[rng() % alphabet.size()];
    unsigned char buf[16];
    const bool libc = inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
    CHECK_MESSAGE(libc == is_ip_address(s), s);
    agreed += libc == is_ip_address(s);
    valid += libc;
  }
  MESSAGE(agreed << " agreements, " << valid << " valid addresses among them");
}
