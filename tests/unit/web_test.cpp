// The web pages' pure parts (server/web): cookies, URL encoding, sessions, the hints beside the
// enums, and rendering attacker-controlled JSON as inert text.
#include <doctest/doctest.h>

#include <string>

#include "policy/finding.hpp"
#include "report/report.hpp"
#include "web/pages.hpp"
#include "web/sessions.hpp"

using namespace tlsrpt;

TEST_CASE("cookie_value: finds a cookie among several, exactly by name") {
  CHECK(web::cookie_value("a=1; tlsrpt_session=abc; b=2", "tlsrpt_session") == "abc");
  CHECK(web::cookie_value("xtlsrpt_session=abc", "tlsrpt_session") == std::nullopt);
  CHECK(web::cookie_value("tlsrpt_session=", "tlsrpt_session") == "");
  CHECK(web::cookie_value("", "a") == std::nullopt);
  CHECK(web::cookie_value("a", "a") == std::nullopt);
}

TEST_CASE("set_cookie: HttpOnly and SameSite=Strict always, Secure over TLS only") {
  const auto plain = web::set_cookie("s", "v", "/", false, std::chrono::seconds(60));
  CHECK(plain == "s=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict");
  CHECK(web::set_cookie("s", "", "/login", true, std::chrono::seconds(0)) ==
        "s=; Path=/login; Max-Age=0; HttpOnly; SameSite=Strict; Secure");
}

TEST_CASE("url_encode: only unreserved characters pass") {
  CHECK(web::url_encode("mx1.example-net_~") == "mx1.example-net_~");
  CHECK(web::url_encode("a b/\"<>&?=%") == "a%20b%2F%22%3C%3E%26%3F%3D%25");
  CHECK(web::url_encode("b\xC3\xBC") == "b%C3%BC");
}

TEST_CASE("sessions: random ids, found until removed, unknown ids refused") {
  web::Sessions s;
  const auto a = s.create(true), b = s.create(false);
  CHECK(a.size() == 64);
  CHECK(a != b);
  REQUIRE(s.find(a));
  CHECK(s.find(a)->admin);
  CHECK_FALSE(s.find(b)->admin);
  CHECK(s.find(a)->csrf.size() == 64);
  CHECK(s.find(a)->csrf != s.find(b)->csrf);
  s.remove(a);
  CHECK_FALSE(s.find(a));
  CHECK_FALSE(s.find(std::string(64, '0')));
  CHECK_FALSE(s.find("short"));
  CHECK(web::same_secret("abc", "abc"));
  CHECK_FALSE(web::same_secret("abc", "abd"));
  CHECK_FALSE(web::same_secret("abc", "abcd"));
}

TEST_CASE("sessions: read logins filling their cap never end an admin's session") {
  web::Sessions s;
  const auto admin = s.create(true);
  const auto first_read = s.create(false);
  for (std::size_t i = 1; i < web::Sessions::max_sessions; ++i) s.create(false);  // the read cap is full
  CHECK(s.find(first_read));
  for (int i = 0; i < 50; ++i) s.create(false);  // past it: read sessions go, oldest first
  CHECK(s.find(admin));
  CHECK(s.find(admin)->admin);
  CHECK_FALSE(s.find(first_read));
  // The admin role has its own cap: an admin login still gets in and keeps the earlier one.
  const auto admin2 = s.create(true);
  CHECK(s.find(admin2));
  CHECK(s.find(admin));
}

TEST_CASE("hints: every registered result type and every finding has one") {
  CHECK(report::all_result_types().size() == 11);
  for (const auto& r : report::all_result_types()) {
    CHECK(report::is_registered_result_type(r.name));
    CHECK(r.hint.size() > 40);
    CHECK(report::result_type_hint(r.name) == r.hint);
  }
  CHECK(report::result_type_hint("x-custom").find("Not a result type of RFC 8460") == 0);
  for (const auto& f : policy::all_findings()) CHECK_MESSAGE(f.hint.size() > 30, f.name);
  CHECK(web::hints_json().find("\"certificate-host-mismatch\"") != std::string::npos);
}

TEST_CASE("pages: hostile text from a report is escaped, links stay on the site") {
  const std::string json = R"j({"id":7,"stored_at":"2026-12-01T00:00:00Z","quirks":["<i>q</i>"],
    "raw_message":{"id":3,"transport":"smtp","received_at":"2026-12-01T00:00:00Z","size":10,"sha256":"ab",
      "source":{"peer":"<script>alert(1)</script>"},"dkim":null},
    "policy_drift":[],
    "report":{"organization-name":"<script>alert(2)</script>","report-id":"\"onmouseover=\"x",
      "date-range":{"start-datetime":"a","end-datetime":"b"},
      "policies":[{"policy":{"policy-type":"sts","policy-domain":"x.example","policy-string":["mx: <b>"],
        "mx-host":["javascript:alert(3)"]},"summary":{"total-successful-session-count":1,
        "total-failure-session-count":1},"failure-details":[{"result-type":"<img src=x onerror=alert(4)>",
        "failed-session-count":1,"additional-information":"javascript:alert(5)"}]}]}})j";
  const std::string html = web::report_page(json, web::Frame{web::Viewer{true, true, "c"}, "/api/v1/reports/7"});
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(2)&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("&quot;onmouseover=&quot;x") != std::string::npos);
  CHECK(html.find("href=\"javascript") == std::string::npos);
  CHECK(html.find("href=\"/api/v1/messages/3/raw\"") != std::string::npos);  // admin: the raw link
  const std::string read = web::report_page(json, web::Frame{web::Viewer{false, true, "c"}, ""});
  CHECK(read.find("/api/v1/messages/3/raw") == std::string::npos);  // read: none
  CHECK_THROWS_AS(web::report_page("not json", web::Frame{}), std::runtime_error);
}

TEST_CASE("pages: a domain name in a link is percent-encoded") {
  const std::string json = R"j({"days":30,"from":"2026-11-02T00:00:00Z","sort":"name","q":"","page":1,"limit":50,
    "total":1,"pages":1,"domains":[{"policy_domain":"a\"b<c>.example",
    "monitored":false,"last_7_days":{"successful_sessions":0,"failed_sessions":0,"success_ratio":null},
    "range":{"successful_sessions":9,"failed_sessions":1,"success_ratio":0.9},"daily":[],"by_result_type":[],
    "newest_report":null,"organizations":[],"posture":null,"readiness":null}]})j";
  const std::string html = web::domains_page(json, web::Frame{}, "");
  CHECK(html.find("href=\"/domains/a%22b%3Cc%3E.example\"") != std::string::npos);
  CHECK(html.find("a&quot;b&lt;c&gt;.example") != std::string::npos);
  CHECK(html.find("90.0 %") != std::string::npos);
  CHECK(html.find("class=\"pager\"") == std::string::npos);  // one page: no page links
}

TEST_CASE("pages: the domain list links its pages with the same filter, sort, range and size") {
  const auto json = [](int page, int total) {
    return R"j({"days":90,"from":"2026-09-02T00:00:00Z","sort":"ratio","q":"ex","page":)j" + std::to_string(page) +
           R"j(,"limit":20,"total":)j" + std::to_string(total) + R"j(,"pages":)j" + std::to_string((total + 19) / 20) +
           R"j(,"domains":[]})j";
  };
  const std::string middle = web::domains_page(json(3, 100), web::Frame{}, "Ex");
  CHECK(middle.find("Page 3 of 5") != std::string::npos);
  CHECK(middle.find("href=\"/?q=Ex&amp;sort=ratio&amp;days=90&amp;limit=20&amp;page=2\" rel=\"prev\"") != std::string::npos);
  CHECK(middle.find("href=\"/?q=Ex&amp;sort=ratio&amp;days=90&amp;limit=20&amp;page=4\" rel=\"next\"") != std::string::npos);
  CHECK(middle.find("href=\"/?q=Ex&amp;sort=ratio&amp;days=90&amp;limit=20\">First") != std::string::npos);
  CHECK(middle.find("page=5\">Last") != std::string::npos);
  CHECK(middle.find("100 domain(s)") != std::string::npos);
  CHECK(middle.find("past the last page") != std::string::npos);  // (this JSON has no rows on page 3)
  const std::string last = web::domains_page(json(5, 100), web::Frame{}, "");
  CHECK(last.find("rel=\"next\"") == std::string::npos);
  CHECK(web::domains_page(json(1, 0), web::Frame{}, "zz").find("No domain name contains “zz”") != std::string::npos);
}
