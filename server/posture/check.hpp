// One posture check of a domain: what it publishes for MTA-STS, TLS-RPT and DANE, and whether its
// MX hosts take STARTTLS with a certificate a sender accepts. Runs the same for `tlsrpt check`
// (no database) and for serve's scheduled checks of the monitored domains (posture/monitor).
//
// Trusts: nothing a DNS server, policy host or MX sends. Bounded: at most max_mx MX hosts and
// max_addresses addresses per host are probed; each step has its deadline (dns, fetch, probe
// settings). Errors: findings; a step that could not complete is check_incomplete, so an
// incomplete check is never reported as clear. Only the domain asked about is ever contacted
// (its records, its policy host, its MX hosts): nothing in a received report leads here.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dns/resolver.hpp"
#include "policy/policy.hpp"
#include "posture/fetch.hpp"
#include "posture/probe.hpp"

namespace tlsrpt::posture {

struct CheckSettings {
  FetchSettings fetch;
  ProbeSettings probe;
  std::string expected_rua;  // "tls-reports@example.net": must be in the rua, first; empty: not checked
  std::size_t max_mx = 10;
  std::size_t max_addresses = 4;
};

struct FindingEntry {
  policy::Finding finding;
  std::string subject;  // the domain, the policy host or an MX host
  std::string detail;
};

struct MxEntry {
  std::uint16_t preference = 0;
  std::string host;
  std::vector<std::string> addresses;
  bool tlsa_secure = false;
  std::vector<dns::Tlsa> tlsa;
  std::vector<Probe> probes;  // one per address probed
};

struct Result {
  std::string domain;
  std::vector<FindingEntry> findings;
  std::optional<std::string> sts_id;
  std::optional<policy::StsPolicy> policy;
  std::optional<std::string> policy_text;
  std::optional<std::vector<std::string>> rua;
  bool mx_secure = false;
  std::vector<MxEntry> mx;

  bool incomplete() const;
  bool has_error() const;
};

boost::asio::awaitable<Result> check_domain(dns::Resolver& resolver, std::string domain, CheckSettings settings);

// One JSON object (one line): domain, findings, mta-sts, tlsrpt, mx (see README, tlsrpt check).
std::string to_json(const Result& result);
// A readable block: a summary line, then one line per finding.
std::string to_text(const Result& result);

}  // namespace tlsrpt::posture
