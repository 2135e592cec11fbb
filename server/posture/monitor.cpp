#include "posture/monitor.hpp"

#include <boost/asio.hpp>
#include <random>
#include <thread>

namespace tlsrpt::posture {
namespace {

namespace asio = boost::asio;

}  // namespace

asio::awaitable<void> check_all(dns::Resolver& resolver, const std::vector<Monitored>& domains,
                                const CheckSettings& settings, std::size_t concurrency, const Sink& sink) {
  if (domains.empty()) co_return;
  auto executor = co_await asio::this_coro::executor;
  const std::size_t workers = std::max<std::size_t>(1, std::min(concurrency, domains.size()));
  std::size_t next = 0, running = workers;
  asio::steady_timer done(executor, asio::steady_timer::time_point::max());
  for (std::size_t w = 0; w < workers; ++w)
    asio::co_spawn(
        executor,
        [&]() -> asio::awaitable<void> {
          while (next < domains.size()) {
            const Monitored& d = domains[next++];
            CheckSettings s = settings;
            s.expected_rua = d.rua;
            Checked c;
            c.at = std::chrono::system_clock::now();
            const auto start = std::chrono::steady_clock::now();
            c.result = co_await check_domain(resolver, d.name, std::move(s));
            c.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
            sink(std::move(c));
          }
          if (--running == 0) done.cancel();
        },
        asio::detached);
  auto [ec] = co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
  (void)ec;
}

struct Monitor::Impl {
  MonitorSettings settings;
  Sink sink;
  std::function<bool()> ready;
  asio::io_context io;
  std::unique_ptr<dns::Resolver> resolver;  // after io: destroyed before it
  std::thread thread;

  Impl(MonitorSettings s, Sink k, std::function<bool()> r)
      : settings(std::move(s)), sink(std::move(k)), ready(std::move(r)),
        resolver(std::make_unique<dns::Resolver>(io, settings.dns)) {
    asio::co_spawn(io, run(), asio::detached);
    thread = std::thread([this] { io.run(); });
  }

  asio::awaitable<void> run() {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    std::mt19937_64 random(std::random_device{}());
    using ms = std::chrono::milliseconds;
    const auto first = std::chrono::duration_cast<ms>(settings.first_delay).count();
    ms wait{first > 0 ? std::uniform_int_distribution<std::int64_t>(0, first)(random) : 0};
    for (;;) {
      timer.expires_after(wait);
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      const auto started = std::chrono::steady_clock::now();
      if (!ready || ready()) co_await check_all(*resolver, settings.domains, settings.check, settings.concurrency, sink);
      const double factor = std::uniform_real_distribution<double>(0.9, 1.1)(random);
      const auto next = started + std::chrono::duration_cast<ms>(settings.interval * factor);
      wait = std::max(ms{0}, std::chrono::duration_cast<ms>(next - std::chrono::steady_clock::now()));
    }
  }

  void stop() {
    io.stop();
    if (thread.joinable()) thread.join();
  }
  ~Impl() { stop(); }
};

Monitor::Monitor(MonitorSettings settings, Sink sink, std::function<bool()> ready)
    : impl_(std::make_unique<Impl>(std::move(settings), std::move(sink), std::move(ready))) {}
Monitor::~Monitor() = default;
void Monitor::stop() { impl_->stop(); }

}  // namespace tlsrpt::posture
