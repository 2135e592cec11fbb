// Intake: the one path from received bytes to a committed outcome, shared by every network
// receiver (SMTP, HTTPS, IMAP): parse with the pipeline, verify DKIM, store through the pool
// (store/pool.hpp: a connection per thread, one retry on a broken idle one), count in the metrics.
//
// Blocking: call it on a worker thread. After inputs of more than 1 MiB the thread's connection
// is dropped (libpq would keep their buffers). Errors: store::Error; transient() means the
// caller should make the sender retry later.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dkim/gate.hpp"
#include "metrics/metrics.hpp"
#include "pipeline/pipeline.hpp"
#include "store/pool.hpp"
#include "store/queries.hpp"
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
  Intake(store::Pool& pool, report::Limits limits, metrics::Metrics& metrics, store::RejectedQuota quota = {},
         Authentication auth = {})
      : pool_(pool), limits_(limits), metrics_(metrics), quota_(quota), auth_(auth) {}

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

  const report::Limits& limits() const { return limits_; }
  // The MX hosts the posture checks last saw (store::known_mx), read again at most once a
  // minute: a DANE policy that names one of them is counted under its report's domain.
  report::MxOf mx_of();
  metrics::Metrics& metrics() { return metrics_; }

 private:
  static constexpr std::size_t large_input = 1024 * 1024;
  store::Pool& pool_;
  report::Limits limits_;
  metrics::Metrics& metrics_;
  store::RejectedQuota quota_;
  Authentication auth_;
  std::mutex mx_mutex_;
  std::shared_ptr<const store::KnownMx> mx_;
  std::chrono::steady_clock::time_point mx_read_{};
};

}  // namespace tlsrpt::intake
