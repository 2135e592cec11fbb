// Scheduled posture checks of the monitored domains (tlsrpt serve), and one pass over a list of
// domains with bounded concurrency (also what `tlsrpt check` and the benchmark run).
//
// Purpose: every checks.interval (jittered by ±10 %, so that checks do not fall into step with
// other hourly jobs), check every monitored domain, at most `concurrency` at once, and hand each
// result to a sink as it completes. Only the configured domains are ever contacted.
// Threads: the Monitor runs its own io_context on a thread of its own, so that slow DNS servers
// and MX hosts never delay SMTP or HTTP; the sink is called on that thread, one result at a time.
// Errors: a check's problems are findings; nothing here throws once constructed.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dns/resolver.hpp"
#include "posture/check.hpp"

namespace tlsrpt::posture {

struct Monitored {
  std::string name;  // lower case, no trailing dot
  std::string rua;   // the address its _smtp._tls record must list first; empty: not checked
};

struct Checked {
  Result result;
  std::chrono::system_clock::time_point at;  // when the check started
  std::chrono::milliseconds took{0};
};
using Sink = std::function<void(Checked&&)>;

// Checks each domain once, at most `concurrency` at a time, calling `sink` as each completes.
boost::asio::awaitable<void> check_all(dns::Resolver& resolver, const std::vector<Monitored>& domains,
                                       const CheckSettings& settings, std::size_t concurrency, const Sink& sink);

struct MonitorSettings {
  std::vector<Monitored> domains;
  CheckSettings check;  // expected_rua is each domain's
  dns::Settings dns;
  std::chrono::seconds interval{3600};
  std::size_t concurrency = 8;
  std::chrono::seconds first_delay{10};  // the first pass starts at a random point within this
};

class Monitor {
 public:
  // Starts the resolver (throws std::runtime_error when it cannot: a bad trust anchor file) and
  // the thread. `ready` is asked before each pass; false skips the pass (another server holds
  // the checks, see serve).
  Monitor(MonitorSettings settings, Sink sink, std::function<bool()> ready = {});
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlsrpt::posture
