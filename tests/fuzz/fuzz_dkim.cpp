// DKIM on untrusted mail: any bytes as a message verified by libopendkim with tlsrpt's hooks (key
// lookups answer at once: the deadline is zero, so every lookup is a temperror and no network
// wait slows the run), as the Received header that dates a message's arrival, as Authentication-
// Results headers of trusted gateways, and as a key record whose s=tlsrpt is rewritten. Each
// either gives a consistent verdict or nothing.
#include <cstdlib>
#include <string>

#include "common.hpp"
#include "dkim/verify.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlsrpt::dkim;
  const std::string_view input = tlsrpt::fuzz::view(data, size);
  constexpr std::int64_t now = 1800000000;
  if (const auto when = arrival_from_received(input, now); when && (*when < 0 || *when > now + 86400)) std::abort();
  if (const auto record = accept_tlsrpt_service(input)) {
    if (record->find("s=email") == std::string::npos || accept_tlsrpt_service(*record)) std::abort();
  }
  if (const auto t = trusted_authentication_results(input, {"gw.example", "mx.example.net"}))
    if ((t->pass && t->domain.empty()) || t->authserv_id.empty()) std::abort();
  static Verifier verifier([] {
    Settings s;
    s.dns.server = "127.0.0.1:9";  // discard: nothing answers, and nothing is waited for
    s.dns.trust_anchor_file = "";
    s.dns.timeout = std::chrono::milliseconds(10);
    s.deadline = std::chrono::milliseconds(0);
    return s;
  }());
  const Verdict v = verifier.verify(input, now);
  if ((v.result == Result::none) != v.signatures.empty()) std::abort();
  if (v.result == Result::pass) std::abort();  // no key was ever available
  if (v.signatures.size() > 1000 || v.to_json().empty()) std::abort();
  return 0;
}
