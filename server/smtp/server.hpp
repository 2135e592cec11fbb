// The SMTP listener: Boost.Asio sockets around the protocol state machine in ingest/smtp.
//
// Purpose: accept TLS reports mailed straight to tlsrpt and answer 250 only once the message and
// its outcome are committed (the sink returns); 451 when the database is unavailable, so the
// sender retries; 421 on a bug or a timeout.
// Trusts: nothing from the network. Bounded: command line length, message size, recipients,
// sessions in all and per client (an IPv4 address, an IPv6 /64), messages per client and minute,
// command, data and write timeouts (a client that never reads its replies is closed like one
// that never writes), bad commands.
// Memory: at most max_sessions * (2 * message_size + 80 KiB) (a message buffer grows by
// doubling, plus the line buffer) + store_threads * 4 * message_size (the copies on their way
// into PostgreSQL). A session gives its message buffer back after each message.
#pragma once

#include "metrics/family.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "smtp/session.hpp"

namespace boost::asio {
class io_context;
}

namespace tlsrpt::smtp_server {

struct Settings {
  std::vector<std::string> listen{"127.0.0.1:2525"};  // host:port, [v6]:port
  smtp::Config protocol;
  std::string tls_cert;  // PEM certificate chain and key: STARTTLS is offered when both are set
  std::string tls_key;
  std::size_t line_length = 2048;  // longest command line
  std::size_t max_sessions = 100;
  std::size_t max_sessions_per_client = 10;
  std::chrono::seconds command_timeout{300};
  std::chrono::seconds data_timeout{600};
  // Messages (MAIL commands) per client and minute, a token bucket; past it 450 4.7.1.
  double messages_per_minute = 60;
  std::size_t message_burst = 60;
  unsigned store_threads = 8;  // blocking store calls run on these, one database connection each
  // Called on the I/O thread with each message before it takes a store thread; the message goes
  // on when `ready` is called (from any thread). DKIM key lookups run here, so that a message
  // whose keys never come waits without holding a store thread. Empty: none.
  std::function<void(std::string_view message, std::function<void()> ready)> before_store;
};

// Where a message goes: called on a store thread; returns an id to quote in the 250 reply.
// Throws TransientError when the sender should retry (451), RefusedError with its own reply;
// anything else is a bug (421).
struct Delivery {
  std::string_view bytes;
  std::string source_json;  // peer, helo, envelope, tls, session id
  std::string client;       // net::client_key of the peer (for the rejected-input quota)
};
class TransientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// The sink's own answer to the message: what() is the whole reply line without CRLF (a 4xx or
// 5xx code, an enhanced status code and words), e.g. a DKIM refusal under dkim.mode = require.
class RefusedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
using Sink = std::function<std::string(const Delivery&)>;
// The replies for DKIM: dkim.mode = require and no signature authenticates the message (kept as
// the rejected input `kept_as`); a key lookup that failed for now (the sender retries).
RefusedError not_authenticated(const std::string& detail, std::int64_t kept_as);
RefusedError key_lookup_deferred(const std::string& why);

// Counters for the metrics exporter (read at any time from any thread).
struct Stats {
  std::atomic<std::uint64_t> sessions{0};          // accepted connections
  std::atomic<std::uint64_t> sessions_refused{0};  // over max_sessions or max_sessions_per_client
  std::atomic<std::uint64_t> sessions_tls{0};      // STARTTLS handshakes completed
  std::atomic<std::uint64_t> timeouts{0};           // command, data or write timeouts: the session was closed
  std::atomic<std::uint64_t> rate_limited{0};       // MAIL deferred with 450 for the per-client message rate
  std::atomic<std::uint64_t> messages_accepted{0};  // 250 after commit
  std::atomic<std::uint64_t> messages_deferred{0};  // 451: database unavailable
  std::atomic<std::uint64_t> messages_refused{0};   // the sink's own 4xx/5xx (RefusedError)
  std::atomic<std::uint64_t> messages_failed{0};    // 421: a bug
  std::atomic<std::uint64_t> store_microseconds{0};  // total time spent storing
  std::atomic<std::uint64_t> active_sessions{0};
};
// The metric families of these counts, defined beside them; `st` must outlive the scrapes.
metrics::Families families(const Stats& st);

class Server {
 public:
  const Stats& stats() const;
  // Binds every listen address (throws std::runtime_error naming the one that failed).
  Server(boost::asio::io_context& io, Settings settings, Sink sink);
  ~Server();
  void stop();  // stop accepting; sessions finish their current command
  // SIGHUP: reads the certificate and key files again; new handshakes use them, open sessions
  // keep theirs. Throws std::runtime_error (the current ones stay). Returns subject and expiry.
  bool tls_enabled() const;  // STARTTLS offered
  std::string reload_tls(const std::string& cert_files, const std::string& key_files);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tlsrpt::smtp_server
