// Intake: the one path from received bytes to a committed outcome, shared by every network
// receiver (SMTP, HTTPS, IMAP): parse with the pipeline, store, count in the metrics.
//
// Blocking: call it on a worker thread. Each thread gets its own database connection on first
// use and drops it when it breaks, or after inputs of more than 1 MiB (whose buffers libpq would
// keep); a connection that broke while idle gets one retry on a fresh one (the failed
// transaction committed nothing, so retrying cannot store twice).
// Errors: store::Error; transient() means the caller should make the sender retry later.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dkim/gate.hpp"
#include "metrics/metrics.hpp"
#include "pipeline/pipeline.hpp"
#include "store/store.hpp"

namespace tlsrpt::intake {

struct Outcome {
  pipeline::Result parsed;
  store::StoreResult stored;
  std::optional<dkim::Verdict> dkim;  // nullopt: not verified (dkim.mode off, no report, https)
};

// dkim.mode = require, SMTP, and a key lookup failed for now: nothing is stored, the sender
// retries (451).
class DkimDeferred : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What intake does with DKIM: the gate (nullptr: off), and whether report sessions count in the
// metric series that alerts use only when authenticated (dkim.alert_on = authenticated).
struct Authentication {
  dkim::Gate* gate = nullptr;
  bool alert_on_authenticated = false;
};

class Intake {
 public:
  Intake(std::string database_url, report::Limits limits, metrics::Metrics& metrics, store::RejectedQuota quota = {},
         Authentication auth = {})
      : url_(std::move(database_url)), limits_(limits), metrics_(metrics), quota_(quota), auth_(auth) {}

  // `client`: the sender's net::client_key, for the rejected-input quota ("" for none).
  // `arrival`: when the message arrived (nullopt: its topmost Received header, else now).
  Outcome ingest(std::string_view bytes, std::string_view transport, std::string source_json, std::string client = {},
                 std::optional<std::int64_t> arrival = std::nullopt, bool submitter = false);

  // Several inputs in one transaction (one commit for all: what a mailbox drain needs to be
  // fast); all or nothing. Same errors as ingest().
  struct Input {
    std::string_view bytes;
    std::string source_json;
    std::string client;
    // When the message arrived (DKIM expiry is judged then); nullopt: its topmost Received
    // header, else now.
    std::optional<std::int64_t> arrival = {};
    // HTTPS only: the report came from a configured submitter (http.intake_tokens). Without one,
    // an HTTPS report counts as unauthenticated, as mail that DKIM does not authenticate.
    bool submitter = false;
  };
  std::vector<Outcome> ingest_batch(const std::vector<Input>& inputs, std::string_view transport);

  // Runs f(store) on this thread's connection with the same retry rule (for API queries).
  template <class F>
  auto with_store(F&& f) -> decltype(f(std::declval<store::Store&>())) {
    return retried([this]() -> store::Store& { return connection(); }, [this] { drop_connection(); }, f);
  }

  // Reads (the API, the pages) from a streaming replica: `read_url` (empty: the primary). Call
  // before any with_reader. When the replica lags more than `max_lag`, replica_lag() says by how
  // much (checked at most every 5 s, on a reader's connection).
  // Reads run on connections of their own (to the replica, or to the primary) whose statements
  // last at most `query_timeout` (0: no bound); past it, f throws a store::Error that says
  // timed_out().
  void set_reader(std::string read_url, std::chrono::seconds max_lag, std::chrono::seconds query_timeout = {}) {
    read_url_ = std::move(read_url);
    max_lag_ = max_lag;
    query_timeout_ = query_timeout;
  }
  template <class F>
  auto with_reader(F&& f) -> decltype(f(std::declval<store::Store&>())) {
    if (read_url_.empty() && query_timeout_.count() == 0) return with_store(std::forward<F>(f));
    return retried(
        [this]() -> store::Store& {
          store::Store& s = reader();
          check_lag(s);
          return s;
        },
        [this] { drop_reader(); }, f);
  }
  // Seconds the replica is behind, when reads come from one that lags past max_lag.
  std::optional<double> replica_lag() const {
    const double lag = lag_.load();
    if (read_url_.empty() || lag <= static_cast<double>(max_lag_.count())) return std::nullopt;
    return lag;
  }

  const report::Limits& limits() const { return limits_; }
  metrics::Metrics& metrics() { return metrics_; }
  // Counts inputs this process has stored (any outcome): cached answers older than a change are stale.
  std::uint64_t writes() const { return writes_.load(); }
  // Another writer changed what answers read (a stored posture check): cached answers are stale.
  void changed() { ++writes_; }

 private:
  static constexpr std::size_t large_input = 1024 * 1024;
  // f(get()); on a transient error the connection is dropped and f runs once more on a new one.
  template <class Get, class Drop, class F>
  static auto retried(Get&& get, Drop&& drop, F& f) -> decltype(f(get())) {
    for (int attempt = 1;; ++attempt) {
      try {
        return f(get());
      } catch (const store::Error& e) {
        drop();
        if (!e.transient() || attempt >= 2) throw;
      }
    }
  }
  store::Store& connection();
  store::Store& reader();
  void drop_reader();
  void check_lag(store::Store& s);
  std::string read_url_;
  std::chrono::seconds max_lag_{30};
  std::chrono::seconds query_timeout_{0};
  std::atomic<double> lag_{0};
  std::atomic<std::int64_t> lag_checked_ms_{0};
  static void drop_connection();

  std::string url_;
  report::Limits limits_;
  metrics::Metrics& metrics_;
  store::RejectedQuota quota_;
  Authentication auth_;
  std::atomic<std::uint64_t> writes_{0};
};

}  // namespace tlsrpt::intake
