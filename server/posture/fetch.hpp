// The MTA-STS policy fetch, as a sending MTA does it (RFC 8461 section 3.3): HTTPS to
// mta-sts.<domain> on the HTTPS port, a certificate valid for that name under WebPKI (the
// system's CAs plus an optional extra file), no redirects followed, 200 only, at most 64 KiB,
// within a deadline.
//
// Purpose: the posture checks' view of the policy host. Trusts: nothing the host sends (header
// and body sizes capped). Errors: findings (policy::Problem), never exceptions; a DNS step that
// could not complete is check_incomplete, so an incomplete check is never taken for a clear one.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "dns/resolver.hpp"
#include "policy/policy.hpp"

namespace tlsrpt::posture {

struct FetchSettings {
  unsigned short https_port = 443;
  std::string ca_file;                        // extra trusted CAs (PEM) besides the system's
  std::chrono::milliseconds timeout{10000};   // for the whole fetch after DNS
  bool public_only = false;                   // refuse non-public addresses (net::is_public)
  int expiry_warning_days = 14;               // the certificate expiring within: sts_policy_cert_expiring
};

struct Fetched {
  std::optional<std::string> body;            // the policy text (status 200, at most 64 KiB)
  std::vector<policy::Problem> problems;      // an error without a body; a content-type warning with one
  std::string address;                        // the address the policy came from (or was tried last)
};

// Fetches https://mta-sts.<domain>/.well-known/mta-sts.txt. Runs on the resolver's io_context.
boost::asio::awaitable<Fetched> fetch_policy(dns::Resolver& resolver, std::string domain, FetchSettings settings);

}  // namespace tlsrpt::posture
