// The IMAP poller: reports that sit in operators' mailboxes are fetched, stored and filed.
//
// One thread per mailbox, each with its own Asio context and a timeout on every network step.
// A message is moved (or flagged, or deleted) only after the store committed it; a crash in
// between means it is fetched again and stored as a duplicate. While the database is
// unavailable messages stay untouched. Lost connections and failed logins are retried with
// backoff. Two servers polling the same mailbox: a PostgreSQL advisory lock per mailbox (host,
// user, folder) lets one poll while the other stands by.
// Trusts: nothing from the server (responses are parsed by ingest/imap with size limits).
// Credentials never reach a log line or an error message.
#pragma once

#include "metrics/family.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "intake/intake.hpp"

namespace tlsrpt::imap_poller {

struct Mailbox {
  std::string name;  // for logs and metrics
  std::string host;
  unsigned short port = 993;
  enum class Tls { implicit, starttls, plain } tls = Tls::implicit;  // plain: loopback only
  std::string username, password;
  std::string folder = "INBOX";
  enum class After { move, flag, remove } after = After::move;
  std::string processed_folder = "tlsrpt/processed";
  std::string invalid_folder = "tlsrpt/invalid";
  std::chrono::seconds poll_interval{60};
  std::string ca_file;  // PEM CA certificates to trust (else the system's)
  bool verify = true;   // check the server's certificate and name
  std::size_t batch = 100;  // messages fetched and committed together
};

struct Stats {
  std::atomic<std::uint64_t> connections{0};  // logins that succeeded
  std::atomic<std::uint64_t> errors{0};       // connection, protocol and login failures
  std::atomic<std::uint64_t> messages{0};     // messages stored (any outcome) and filed
  std::atomic<std::uint64_t> deferred{0};     // batches left in place: database unavailable
  std::atomic<std::uint64_t> polling{0};      // mailboxes this server polls now (has the lock)
};
// The metric families of these counts, defined beside them; `st` must outlive the scrapes.
metrics::Families families(const Stats& st);

class Poller {
 public:
  // Starts a thread per mailbox. `database_url` is for the advisory locks.
  Poller(std::vector<Mailbox> mailboxes, intake::Intake& intake, std::string database_url);
  ~Poller();  // stop()s
  void stop();
  const Stats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlsrpt::imap_poller
