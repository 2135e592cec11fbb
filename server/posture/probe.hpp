// The STARTTLS probe of one MX address, as a sending MTA would see it: connect to the SMTP port,
// EHLO, STARTTLS offered, the handshake, the TLS version, and the leaf certificate judged on its
// own terms (expiry, the MX host name without partial wildcards, the chain under WebPKI plus
// checks.ca_file) and against the MX host's DNSSEC-secure TLSA records (usages 2 and 3, with
// OpenSSL's DANE API). A fresh TLS context per probe: no session is resumed between probes.
//
// Trusts: nothing the server sends (reply lines and counts capped). Errors: findings, never
// exceptions; a step that could not complete (timeout, refused connection) is named in the
// findings and `complete` stays false.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dns/resolver.hpp"
#include "policy/finding.hpp"
#include "policy/policy.hpp"

namespace tlsrpt::posture {

struct ProbeSettings {
  unsigned short smtp_port = 25;
  std::string ca_file;
  std::chrono::milliseconds timeout{15000};  // the whole probe
  int expiry_warning_days = 14;
  std::string helo = "tlsrpt.invalid";
  // "" offers every signature algorithm; "RSA" or "ECDSA" offers only that kind (TLS 1.3
  // signature algorithms, TLS 1.2 cipher suites), to reach a server's other certificate.
  std::string key_type;
  bool public_only = false;  // refuse non-public addresses (net::is_public)
};

struct Probe {
  std::string mx_host, address;
  bool complete = false;      // every step ran (whatever it found)
  bool starttls = false;      // offered in the EHLO answer
  std::string tls_version;    // "TLSv1.3", empty without a handshake
  std::optional<std::int64_t> not_after;  // the leaf certificate's, seconds since the epoch
  std::vector<std::string> names;         // its DNS subject alternative names
  std::string sha256;                     // of the leaf certificate (DER), hex
  std::string key_type;                   // of its public key: "RSA", "ECDSA", "Ed25519", ...
  bool trusted = false;                   // chain valid under WebPKI (expiry aside)
  bool name_matches = false;
  bool tlsa_matched = false;              // a usable TLSA record authenticated the server
  std::vector<policy::Problem> problems;
};

// `tlsa`: the MX host's TLSA records, only when the answer was DNSSEC-secure (usages 2 and 3 are
// used, others ignored).
boost::asio::awaitable<Probe> probe_mx(std::string mx_host, std::string address, std::vector<dns::Tlsa> tlsa,
                                       ProbeSettings settings);

}  // namespace tlsrpt::posture
