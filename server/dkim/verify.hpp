// DKIM: is a report message authenticated by its reporting domain (RFC 8460 section 3)?
//
// Purpose: verify each message at intake, on the exact bytes received, with libopendkim, and say
// whether some signature authenticates it: passes (body hash included), has no l= tag, uses a
// key of at least 1024 bits, and has a d= domain equal to the From domain or sharing its
// organisational domain (libpsl). Keys restricted to s=tlsrpt are accepted (RFC 8460 asks
// senders for them). Signature expiry (x=) and t= are judged at the time the message arrived,
// not now, so that a backfill weeks later keeps valid signatures valid.
// Keys: looked up through tlsrpt's own resolver (server/dns, libunbound, dns.server), never
// glibc's; answers are cached for a while. A lookup that fails temporarily (SERVFAIL, timeout)
// makes that signature a temperror, not a failure.
// Bounded: at most Settings::max_signatures signatures are verified (the rest are ignored and
// counted), all key lookups of one message share one deadline.
// Trusts: nothing in the message. Threads: verify() may run on any number of threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/resolver.hpp"

namespace tlsrpt::dkim {

// X(name, description): the result of a message. Names are stable (database, API, metrics).
#define TLSRPT_DKIM_RESULTS(X)                                                                                     \
  X(pass, "a signature authenticates the message (valid, no l=, key of 1024 bits or more, d= aligned with From)")  \
  X(fail, "signatures were checked against their keys and none authenticates the message")                       \
  X(none, "the message has no DKIM signature")                                                                    \
  X(temperror, "a key could not be looked up for now (SERVFAIL, timeout) and no other signature passed")           \
  X(permerror, "no signature could be checked: each is malformed, or its key is missing, revoked or unusable")

// X(name, description): why one signature does not authenticate the message.
#define TLSRPT_DKIM_ERRORS(X)                                                                                    \
  X(bad_signature, "the signature does not verify against the key (headers changed, or forged)")               \
  X(body_hash_mismatch, "the body was changed after signing (bh= differs)")                                    \
  X(expired, "the signature's x= had passed when the message arrived")                                         \
  X(future, "the signature's t= is later than the message's arrival")                                          \
  X(body_length_limit, "the signature has an l= tag: content may have been appended")                          \
  X(key_too_small, "the key has fewer than 1024 bits")                                                         \
  X(not_aligned, "the d= domain is neither the From domain nor in its organisational domain")                  \
  X(no_key, "no key record at selector._domainkey.domain")                                                     \
  X(key_lookup_temperror, "the key lookup failed for now (SERVFAIL, timeout, the message's lookup deadline)")   \
  X(key_revoked, "the key record has an empty p= (revoked)")                                                   \
  X(key_not_for_email, "the key's s= allows neither email nor tlsrpt")                                          \
  X(key_syntax, "the key record cannot be used (syntax, version, key type, hash, encoding)")                   \
  X(unsupported_algorithm, "the signature's a= is not one libopendkim verifies")                               \
  X(signature_syntax, "the signature header is malformed (a tag missing, empty or invalid)")                   \
  X(from_not_signed, "the signature does not cover the From header")                                           \
  X(too_many_signatures, "beyond dkim.max_signatures: not verified")                                           \
  X(key_too_large, "the key record is longer than libopendkim takes (1,024 bytes of its v, h, k, p, s, t tags): not verified") \
  X(header_not_verifiable, "the header holds a NUL byte, which RFC 5322 forbids: the message is not handed to libopendkim") \
  X(too_many_signed_fields, "a signature's h= names more fields than the header has, by more than 64: the message is not handed to libopendkim, which writes past its own array then") \
  X(other, "libopendkim reported another error")

enum class Result {
#define TLSRPT_X(name, desc) name,
  TLSRPT_DKIM_RESULTS(TLSRPT_X)
#undef TLSRPT_X
};
enum class Error {
#define TLSRPT_X(name, desc) name,
  TLSRPT_DKIM_ERRORS(TLSRPT_X)
#undef TLSRPT_X
};
enum class Alignment { exact, organizational, none };

template <class E>
struct NameInfo {
  E value;
  std::string_view name;  // kebab-case
  std::string_view description;
};
std::span<const NameInfo<Result>> all_results();
std::span<const NameInfo<Error>> all_errors();
std::string_view to_string(Result r);
std::string_view to_string(Error e);
std::string_view to_string(Alignment a);

// One signature, as verified.
struct Signature {
  std::string domain;    // d=, lower case
  std::string selector;  // s=
  int key_bits = 0;      // 0 when no key was loaded
  bool key_secure = false;  // the key's DNS answer was DNSSEC-secure
  bool key_tlsrpt = false;  // the key is restricted to s=tlsrpt
  Alignment alignment = Alignment::none;
  std::optional<Error> error;  // nullopt: this signature authenticates the message
};

struct Verdict {
  Result result = Result::none;
  // Set when the result is a trusted gateway's (dkim.trusted_authserv_ids): its authserv-id and
  // the d= domain it reported as passing. Our own signatures' outcomes stay in `signatures`.
  std::string authserv_id, authserv_domain;
  std::string from_domain;  // lower case; "" when the From header has no usable address
  std::string from_organization;  // its organisational domain (public suffix list); "" when none
  std::vector<Signature> signatures;  // in header order
  // The signature that decided: the passing one, or else the first.
  const Signature* used() const;
  // {"result", "from_domain", "domain", "selector", "key_bits", "alignment", "signatures": [...]}
  std::string to_json() const;
};

struct Settings {
  dns::Settings dns;
  int max_signatures = 5;
  std::chrono::milliseconds deadline{10000};  // all key lookups of one message
  std::chrono::seconds key_cache{600};        // how long a key answer is reused
  std::chrono::seconds clock_skew{300};       // tolerated around t= and x=
  // Gateways in front of tlsrpt whose Authentication-Results header is believed when no
  // signature passes here (a banner that broke the body hash): dkim.trusted_authserv_ids.
  std::vector<std::string> trusted_authserv_ids;
};

class Verifier {
 public:
  // Starts a resolver thread. Throws std::runtime_error when libopendkim or the resolver cannot
  // start (the message names the setting).
  explicit Verifier(Settings settings);
  ~Verifier();
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  // `arrival`: when the message arrived (seconds since the epoch).
  Verdict verify(std::string_view message, std::int64_t arrival);

  // Looks up the keys of the message's signatures (at most max_signatures) ahead of verify(),
  // without blocking: `done` is called, on the verifier's thread (or at once, on the caller's,
  // when nothing needs looking up), once every key is answered or Settings::deadline has passed;
  // keys still unanswered are then remembered as temperrors. verify() afterwards waits for no
  // lookup, so a message whose keys never come holds no thread of the caller's meanwhile.
  // `done` is not called when the verifier is destroyed first.
  void prefetch(std::string_view message, std::function<void()> done);

  struct Stats {
    std::uint64_t lookups = 0, cached = 0, temperrors = 0;
    std::uint64_t silenced = 0;  // of the temperrors: not asked, the domain timed out within 30 s
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The DKIM verdict of the topmost Authentication-Results header (RFC 8601) whose authserv-id is
// one of `ids` (case-insensitive): whether it says dkim=pass, and the header.d (or header.i)
// domain of the first dkim=pass. nullopt when no such header exists in the header section.
// Headers below it, with other ids or none, are ignored (the sender could have written them).
struct TrustedResult {
  std::string authserv_id;
  bool pass = false;
  std::string domain;  // lower case; "" when not pass
};
std::optional<TrustedResult> trusted_authentication_results(std::string_view message, const std::vector<std::string>& ids);

// When a stored message arrived, from its topmost Received header (written by the MTA that
// delivered it into the mailbox); nullopt when there is none or its date is unreadable, or more
// than a day after `now`.
std::optional<std::int64_t> arrival_from_received(std::string_view message, std::int64_t now);

// A key record with s=tlsrpt among its services rewritten to s=email (what libopendkim accepts);
// nullopt when the record has no such restriction. Bounded: the record is at most a few KiB.
std::optional<std::string> accept_tlsrpt_service(std::string_view key_record);

}  // namespace tlsrpt::dkim
