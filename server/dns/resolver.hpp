// DNS through libunbound, validating DNSSEC, driven from Asio: one resolver for the posture
// checks and for DKIM key lookups, so that tests and production take one path.
//
// Purpose: answer (name, type) with the records, whether the answer is DNSSEC-secure, and what
// went wrong when it is not an answer. Trusts: nothing in the answers (rdata decoders are
// bounded and return nullopt on malformed data). Bounded: every query has a deadline (Settings::
// timeout), after which it is cancelled and answered `timeout`; libunbound's own retries can take
// minutes. Errors: an Answer's outcome, never an exception once constructed.
// Threads: resolve() and its callbacks run on the io_context's thread (libunbound works in a
// thread of its own and hands results over through a pipe that Asio watches).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace tlsrpt::dns {

struct Settings {
  // HOST:PORT (or HOST@PORT) of a server that gets every query, for tests and split horizons;
  // empty: resolve from the root.
  std::string server;
  std::string trust_anchor_file = "/usr/share/dns/root.key";  // DS or DNSKEY records, zone-file format
  std::chrono::milliseconds timeout{5000};
};

enum class Type : int { a = 1, cname = 5, mx = 15, txt = 16, aaaa = 28, tlsa = 52 };

enum class Outcome {
  answer,    // records in `rdata`
  nodata,    // the name exists, without records of this type
  nxdomain,  // the name does not exist
  bogus,     // DNSSEC validation failed (`why` says how)
  servfail,  // the server failed or refused (rcode in `why`)
  timeout,   // no answer within Settings::timeout
  error,     // libunbound could not run the query (`why`)
};
std::string_view to_string(Outcome outcome);

struct Answer {
  Outcome outcome = Outcome::error;
  bool secure = false;     // DNSSEC-validated (for nodata/nxdomain: the denial is proven)
  std::string canonical;   // the name after CNAMEs, when libunbound gives one
  std::vector<std::string> rdata;  // wire-format rdata, one per record
  std::string why;
};

// Rdata decoders (pure).
std::optional<std::string> txt_text(std::string_view rdata);  // a TXT record's strings, joined
struct Mx {
  std::uint16_t preference = 0;
  std::string host;  // lower case, no final dot
};
std::optional<Mx> mx(std::string_view rdata);
std::optional<std::string> address(std::string_view rdata);  // A or AAAA as text
struct Tlsa {
  std::uint8_t usage = 0, selector = 0, matching = 0;
  std::string data;  // the certificate association data, bytes
};
std::optional<Tlsa> tlsa(std::string_view rdata);

class Resolver {
 public:
  // Throws std::runtime_error naming the setting that libunbound refused.
  Resolver(boost::asio::io_context& io, Settings settings);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // `done` is called once, on the io_context's thread (never from within resolve()).
  void resolve(std::string name, Type type, std::function<void(Answer)> done);
  boost::asio::awaitable<Answer> query(std::string name, Type type);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tlsrpt::dns
