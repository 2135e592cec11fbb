#include "rollout/rollout.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>
#include <thread>

#include "json/text.hpp"
#include "config/config.hpp"
#include "policy/policy.hpp"

namespace tlsrpt::rollout {
namespace {

constexpr std::string_view action_names[] = {"status", "testing", "enforce", "rollback", "none", "remove", "plan"};

bool covered(const std::vector<std::string>& patterns, const std::string& host) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return policy::mx_matches(p, host); });
}

std::string join(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : std::string(sep)) + i;
  return out;
}

// The policy's id is in DNS: written by an update the primary accepted, or read back.
bool in_dns(const store::HostedPolicy& p) { return p.dns_state == "confirmed" || p.dns_state == "updated"; }

std::string duration_text(std::int64_t seconds) {
  if (seconds % 86400 == 0) return std::to_string(seconds / 86400) + " d";
  if (seconds % 3600 == 0) return std::to_string(seconds / 3600) + " h";
  return std::to_string(seconds) + " s";
}

}  // namespace

std::optional<Action> action_from_string(std::string_view text) {
  for (std::size_t i = 0; i < std::size(action_names); ++i)
    if (action_names[i] == text) return static_cast<Action>(i);
  return std::nullopt;
}

std::string_view to_string(Action a) { return action_names[static_cast<std::size_t>(a)]; }

std::optional<Usage> complete(Request& rq, const std::vector<std::string>& items) {
  for (const auto& item : items)
    for (const auto& m : config::split_list(item)) {
      const bool wildcard = m.starts_with("*.");
      const auto name = policy::normalize_domain(wildcard ? std::string_view(m).substr(2) : std::string_view(m));
      if (!name) return Usage{"mx", "'" + m + "' is not a host name or *.domain pattern"};
      rq.mx.push_back(wildcard ? "*." + *name : *name);
    }
  if (rq.action == Action::plan && rq.mx.empty()) return Usage{"mx", "plan needs the planned MX hosts"};
  if (rq.force && rq.action != Action::enforce) return Usage{"force", "only enforce can be forced"};
  if (rq.force && rq.reason.empty()) return Usage{"reason", "required with force: say why (it is recorded)"};
  return std::nullopt;
}

std::string new_policy_id() {
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 random{std::random_device{}()};
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[16];
  std::strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
  std::string id = stamp;
  std::uniform_int_distribution<std::size_t> pick(0, sizeof alphabet - 2);
  for (int i = 0; i < 4; ++i) id += alphabet[pick(random)];
  return id;
}

std::string policy_text(const std::string& mode, const std::vector<std::string>& mx, std::int64_t max_age) {
  std::string out = "version: STSv1\r\nmode: " + mode + "\r\n";
  for (const auto& m : mx) out += "mx: " + m + "\r\n";
  return out + "max_age: " + std::to_string(max_age) + "\r\n";
}

std::string sts_record(const std::string& domain, const std::string& id) {
  return "_mta-sts." + domain + ". " + std::to_string(record_ttl) + " IN TXT \"v=STSv1; id=" + id + "\"";
}

std::vector<Blocker> enforce_blockers(const std::optional<store::HostedPolicy>& current,
                                      const readiness::Decision& verdict, const store::ObservedMx& observed,
                                      const std::vector<std::string>& mx) {
  std::vector<Blocker> out;
  if (!current) {
    out.push_back({"no-policy", "no policy is hosted yet: start with testing"});
    return out;
  }
  if (current->mode == "testing" && !in_dns(*current))
    out.push_back({"dns-pending", "the testing policy's id " + current->policy_id +
                                      " is not in DNS yet, so senders have not seen it: publish " +
                                      sts_record(current->domain, current->policy_id)});
  if (verdict.verdict != readiness::Verdict::ready) {
    std::string reasons;
    for (const auto& [r, d] : verdict.reasons) reasons += (reasons.empty() ? "" : "; ") + std::string(readiness::to_string(r)) + ": " + d;
    out.push_back({"not-ready", "the readiness verdict is " + std::string(readiness::to_string(verdict.verdict)) +
                                    (reasons.empty() ? "" : " (" + reasons + ")")});
  }
  if (!observed.checked) {
    out.push_back({"no-mx-known", "no posture check of the domain yet: its MX hosts are unknown"});
  } else {
    std::vector<std::string> uncovered;
    for (const auto& h : observed.hosts)
      if (!covered(mx, h)) uncovered.push_back(h);
    if (!uncovered.empty())
      out.push_back({"mx-not-covered", "the latest check (" + observed.checked_at + ") saw MX " + join(uncovered) +
                                           ", which the policy's mx (" + join(mx) +
                                           ") does not list: senders would refuse it under enforce"});
    for (const auto& [host, what] : observed.failing) out.push_back({"mx-failing", host + ": " + what});
  }
  return out;
}

Decision decide(const std::optional<store::HostedPolicy>& cur, const Request& rq, const readiness::Decision& verdict,
                const store::ObservedMx& observed, const Settings& st) {
  Decision d;
  auto refuse = [&d](std::string reason, std::string detail) { d.refused.push_back({std::move(reason), std::move(detail)}); };
  switch (rq.action) {
    case Action::status:
    case Action::plan:
      return d;
    case Action::testing: {
      if (!cur && !rq.configured) {
        refuse("not-hosted", rq.domain + " is not in policy.domains nor a [[domain]] with hosted = true");
        return d;
      }
      d.mx = !rq.mx.empty() ? rq.mx : cur && cur->mode != "none" ? cur->mx : observed.hosts;
      if (d.mx.empty()) {
        refuse("no-mx-known", "no posture check has seen the domain's MX hosts yet: name them with --mx");
        return d;
      }
      if (cur && cur->mode == "testing" && cur->mx == d.mx) return d;  // nothing to change
      d.change = true;
      d.mode = "testing";
      d.max_age = st.testing_max_age;
      return d;
    }
    case Action::enforce: {
      if (!cur) {
        refuse("no-policy", "no policy is hosted for " + rq.domain + " yet: start with testing");
        return d;
      }
      if (cur->mode == "enforce" && (rq.mx.empty() || rq.mx == cur->mx)) return d;
      if (cur->mode == "none") {
        refuse("no-policy", "the policy is none: go through testing first");
        return d;
      }
      d.mx = rq.mx.empty() ? cur->mx : rq.mx;
      for (auto& b : enforce_blockers(cur, verdict, observed, d.mx)) {
        if (b.reason == "not-ready" && rq.force) {
          if (rq.reason.empty()) refuse("force-needs-reason", "--force must say why (--reason TEXT); it is recorded");
          d.forced = true;
          continue;
        }
        d.refused.push_back(std::move(b));
      }
      if (!d.refused.empty()) return d;
      d.change = true;
      d.mode = "enforce";
      d.max_age = st.enforce_max_age;
      return d;
    }
    case Action::rollback: {
      if (!cur || cur->mode != "enforce") {
        refuse("not-enforced", "rollback goes from enforce to testing; the policy is " + (cur ? cur->mode : std::string("not hosted")));
        return d;
      }
      d.change = true;
      d.mode = "testing";
      d.mx = cur->mx;
      d.max_age = st.testing_max_age;
      return d;
    }
    case Action::none: {
      if (!cur) {
        refuse("no-policy", "no policy is hosted for " + rq.domain);
        return d;
      }
      if (cur->mode == "none") return d;
      d.change = true;
      d.mode = "none";
      d.mx = cur->mx;
      d.max_age = st.testing_max_age;
      return d;
    }
    case Action::remove: {
      if (!cur) {
        refuse("no-policy", "no policy is hosted for " + rq.domain);
        return d;
      }
      if (cur->mode != "none") {
        refuse("not-none", "serve mode none first (tlsrpt rollout " + rq.domain +
                               " none): senders may hold the " + cur->mode + " policy for its max_age");
        return d;
      }
      if (cur->held) {
        refuse("still-held", "senders may hold a policy of " + rq.domain + " (max_age up to " +
                                 duration_text(cur->longest_max_age) + ") until " + cur->held_until +
                                 ": the policy host and the _mta-sts record can go after that");
        return d;
      }
      d.change = true;
      return d;
    }
  }
  return d;
}

namespace {

void write_blockers(json::Writer& w, const std::vector<Blocker>& blockers) {
  w.begin_array();
  for (const auto& b : blockers) {
    w.begin_object();
    w.field("reason", b.reason);
    w.field("detail", b.detail);
    w.end_object();
  }
  w.end_array();
}

void write_strings(json::Writer& w, const std::vector<std::string>& items) {
  w.begin_array();
  for (const auto& i : items) w.value(i);
  w.end_array();
}

// The step that comes next and what blocks it.
std::pair<std::string, std::vector<Blocker>> next_step(const std::optional<store::HostedPolicy>& cur,
                                                       const readiness::Decision& verdict,
                                                       const store::ObservedMx& observed, bool configured) {
  if (!cur) {
    if (!configured) return {"testing", {{"not-hosted", "add the domain to policy.domains (or [[domain]] hosted = true)"}}};
    if (!observed.checked) return {"testing", {{"no-mx-known", "wait for the first posture check, or name the MX hosts with --mx"}}};
    return {"testing", {}};
  }
  if (!in_dns(*cur))
    return {"publish-record", {{"dns-pending", "publish " + sts_record(cur->domain, cur->policy_id) +
                                                   (cur->dns_detail.empty() ? "" : " (" + cur->dns_detail + ")")}}};
  if (cur->mode == "testing") return {"enforce", enforce_blockers(cur, verdict, observed, cur->mx)};
  if (cur->mode == "enforce") return {"", {}};
  if (cur->held) return {"remove", {{"still-held", "until " + cur->held_until}}};
  return {"remove", {}};
}

}  // namespace

Outcome run(store::Store& s, const Request& rq, const Settings& st, int readiness_days, const readiness::Thresholds& t,
            const readiness::Answer* known) {
  auto cur = store::hosted_policy(s, rq.domain);
  const store::ObservedMx observed = store::observed_mx(s, rq.domain);
  const readiness::Answer verdict = known ? *known : readiness::answer(s, rq.domain, readiness_days, t);
  Decision d = decide(cur, rq, verdict.decision, observed, st);
  Outcome out;
  if (d.refused.empty() && d.change) {
    store::PolicyChange c;
    c.domain = rq.domain;
    if (cur) c.expected = cur->policy_id;
    c.mode = d.mode;
    c.mx = d.mx;
    c.max_age = d.max_age;
    c.policy_id = new_policy_id();
    c.actor = rq.actor;
    c.action = std::string(to_string(rq.action));
    c.reason = rq.reason;
    c.forced = d.forced;
    if (store::change_policy(s, c)) {
      out.applied = true;
      cur = store::hosted_policy(s, rq.domain);
      // The serving side publishes the new id (rollout/publisher): wait for that step, briefly.
      const auto until = std::chrono::steady_clock::now() + rq.wait;
      // (updated is followed by the read-back from the primary: confirmed)
      while (cur && (cur->dns_state == "pending" || cur->dns_state == "updated") && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
        cur = store::hosted_policy(s, rq.domain);
      }
    } else {
      d.refused.push_back({"conflict", "another change to " + rq.domain + " came first: look at its status and try again"});
    }
  }
  out.refused = !d.refused.empty();
  out.policy = cur;
  std::string& j = out.json;
  json::Writer w(j, false, json::Input::bytes);
  w.begin_object();
  w.field("domain", rq.domain);
  w.field("action", to_string(rq.action));
  w.key("applied");
  w.boolean(out.applied);
  w.key("forced");
  w.boolean(out.applied && d.forced);
  w.key("refused");
  write_blockers(w, d.refused);
  w.key("policy");
  if (cur) {
    w.begin_object();
    w.field("mode", cur->mode);
    w.key("mx");
    write_strings(w, cur->mx);
    w.field("max_age", cur->max_age);
    w.field("id", cur->policy_id);
    w.field("changed_at", cur->changed_at);
    w.field("text", policy_text(cur->mode, cur->mx, cur->max_age));
    w.end_object();
  } else {
    w.null();
  }
  w.key("dns");
  if (cur) {
    w.begin_object();
    w.field("state", cur->dns_state);
    w.optional_field("id", cur->dns_id);
    w.field("detail", cur->dns_detail);
    w.optional_field("at", cur->dns_at);
    w.field("record", sts_record(cur->domain, cur->policy_id));
    w.key("update");
    w.boolean(st.dns_update);
    w.end_object();
  } else {
    w.null();
  }
  w.key("held_until");
  if (cur) w.value(cur->held_until);
  else w.null();
  w.key("removable");
  w.boolean(cur && cur->mode == "none" && !cur->held);
  const auto [step, blockers] = next_step(cur, verdict.decision, observed, rq.configured);
  out.next_step = step;
  out.next_blockers = blockers;
  w.key("next");
  w.begin_object();
  w.optional_field("step", step);
  w.key("blocked_by");
  write_blockers(w, blockers);
  w.end_object();
  w.key("readiness");
  w.begin_object();
  w.field("verdict", readiness::to_string(verdict.decision.verdict));
  w.key("reasons");
  w.begin_array();
  for (const auto& [r, detail] : verdict.decision.reasons) {
    w.begin_object();
    w.field("reason", readiness::to_string(r));
    w.field("detail", detail);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  w.key("observed");
  w.begin_object();
  w.optional_field("checked_at", observed.checked_at);
  w.key("mx");
  write_strings(w, observed.hosts);
  w.key("failing");
  w.begin_array();
  for (const auto& [host, what] : observed.failing) {
    w.begin_object();
    w.field("host", host);
    w.field("detail", what);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  w.key("plan");
  if (rq.action == Action::plan) {
    const std::vector<std::string> served = cur && cur->mode != "none" ? cur->mx : std::vector<std::string>{};
    std::vector<std::string> uncovered, steps;
    for (const auto& h : rq.mx)
      if (!covered(served, h)) uncovered.push_back(h);
    std::vector<Blocker> problems;
    for (const auto& [host, what] : observed.failing)
      if (std::find(rq.mx.begin(), rq.mx.end(), host) != rq.mx.end()) problems.push_back({"mx-failing", host + ": " + what});
    for (const auto& h : uncovered)
      problems.push_back({"mx-not-covered", h + " is not in the served policy's mx (" + join(served) + ")" +
                                                (cur && cur->mode == "enforce" ? ": MTA-STS senders would refuse it" : "")});
    if (!uncovered.empty() && cur) {
      std::vector<std::string> both = cur->mx;
      for (const auto& h : uncovered) both.push_back(h);
      steps.push_back("add the new hosts to the policy: tlsrpt rollout " + rq.domain + " " + cur->mode + " --mx " + join(both, " "));
      steps.push_back("wait until the new policy's id is in DNS, then max_age (" + duration_text(cur->max_age) +
                      ") more, for senders to drop the policy they hold");
    }
    steps.push_back("change the MX records");
    if (!uncovered.empty() || served.size() > rq.mx.size())
      steps.push_back("once no MX record names an old host, drop it from the policy: tlsrpt rollout " + rq.domain + " " +
                      (cur ? cur->mode : std::string("testing")) + " --mx " + join(rq.mx, " "));
    out.plan_passes = problems.empty();
    out.plan_steps = steps;
    out.decision.refused = problems;
    w.begin_object();
    w.key("mx");
    write_strings(w, rq.mx);
    w.key("passes");
    w.boolean(problems.empty());
    w.key("problems");
    write_blockers(w, problems);
    w.key("steps");
    write_strings(w, steps);
    w.end_object();
  } else {
    w.null();
  }
  w.key("history");
  w.raw(store::policy_history_json(s, rq.domain, 20));
  w.end_object();
  if (rq.action != Action::plan) out.decision = std::move(d);
  return out;
}

std::string to_text(const Request& rq, const Outcome& o) {
  std::string out;
  const auto& p = o.policy;
  if (p) {
    out += rq.domain + ": " + p->mode + ", mx " + join(p->mx) + ", max_age " + std::to_string(p->max_age) + " (" +
           duration_text(p->max_age) + "), id " + p->policy_id + ", since " + p->changed_at + "\n";
    out += "  DNS: " + p->dns_state + (p->dns_detail.empty() ? "" : " (" + p->dns_detail + ")") + "\n";
    if (!in_dns(*p)) out += "  publish: " + sts_record(p->domain, p->policy_id) + "\n";
    if (p->mode == "none")
      out += std::string("  hosting may end ") + (p->held ? "after " + p->held_until : "now (tlsrpt rollout " + rq.domain + " remove)") + "\n";
  } else {
    out += rq.domain + ": no policy hosted\n";
  }
  if (o.applied) out += std::string("  applied: ") + std::string(to_string(rq.action)) + (o.decision.forced ? " (forced: " + rq.reason + ")" : "") + "\n";
  for (const auto& b : o.decision.refused)
    out += std::string(rq.action == Action::plan ? "  problem: " : "  refused: ") + b.reason + ": " + b.detail + "\n";
  for (std::size_t i = 0; i < o.plan_steps.size(); ++i) out += "  step " + std::to_string(i + 1) + ": " + o.plan_steps[i] + "\n";
  if (!o.next_step.empty()) {
    out += "  next: " + o.next_step + (o.next_blockers.empty() ? "" : ", blocked by:") + "\n";
    for (const auto& b : o.next_blockers) out += "    " + b.reason + ": " + b.detail + "\n";
  }
  return out;
}

std::optional<Taken> automate(store::Store& s, const std::string& domain, const Automation& a, const Settings& st,
                              int readiness_days, const readiness::Thresholds& t, const readiness::Answer& verdict) {
  auto cur = store::hosted_policy(s, domain);
  if (!cur) return std::nullopt;
  const bool ready = verdict.decision.verdict == readiness::Verdict::ready;
  if (cur->mode == "testing") store::record_ready(s, domain, ready);
  Request rq;
  rq.domain = domain;
  rq.actor = "auto";
  rq.configured = true;
  if (a.rollback && cur->mode == "enforce") {
    const store::ObservedMx observed = store::observed_mx(s, domain);
    const auto& e = verdict.evidence;
    const double share = e.sts_sessions > 0 ? double(e.blocking_sessions) / double(e.sts_sessions) : 0;
    if (!observed.failing.empty())
      rq.reason = "auto-rollback: the MX fails its check (" + observed.failing.front().first + ": " +
                  observed.failing.front().second + ")";
    else if (e.blocking_sessions > 0 && share > t.max_blocking_share)
      rq.reason = "auto-rollback: reports show refused mail (" + std::to_string(e.blocking_sessions) + " of " +
                  std::to_string(e.sts_sessions) + " sessions; most: " + e.worst + ")";
    if (rq.reason.empty()) return std::nullopt;
    rq.action = Action::rollback;
  } else if (a.enforce_after_days > 0 && cur->mode == "testing" && ready) {
    cur = store::hosted_policy(s, domain);  // ready_since as just recorded
    if (!cur || cur->ready_days < a.enforce_after_days) return std::nullopt;
    rq.action = Action::enforce;
    rq.reason = "auto-enforce: the readiness verdict has been ready for " + std::to_string(cur->ready_days) + " days";
  } else {
    return std::nullopt;
  }
  const Outcome out = run(s, rq, st, readiness_days, t, &verdict);
  if (!out.applied) return std::nullopt;  // refused (a guard of enforce), or another change came first
  return Taken{rq.action, rq.reason};
}

}  // namespace tlsrpt::rollout
