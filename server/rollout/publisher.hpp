// The serving side of the roll-out, in tlsrpt serve: keeps the policy host's policies in step
// with the database, puts each new policy id into DNS, and rereads the certificate directory.
//
// Purpose: one thread that wakes on every change (PostgreSQL NOTIFY on tlsrpt_policy, sent by
// store::change_policy whoever made it) and every 10 s. Each time it loads the hosted policies
// into the PolicyHost (so the policy is served before its id is published), then takes each
// policy whose id is not confirmed in DNS one step on: with dns.update_server, an RFC 2136
// update signed with the TSIG key (retried every 30 s while refused), then read back from that
// server (confirmed); without, it waits for a posture check to read the new id from the
// _mta-sts record (validated by DNSSEC where the zone is signed). Every 10 s it rescans
// policy.cert_dir (a renewed certificate is served within 10 s) and exports each certificate's
// expiry. Errors: logged, retried on the next round; nothing here stops serve.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "dns/update.hpp"
#include "metrics/metrics.hpp"
#include "net/tls.hpp"
#include "rollout/host.hpp"
#include "store/pool.hpp"

namespace tlsrpt::rollout {

struct PublisherSettings {
  std::optional<dns::Server> update_server;  // nullopt: the operator publishes the record
  dns::TsigKey key;
  std::chrono::milliseconds dns_timeout{5000};
  std::shared_ptr<net::CertDirectory> certs;  // may be null (no policy listener)
  std::chrono::milliseconds interval{10000};
};

class Publisher {
 public:
  Publisher(store::Pool& pool, PolicyHost& host, metrics::Metrics& metrics, PublisherSettings settings);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlsrpt::rollout
