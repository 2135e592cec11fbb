// The database as the server's threads use it: a connection per thread to the primary (writes,
// and reads that must see them), and one per thread for the API's and the pages' reads (to a
// streaming replica when database.read_url is set, with a statement timeout); the lag of that
// replica; and the change epoch that cached answers are checked against.
//
// Blocking: call it on a worker thread. A thread's connection is made on first use and dropped
// when it breaks; a connection that broke while idle gets one retry on a fresh one (the failed
// transaction committed nothing, so retrying cannot store twice). Errors: store::Error.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "store/store.hpp"

namespace tlsrpt::store {

class Pool {
 public:
  explicit Pool(std::string url) : url_(std::move(url)) {}

  // Runs f(store) on this thread's connection to the primary.
  template <class F>
  auto with_store(F&& f) -> decltype(f(std::declval<Store&>())) {
    return retried([this]() -> Store& { return connection(); }, [] { drop_connection(); }, f);
  }
  // Drops this thread's connection to the primary (libpq keeps a connection's largest buffer for
  // its life: after a large input, a fresh one next time).
  static void drop_connection();

  // Reads (the API, the pages) from a streaming replica: `read_url` (empty: the primary). Call
  // before any with_reader. When the replica lags more than `max_lag`, replica_lag() says by how
  // much (checked at most every 5 s, on a reader's connection). Reads run on connections of
  // their own whose statements last at most `query_timeout` (0: no bound); past it, f throws a
  // store::Error that says timed_out().
  void set_reader(std::string read_url, std::chrono::seconds max_lag, std::chrono::seconds query_timeout = {}) {
    read_url_ = std::move(read_url);
    max_lag_ = max_lag;
    query_timeout_ = query_timeout;
  }
  template <class F>
  auto with_reader(F&& f) -> decltype(f(std::declval<Store&>())) {
    if (read_url_.empty() && query_timeout_.count() == 0) return with_store(std::forward<F>(f));
    return retried(
        [this]() -> Store& {
          Store& s = reader();
          check_lag(s);
          return s;
        },
        [] { drop_reader(); }, f);
  }
  // Seconds the replica is behind, when reads come from one that lags past max_lag.
  std::optional<double> replica_lag() const {
    const double lag = lag_.load();
    if (read_url_.empty() || lag <= static_cast<double>(max_lag_.count())) return std::nullopt;
    return lag;
  }

  // The change epoch: bumped by every writer of this process (intake, posture checks); an answer
  // cached at an older epoch is stale.
  std::uint64_t epoch() const { return epoch_.load(); }
  void changed() { ++epoch_; }

  const std::string& url() const { return url_; }

 private:
  // f(get()); on a transient error the connection is dropped and f runs once more on a new one.
  template <class Get, class Drop, class F>
  static auto retried(Get&& get, Drop&& drop, F& f) -> decltype(f(get())) {
    for (int attempt = 1;; ++attempt) {
      try {
        return f(get());
      } catch (const Error& e) {
        drop();
        if (!e.transient() || attempt >= 2) throw;
      }
    }
  }
  Store& connection();
  Store& reader();
  static void drop_reader();
  void check_lag(Store& s);

  std::string url_;
  std::string read_url_;
  std::chrono::seconds max_lag_{30};
  std::chrono::seconds query_timeout_{0};
  std::atomic<double> lag_{0};
  std::atomic<std::int64_t> lag_checked_ms_{0};
  std::atomic<std::uint64_t> epoch_{0};
};

}  // namespace tlsrpt::store
