#include "store/pool.hpp"

#include <memory>

namespace tlsrpt::store {
namespace {
thread_local std::unique_ptr<Store> thread_store;
thread_local std::unique_ptr<Store> thread_reader;
}  // namespace

Store& Pool::connection() {
  if (!thread_store) thread_store = std::make_unique<Store>(url_);
  return *thread_store;
}

void Pool::drop_connection() { thread_store.reset(); }

Store& Pool::reader() {
  if (!thread_reader) {
    auto s = std::make_unique<Store>(read_url_.empty() ? url_ : read_url_);
    if (query_timeout_.count() > 0) s->execute("SET statement_timeout = '" + std::to_string(query_timeout_.count()) + "s'");
    thread_reader = std::move(s);
  }
  return *thread_reader;
}

void Pool::drop_reader() { thread_reader.reset(); }

void Pool::check_lag(Store& s) {
  if (read_url_.empty()) return;  // reads from the primary: nothing lags
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t last = lag_checked_ms_.load();
  if (now - last < 5000 || !lag_checked_ms_.compare_exchange_strong(last, now)) return;
  lag_ = s.replication_lag();
}

}  // namespace tlsrpt::store
