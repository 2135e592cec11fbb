#include <doctest/doctest.h>

#include <set>

#include "policy/policy.hpp"

using namespace tlsrpt::policy;

namespace {

template <class T>
Finding problem(const std::variant<T, Problem>& v) {
  REQUIRE(std::holds_alternative<Problem>(v));
  return std::get<Problem>(v).finding;
}

StsPolicy ok_policy(std::string_view text) {
  const auto v = parse_sts_policy(text);
  if (const auto* p = std::get_if<Problem>(&v)) FAIL(p->detail);
  return std::get<StsPolicy>(v);
}

}  // namespace

TEST_CASE("findings: kebab-case names, unique, a severity and a description each") {
  std::set<std::string_view> names;
  for (const auto& f : all_findings()) {
    CHECK(names.insert(f.name).second);
    CHECK(f.name.find('_') == std::string_view::npos);
    CHECK_FALSE(f.description.empty());
    CHECK(finding_from_string(f.name) == f.finding);
  }
  CHECK(to_string(Finding::mx_cert_expired) == "mx-cert-expired");
  CHECK(info(Finding::mx_cert_expiring).severity == Severity::warning);
  CHECK(info(Finding::check_incomplete).severity == Severity::error);
  CHECK_FALSE(finding_from_string("mx_cert_expired"));
}

TEST_CASE("_mta-sts records: exactly one v=STSv1 with a valid id") {
  auto id = [](std::vector<std::string> r) {
    const auto v = parse_sts_records(r);
    REQUIRE(std::holds_alternative<StsRecord>(v));
    return std::get<StsRecord>(v).id;
  };
  CHECK(id({"v=STSv1; id=20160831085700Z;"}) == "20160831085700Z");
  CHECK(id({"v=STSv1;id=abc"}) == "abc");
  CHECK(id({"v=STSv1 ; id=abc ; ext.x=y;"}) == "abc");
  CHECK(id({"v=spf1 -all", "v=STSv1; id=a1"}) == "a1");  // other records are ignored
  CHECK(problem(parse_sts_records({})) == Finding::sts_record_missing);
  CHECK(problem(parse_sts_records({"v=spf1 -all", "v=STSv10; id=a"})) == Finding::sts_record_missing);
  CHECK(problem(parse_sts_records({"v=STSv1; id=a", "v=STSv1; id=b"})) == Finding::sts_record_multiple);
  CHECK(problem(parse_sts_records({"v=STSv1;"})) == Finding::sts_record_invalid);
  CHECK(problem(parse_sts_records({"v=STSv1; id="})) == Finding::sts_record_invalid);
  CHECK(problem(parse_sts_records({"v=STSv1; id=" + std::string(33, 'a')})) == Finding::sts_record_invalid);
  CHECK(problem(parse_sts_records({"v=STSv1; id=2024-01-01"})) == Finding::sts_record_invalid);
  CHECK(problem(parse_sts_records({"v=STSv1; id=a;; x=y"})) == Finding::sts_record_invalid);
  CHECK(problem(parse_sts_records({"v=STSv1; id a"})) == Finding::sts_record_invalid);
  CHECK(problem(parse_sts_records({"v=STSv1 id=a"})) == Finding::sts_record_invalid);  // the ";" is required
}

TEST_CASE("MTA-STS policy text (RFC 8461 3.2)") {
  const auto p = ok_policy("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n");
  CHECK(p.mode == Mode::enforce);
  CHECK(p.max_age == 604800);
  CHECK(p.mx == std::vector<std::string>{"mail.example.com", "*.example.net"});
  // CRLF lines, no final newline, spaces after the colon and at the end, unknown keys.
  const auto q = ok_policy("version: STSv1\r\nmode:testing\r\nmx:   MX.Example.COM  \r\nfoo: bar\r\nmax_age: 86400");
  CHECK(q.mode == Mode::testing);
  CHECK(q.mx == std::vector<std::string>{"mx.example.com"});
  // The first value of a repeated key wins (except mx).
  CHECK(ok_policy("version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 1\n").mode == Mode::testing);
  // mode none needs no mx.
  CHECK(ok_policy("version: STSv1\nmode: none\nmax_age: 86400\n").mx.empty());
  CHECK(ok_policy("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557600\n").max_age == 31557600);
  for (const char* bad : {
           "mode: enforce\nmx: a.example\nmax_age: 1\n",                        // no version
           "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",        // wrong version
           "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n",        // values are case-sensitive
           "version: STSv1\nmode: enforce\nmax_age: 1\n",                       // no mx
           "version: STSv1\nmode: enforce\nnmx: a.example\nmax_age: 1\n",       // the typo that drops every mx
           "version: STSv1\nmode: enforce\nmx: a.example\n",                    // no max_age
           "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", // more than a year
           "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
           "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n",
           "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n",
           "version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n",
           "version: STSv1\nmode: enforce\nmx: a.example:25\nmax_age: 1\n",
           "version: STSv1\nmode: enforce\nmx a.example\nmax_age: 1\n",        // no colon
           "version: STSv1\n\nmode: enforce\nmx: a.example\nmax_age: 1\n",      // an empty line inside
           "version: STSv1\nmode: enforce\x01\nmx: a.example\nmax_age: 1\n",
           "",
       }) {
    CAPTURE(bad);
    CHECK(problem(parse_sts_policy(bad)) == Finding::sts_policy_invalid);
  }
  CHECK(problem(parse_sts_policy(std::string(max_policy_size + 1, 'a'))) == Finding::sts_policy_too_large);
}

TEST_CASE("_smtp._tls records (RFC 8460 3)") {
  auto rua = [](std::vector<std::string> r) {
    const auto v = parse_tlsrpt_records(r);
    if (const auto* p = std::get_if<Problem>(&v)) FAIL(p->detail);
    return std::get<TlsrptRecord>(v).rua;
  };
  CHECK(rua({"v=TLSRPTv1; rua=mailto:tls@example.net"}) == std::vector<std::string>{"mailto:tls@example.net"});
  CHECK(rua({"v=TLSRPTv1;rua=mailto:a@x.example, https://r.example/tlsrpt;"}) ==
        std::vector<std::string>{"mailto:a@x.example", "https://r.example/tlsrpt"});
  CHECK(rua({"other", "v=TLSRPTv1; rua=MAILTO:a@x.example; ext=1"}).size() == 1);
  CHECK(problem(parse_tlsrpt_records({"v=spf1"})) == Finding::tlsrpt_record_missing);
  CHECK(problem(parse_tlsrpt_records({"v=TLSRPTv1; rua=mailto:a@b", "v=TLSRPTv1; rua=mailto:c@d"})) ==
        Finding::tlsrpt_record_invalid);
  CHECK(problem(parse_tlsrpt_records({"v=TLSRPTv1;"})) == Finding::tlsrpt_record_invalid);
  CHECK(problem(parse_tlsrpt_records({"v=TLSRPTv1; rua=ftp://x"})) == Finding::tlsrpt_record_invalid);
  CHECK(problem(parse_tlsrpt_records({"v=TLSRPTv1; rua=mailto:"})) == Finding::tlsrpt_record_invalid);
  CHECK(problem(parse_tlsrpt_records({"v=TLSRPTv1; rua=mailto:a@b; rua=mailto:c@d"})) == Finding::tlsrpt_record_invalid);
}

TEST_CASE("rua addresses and MX patterns") {
  CHECK(rua_names("mailto:TLS@Example.NET", "tls@example.net"));
  CHECK(rua_names("mailto:tls%40example.net", "tls@example.net"));  // RFC 6068: %-escapes decode
  CHECK(rua_names("mailto:tls@example.net!10m", "tls@example.net"));
  CHECK(rua_names("mailto:t%6Cs@example.net", "tls@example.net"));
  CHECK_FALSE(rua_names("https://example.net/tlsrpt", "tls@example.net"));
  CHECK_FALSE(rua_names("mailto:other@example.net", "tls@example.net"));
  CHECK(mx_matches("mail.example.com", "MAIL.example.com."));
  CHECK(mx_matches("*.example.net", "mx1.example.net"));
  CHECK_FALSE(mx_matches("*.example.net", "example.net"));
  CHECK_FALSE(mx_matches("*.example.net", "a.b.example.net"));
  CHECK_FALSE(mx_matches("*.example.net", ".example.net"));
  CHECK_FALSE(mx_matches("mail.example.com", "mail.example.org"));
  CHECK_FALSE(mx_matches("", ""));
}

TEST_CASE("domain names as the settings and the API take them") {
  CHECK(normalize_domain("Example.NET.") == std::optional<std::string>("example.net"));
  CHECK(normalize_domain("_smtp._tls.example.net") == std::optional<std::string>("_smtp._tls.example.net"));
  CHECK(normalize_domain("mx-1.example.net") == std::optional<std::string>("mx-1.example.net"));
  for (const char* bad : {"", ".", "example", "a..b", ".example.net", "example.net..", "exa mple.net", "ex@mple.net",
                          "ex/ample.net", "bad\xff.example"})
    CHECK_MESSAGE(!normalize_domain(bad), bad);
  CHECK(normalize_domain(std::string(63, 'a') + ".net"));
  CHECK(!normalize_domain(std::string(64, 'a') + ".net"));
  std::string long_name;
  while (long_name.size() < 250) long_name += "abcdefghi.";
  CHECK(normalize_domain(long_name + "net"));    // 253 characters: the most a name may have
  CHECK(!normalize_domain(long_name + "nets"));  // 254
}
