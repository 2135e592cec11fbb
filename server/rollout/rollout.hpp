// The MTA-STS roll-out: the policy tlsrpt hosts for a domain, and every step of its life
// (testing, enforce, rollback, none, remove), each allowed only on evidence.
//
// Purpose: one place that decides whether a step may be taken and what the served policy then
// is, for `tlsrpt rollout`, POST /api/v1/domains/{domain}/rollout and the automatic steps.
// decide() is pure; run() reads the state and the evidence from the store, decides, applies the
// change atomically (store::change_policy: a change made meanwhile by someone else wins, this one
// is refused as `conflict`) and builds the one JSON answer all three print.
//
// The guards (RFC 8461 sections 3.2, 5, 8.3):
// - enforce: the readiness verdict is `ready` (else refused with its reasons; --force with a
//   reason overrides this, and only this, and is recorded); the testing policy is in effect
//   (its id is in DNS); the mx patterns cover every MX host the latest posture check saw; no MX
//   has an error finding (an MX a sender cannot validate is refused under enforce: mail lost).
// - rollback: only from enforce, to testing.
// - none: RFC 8461's way out; served with a new id so that senders drop what they hold.
// - remove: only when the mode is none and the longest max_age ever served has passed since the
//   last change (a sender may hold an enforce policy until then).
// Every change gets a new policy id (14 digits of UTC time and 4 random letters or digits: at
// most 32, as RFC 8461 allows) and a line in the history (who, why, old and new values).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "readiness/readiness.hpp"
#include "store/queries.hpp"

namespace tlsrpt::rollout {

enum class Action { status, testing, enforce, rollback, none, remove, plan };
std::optional<Action> action_from_string(std::string_view text);
std::string_view to_string(Action a);

struct Settings {
  std::int64_t testing_max_age = 86400;   // rollout.testing_max_age
  std::int64_t enforce_max_age = 604800;  // rollout.enforce_max_age
  bool dns_update = false;                // dns.update_server is set: tlsrpt writes the record itself
  // How long a change waits for serve's DNS step when the caller does not say: 5 s when serve
  // writes the record, else nothing to wait for.
  std::chrono::milliseconds default_wait() const { return std::chrono::milliseconds(dns_update ? 5000 : 0); }
};

// The TTL of the _mta-sts records tlsrpt writes, and of the one it prints to publish.
inline constexpr std::uint32_t record_ttl = 300;

struct Request {
  std::string domain;
  Action action = Action::status;
  std::string reason;
  std::string actor = "cli";  // the token's name, "cli" or "auto"
  bool force = false;
  std::vector<std::string> mx;  // testing, enforce: the patterns to serve (empty: keep, or what the check saw); plan: the planned MX hosts
  bool configured = false;      // the domain is hosted by configuration (policy.domains, [[domain]] hosted)
  // After a change: how long to wait for its DNS step (a running serve publishes it) before answering.
  std::chrono::milliseconds wait{0};
};

// What makes a request malformed before anything is read (a usage error: CLI exit 2, API 400):
// the field and what is wrong.
struct Usage {
  std::string field, what;
};
// Fills rq.mx from `items` (host names or "*.domain" patterns, each item possibly a list of them
// separated by commas or spaces) and checks the request: plan needs mx, only enforce can be
// forced, and forcing needs a reason.
std::optional<Usage> complete(Request& rq, const std::vector<std::string>& items);

// Why a step is refused or blocked; names are stable (API values).
struct Blocker {
  std::string reason;  // not-hosted, no-policy, not-ready, force-needs-reason, no-mx-known, mx-not-covered,
                       // mx-failing, dns-pending, not-enforced, not-none, still-held, conflict
  std::string detail;
};

struct Decision {
  bool change = false;  // a new policy (or the end of hosting) is to be stored
  std::optional<std::string> mode;  // the new mode; nullopt with change: hosting ends
  std::vector<std::string> mx;
  std::int64_t max_age = 0;
  bool forced = false;
  std::vector<Blocker> refused;  // non-empty: nothing changes
};

// The step `request` asks for, from the current policy (nullopt: none hosted), the readiness
// decision and what the latest posture check saw.
Decision decide(const std::optional<store::HostedPolicy>& current, const Request& request,
                const readiness::Decision& verdict, const store::ObservedMx& observed, const Settings& settings);

// What would block enforce now (the next step's blockers on the domain page and in status).
std::vector<Blocker> enforce_blockers(const std::optional<store::HostedPolicy>& current,
                                      const readiness::Decision& verdict, const store::ObservedMx& observed,
                                      const std::vector<std::string>& mx);

// A new policy id: UTC time as 14 digits, then 4 random letters and digits.
std::string new_policy_id();
// The policy text as served: version, mode, mx lines, max_age, CRLF after each line.
std::string policy_text(const std::string& mode, const std::vector<std::string>& mx, std::int64_t max_age);
// The _mta-sts TXT record to publish: `_mta-sts.DOMAIN. 300 IN TXT "v=STSv1; id=ID"` (record_ttl).
std::string sts_record(const std::string& domain, const std::string& id);

struct Outcome {
  std::string json;  // the answer (schema/openapi.yaml, Rollout)
  bool applied = false;
  bool refused = false;
  bool plan_passes = true;
  std::optional<store::HostedPolicy> policy;  // after the step
  Decision decision;
  std::string next_step;
  std::vector<Blocker> next_blockers;
  std::vector<std::string> plan_steps;
};
// A readable summary of an answer, for `tlsrpt rollout` without --json.
std::string to_text(const Request& request, const Outcome& outcome);
// Reads, decides, applies and answers. `verdict`: the readiness answer over readiness_days when
// the caller has it already (else it is read here). Throws store::Error.
Outcome run(store::Store& store, const Request& request, const Settings& settings, int readiness_days,
            const readiness::Thresholds& thresholds, const readiness::Answer* verdict = nullptr);

// The automatic steps of a hosted domain ([[domain]] auto_enforce_days, auto_rollback), run by
// serve after each posture check of the domain: rollback when an enforced domain's MX has an
// error finding (expired, wrong name, no STARTTLS...) or its reports show refused mail above
// readiness.max_blocking_share; enforce when the verdict has been ready for enforce_after_days
// days in a row (and every other guard of enforce holds). Each is an ordinary step by the actor
// "auto", with its reason in the history. Returns the step taken, if any.
struct Automation {
  std::int64_t enforce_after_days = 0;  // 0: never
  bool rollback = false;
};
struct Taken {
  Action action;
  std::string reason;
};
// `verdict`: the domain's readiness answer over readiness_days, as the caller computed it after
// the check.
std::optional<Taken> automate(store::Store& store, const std::string& domain, const Automation& automation,
                              const Settings& settings, int readiness_days, const readiness::Thresholds& thresholds,
                              const readiness::Answer& verdict);

}  // namespace tlsrpt::rollout
