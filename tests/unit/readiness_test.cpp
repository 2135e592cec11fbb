// The readiness verdict (server/readiness): decide() on evidence, each rule and its boundary.
#include <doctest/doctest.h>

#include <set>

#include "readiness/readiness.hpp"

using namespace tlsrpt::readiness;

namespace {

// A domain in testing that passes every threshold.
Evidence clean() {
  Evidence e;
  e.days_with_reports = 14;
  e.reporters = 2;
  e.sts_sessions = 10000;
  e.monitored = true;
  e.published_mode = "testing";
  e.reported_modes = {{"testing", 10000}};
  return e;
}

std::vector<std::string> names(const Decision& d) {
  std::vector<std::string> out;
  for (const auto& [r, detail] : d.reasons) out.emplace_back(to_string(r));
  return out;
}

}  // namespace

TEST_CASE("readiness: reason names are kebab-case, unique, documented") {
  std::set<std::string_view> seen;
  for (const auto& r : all_reasons()) {
    CHECK(r.name.find('_') == std::string_view::npos);
    CHECK(seen.insert(r.name).second);
    CHECK(!r.description.empty());
  }
  CHECK(to_string(Reason::no_policy_published) == "no-policy-published");
}

TEST_CASE("readiness: the thresholds, at and past their boundary") {
  const Thresholds t;
  CHECK(decide(clean(), t).verdict == Verdict::ready);
  CHECK(decide(clean(), t).reasons.empty());

  Evidence e = clean();
  e.days_with_reports = 13;
  CHECK(decide(e, t).verdict == Verdict::insufficient_data);
  CHECK(names(decide(e, t)) == std::vector<std::string>{"too-few-days"});

  e = clean();
  e.reporters = 1;
  CHECK(names(decide(e, t)) == std::vector<std::string>{"too-few-reporters"});

  e = clean();
  e.blocking_sessions = 10;  // exactly 0.1 %: allowed
  e.worst = "certificate-expired on mx2.example (10 sessions)";
  CHECK(decide(e, t).verdict == Verdict::ready);
  e.blocking_sessions = 11;
  CHECK(decide(e, t).verdict == Verdict::not_ready);
  CHECK(names(decide(e, t)) == std::vector<std::string>{"blocking-failures"});
  CHECK(decide(e, t).reasons[0].second.find("certificate-expired on mx2.example") != std::string::npos);
}

TEST_CASE("readiness: not-ready outranks insufficient data; posture and policy") {
  const Thresholds t;
  Evidence e = clean();
  e.days_with_reports = 3;
  e.posture_errors = {"mx-cert-expired@mx.example"};
  CHECK(decide(e, t).verdict == Verdict::not_ready);
  CHECK(names(decide(e, t)) == std::vector<std::string>{"posture-errors", "too-few-days"});

  e = clean();
  e.older_policy_sessions = 1;
  e.older_policy = "Microsoft Corporation applies policy id 1, last published 2026-11-21T23:59:59Z (1 sessions)";
  CHECK(names(decide(e, t)) == std::vector<std::string>{"older-policy-in-use"});
  CHECK(decide(e, t).reasons[0].second == e.older_policy);

  e = clean();
  e.published_mode = std::nullopt;  // monitored, no policy read
  CHECK(names(decide(e, t)) == std::vector<std::string>{"no-policy-published"});
  e.published_mode = "none";
  CHECK(decide(e, t).verdict == Verdict::not_ready);
}

TEST_CASE("readiness: enforced, from the posture check or, unmonitored, from most reported sessions") {
  const Thresholds t;
  Evidence e = clean();
  e.published_mode = "enforce";
  CHECK(decide(e, t).verdict == Verdict::enforced);
  CHECK(decide(e, t).reasons.empty());
  e.blocking_sessions = 1;
  e.worst = "starttls-not-supported on mx.example (1 sessions)";
  CHECK(names(decide(e, t)) == std::vector<std::string>{"mail-refused"});

  e = clean();
  e.monitored = false;
  e.published_mode = std::nullopt;
  e.reported_modes = {{"enforce", 600}, {"testing", 400}};
  CHECK(decide(e, t).verdict == Verdict::enforced);
  CHECK(names(decide(e, t)) == std::vector<std::string>{"not-monitored"});
  e.reported_modes = {{"enforce", 500}, {"testing", 500}};  // not most
  CHECK(decide(e, t).verdict == Verdict::ready);

  e.reported_modes.clear();  // reports, none under an sts policy
  CHECK(names(decide(e, t)) == std::vector<std::string>{"not-monitored", "no-policy-published"});
  e.days_with_reports = 0;
  e.reporters = 0;  // nothing known
  CHECK(decide(e, t).verdict == Verdict::insufficient_data);
}
