// The analytics API's questions as SQL: each function runs one statement in which PostgreSQL
// builds the whole JSON answer (see schema/openapi.yaml for the shapes).
//
// Purpose: answer from session_counts (hourly rollup) where counts are asked, from reports and
// raw_messages where rows are listed. Trusts: Filter values are validated by the caller (formats
// and lengths); they only ever travel as bound parameters.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string_view>
#include <optional>
#include <vector>
#include <string>

#include "store/store.hpp"

namespace tlsrpt::store {

struct Filter {
  std::optional<std::string> from, to;  // timestamptz text; from inclusive, to exclusive
  std::optional<std::string> policy_domain, organization, policy_type, result_type, mx_host;
  // The DKIM result of the message that stored each report (pass, fail, none, temperror,
  // permerror, or unverified); answered from the base tables instead of the rollups.
  std::optional<std::string> dkim;
};

struct Page {
  std::size_t limit = 50;
  std::optional<std::int64_t> before;  // cursor: ids below this one
  std::optional<std::string> after;    // cursor of GET /api/v1/domains: names after this one
};

// One page of the policy domains with rollup rows in the filter's range, by name, each with its
// totals ({"domains": [...], "next_cursor": the page's last name or null}); the totals are read
// per domain from its primary-key range, so a page costs the same at any number of domains.
std::string domains_json(Store& s, const Filter& f, const Page& page);
std::string summary_json(Store& s, const Filter& f);
std::string timeseries_json(Store& s, const Filter& f, const std::string& bucket);  // "day" or "hour"
std::string reports_json(Store& s, const Filter& f, const Page& page);
std::string rejected_json(Store& s, const Filter& f, const std::optional<std::string>& reason, const Page& page);

// The start (epoch, midnight UTC) of a range of `days` days that ends today (`now`, included).
std::int64_t range_start(int days, std::int64_t now);

// The ingestion status over the last `days` days (GET /api/v1/status): {"days", "database",
// "inputs": [{transport, outcome, messages, bytes, newest}], "rejections": [{reason, messages}],
// "dkim": [{result, messages}] (null: not verified)}.
std::string status_json(Store& s, int days);

// One page of the domain list: its sort, the part of the name to look for, the page (1-based)
// and its size.
struct ListPage {
  // name; ratio7 / ratio: worst success ratio first over 7 days / the range (no sessions last);
  // failed: most failed sessions in the range first; newest: newest report first (by the hour of
  // its start); then by name.
  std::string sort = "name";
  std::string name_contains;
  std::int64_t page = 1;
  std::int64_t limit = 50;
};
inline constexpr std::string_view list_sorts[] = {"name", "ratio7", "ratio", "failed", "newest"};

// The domain list (GET /api/v1/overview), one page of it: the domains with reports at any time,
// monitored (`monitored`) or checked, filtered by name and sorted as `page` says; for each
// domain of the page its sessions over the `days` days up to `now` (today included) and over
// the last 7, a daily series (every day, zeros included), failed sessions by result type, the
// newest report, the organisations that reported in range and the counts of its latest posture
// check; `verdict` gives a monitored domain's readiness verdict ("" for none). The sort reads
// one figure per domain from the rollups (domain_windows, migration 0016); the rest is read for
// the page's domains only.
std::string overview_json(Store& s, int days, const std::vector<std::string>& monitored, std::int64_t now,
                          const ListPage& page, const std::function<std::string(const std::string&)>& verdict);

// The MX hosts of every checked domain as its latest posture check saw them (domain -> hosts,
// lower case, no trailing dot): which DANE policy domains of a report are MX hosts of the
// report's domain (report::DomainHints::mx_of).
using KnownMx = std::map<std::string, std::set<std::string>>;
KnownMx known_mx(Store& s);
// The lookup report::DomainHints takes, over a snapshot of known_mx.
report::MxOf mx_lookup(std::shared_ptr<const KnownMx> known);

// Builds the per-domain windows of `days` days up to today (the database's UTC day) that are
// not built yet, and drops those of earlier days (serve's maintenance, each UTC day). Returns
// how many it built.
int build_domain_windows(Store& s, const std::vector<int>& days);

// A stored report: its row as JSON (without the report body), the dedup key and the raw bytes
// it came from, so the caller can show the normalised report exactly as `tlsrpt parse` does.
struct StoredReport {
  std::string meta_json;
  std::string dedup_key;
  std::string body;
};
std::optional<StoredReport> stored_report(Store& s, std::int64_t id);

// The latest posture check of a domain: when, how long, whether complete, its findings and the
// whole result; "" when the domain was never checked.
std::string posture_json(Store& s, const std::string& domain);
// The MTA-STS policies a monitored domain published, newest first: {"domain", "policies": [...]};
// "" when the domain was never checked.
std::string policies_json(Store& s, const std::string& domain);

// The evidence of a readiness verdict for a domain over the last `days` days (readiness/
// decides on it): the figures the verdict needs, and `json`, the evidence object of the answer
// (schema/openapi.yaml). `blocking`: the result types that block delivery under enforce;
// `authenticated_only`: only reports from authenticated inputs count.
struct ReadinessEvidence {
  int days_with_reports = 0;
  int reporters = 0;
  std::vector<std::string> quiet_reporters;
  std::int64_t sts_sessions = 0;       // successful and failed, under sts policies
  std::int64_t sts_failed = 0;
  std::int64_t blocking_sessions = 0;  // failed with a blocking result type
  std::string worst;                   // "certificate-expired on mx2.example.net (40 sessions)", "" when none
  bool monitored = false;              // a posture check exists
  std::optional<std::string> published_mode;  // enforce, testing, none; nullopt: none read
  std::vector<std::string> posture_errors;     // "finding@subject"
  std::map<std::string, std::int64_t> reported_modes;  // mode line of the reports' policy strings -> sessions
  std::int64_t older_policy_sessions = 0;  // under a policy no longer published (drift "previous")
  std::string older_policy;                // who, which policy, since when
};
struct FoundEvidence {
  ReadinessEvidence evidence;
  std::string json;
};
FoundEvidence readiness_evidence(Store& s, const std::string& domain, int days, std::span<const std::string_view> blocking,
                                 bool authenticated_only);

// The drift of a domain's reports that began in the last `days` days (the metrics use 7): sessions
// by (policy type, drift state), and those under a policy unpublished beyond its max_age.
struct DriftCounts {
  std::map<std::pair<std::string, std::string>, std::int64_t> sessions;
  std::int64_t beyond_max_age = 0;
};
DriftCounts recent_drift(Store& s, const std::string& domain, int days = 7);

// The MTA-STS policies tlsrpt hosts (migration 0015): one row per hosted domain.
struct HostedPolicy {
  std::string domain, mode;
  std::vector<std::string> mx;
  std::int64_t max_age = 0;
  std::string policy_id;
  std::string changed_at;  // UTC text
  std::int64_t longest_max_age = 0;
  std::string held_until;  // UTC text: senders may hold one of its policies until then
  bool held = true;        // now < held_until
  std::string dns_state, dns_id, dns_detail, dns_at;
  std::string ready_since;  // UTC text, "" when not ready (rollout.auto_enforce)
  std::int64_t ready_days = 0;  // whole days since ready_since
};
std::optional<HostedPolicy> hosted_policy(Store& s, const std::string& domain);
std::vector<HostedPolicy> hosted_policies(Store& s);
// One change, applied only when the domain's policy id is still `expected` (nullopt: it has no
// policy yet); `mode` nullopt ends the hosting. False when another change came first.
struct PolicyChange {
  std::string domain;
  std::optional<std::string> expected;
  std::optional<std::string> mode;
  std::vector<std::string> mx;
  std::int64_t max_age = 0;
  std::string policy_id, actor, action, reason;
  bool forced = false;
};
bool change_policy(Store& s, const PolicyChange& c);
// The DNS side of a domain's current policy (ignored when `policy_id` is no longer current).
void record_policy_dns(Store& s, const std::string& domain, const std::string& policy_id, const std::string& state,
                       const std::string& dns_id, const std::string& detail);
// rollout.auto_enforce: the verdict is ready now (keeps ready_since) or not (clears it).
void record_ready(Store& s, const std::string& domain, bool ready);
// The changes of a domain, newest first, as a JSON array (schema/openapi.yaml, PolicyChange).
std::string policy_history_json(Store& s, const std::string& domain, std::size_t limit);

// What the latest posture check of a domain saw of its MX hosts: the hosts, and those with an
// error finding ("host: finding (detail)").
struct ObservedMx {
  bool checked = false;
  std::string checked_at;
  std::vector<std::string> hosts;
  std::vector<std::pair<std::string, std::string>> failing;  // host, "finding: detail"
  std::string sts_id;  // the _mta-sts record's id it read ("" when none)
};
ObservedMx observed_mx(Store& s, const std::string& domain);

}  // namespace tlsrpt::store
