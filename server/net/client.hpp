// Who a client is, for the per-client limits of the SMTP and HTTP servers: addresses, the key a
// limit counts under, trusted proxy ranges and X-Forwarded-For.
//
// Pure functions (no I/O), fuzzed by tests/fuzz/fuzz_client.cpp. Trusts nothing: every text
// may be malformed (then nullopt). Per-client limits count an IPv4 address on its own and an
// IPv6 address by its /64, the smallest block a single customer is usually given, so that one
// host cannot multiply its share by cycling through the addresses of its own prefix. An
// IPv4-mapped IPv6 address (::ffff:192.0.2.1, from a dual-stack socket) is the IPv4 address.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrpt::net {

struct Address {
  std::array<std::uint8_t, 16> bytes{};  // IPv4 as ::ffff:a.b.c.d
  bool v4 = false;
};

// An IPv4 dotted quad or an IPv6 text form (no zone index), brackets allowed around IPv6.
std::optional<Address> parse_address(std::string_view text);

// The key per-client limits count under: "192.0.2.1" or "2001:db8:1:2::/64".
std::string client_key(const Address& address);
// The same from text; text that is not an address is its own key.
std::string client_key(std::string_view text);

// An address block: "192.0.2.0/24", "2001:db8::/32", or one address.
struct Cidr {
  Address network;
  unsigned prefix = 0;  // over the 128-bit form: an IPv4 /24 is prefix 120
  bool contains(const Address& a) const;
};
std::optional<Cidr> parse_cidr(std::string_view text);
bool contains(const std::vector<Cidr>& blocks, const Address& a);

// Whether an address is one a host on the internet can have: not loopback, private (RFC 1918,
// fc00::/7), shared (100.64.0.0/10), link-local (169.254.0.0/16 with the cloud metadata address,
// fe80::/10), unspecified, multicast or reserved. The posture checks refuse the others when
// checks.public_addresses_only is set.
bool is_public(const Address& a);
// The same from text; text that is not an address (a zone index included) is not public.
bool is_public(std::string_view text);

// The client behind trusted proxies from X-Forwarded-For (all such headers joined with ","):
// the rightmost address that is not itself a trusted proxy, since each proxy appends the
// address it received the request from and only the trusted ones are believed. nullopt when the
// header is empty or an entry up to that point is not an address.
std::optional<Address> forwarded_client(std::string_view header, const std::vector<Cidr>& trusted);

// A token bucket per client key (thread-safe): `per_minute` tokens a minute, at most `burst`
// saved up. Holds at most 100,000 clients: past that, those whose bucket is full again are
// forgotten (they would start full anyway).
class RateLimit {
 public:
  RateLimit(double per_minute, std::size_t burst);
  // 0 when allowed (a token is taken), else the seconds until a token is due.
  unsigned take(const std::string& client);
  // As take() without taking: 0 when a token is there, else the seconds until one is due.
  unsigned wait(const std::string& client);

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  void prune(std::chrono::steady_clock::time_point now);
  unsigned use(const std::string& client, bool take);
  std::mutex mutex_;
  std::map<std::string, Bucket> buckets_;
  double per_second_, burst_;
};

}  // namespace tlsrpt::net
