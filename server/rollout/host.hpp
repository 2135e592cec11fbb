// The policy host: answers RFC 8461 section 3.3's fetch of the hosted policies, and ACME HTTP-01
// challenges for the policy hosts' certificates.
//
// Purpose: the Handler of two listeners of http_server::Server. Over TLS (policy.listen, the
// certificate chosen by SNI from policy.cert_dir): GET /.well-known/mta-sts.txt on
// mta-sts.DOMAIN of a hosted domain answers 200, text/plain, the policy with CRLF line ends;
// the Host header must name the host the TLS handshake was for. Any other host, path (a query,
// a trailing slash, an encoded character included) or method gets 404 (405 for a method other
// than GET), never a redirect. Over plain HTTP (policy.acme_listen): GET
// /.well-known/acme-challenge/TOKEN answers the file an ACME client left in policy.acme_webroot
// (TOKEN: base64url characters only, so no path leaves that directory); everything else 404.
// Trusts: nothing in the request. Never blocks: the policies are answered from memory (set()
// replaces them), a challenge file is at most 4 KiB. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "http/server.hpp"
#include "metrics/family.hpp"
#include "store/queries.hpp"

namespace tlsrpt::rollout {

struct HostStats {
  std::atomic<std::uint64_t> served{0}, not_found{0}, challenges{0}, refused{0};
};

class PolicyHost : public http_server::Handler {
 public:
  explicit PolicyHost(std::string acme_webroot) : webroot_(std::move(acme_webroot)) {}
  // The policies to serve from now on (each mta-sts.DOMAIN; mode none included).
  void set(const std::vector<store::HostedPolicy>& policies);
  // The policy text served for `domain` now, "" when none.
  std::string served(const std::string& domain) const;

  std::optional<http_server::Response> check(const http_server::Request& head) override;
  http_server::Response handle(const http_server::Request& request) override;
  bool on_io_thread(const http_server::Request&) override { return true; }
  void finished(const http_server::Request&, const http_server::Response&, double) override {}

  const HostStats& stats() const { return stats_; }

 private:
  http_server::Response not_found();
  std::string webroot_;
  std::atomic<std::shared_ptr<const std::map<std::string, std::string>>> policies_{
      std::make_shared<const std::map<std::string, std::string>>()};
  HostStats stats_;
};

metrics::Families families(const HostStats& st);

}  // namespace tlsrpt::rollout
