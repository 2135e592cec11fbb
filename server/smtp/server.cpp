#include "smtp/server.hpp"
#include "json/text.hpp"

#include "log/log.hpp"
#include "net/client.hpp"
#include "net/listen.hpp"
#include "net/tls.hpp"
#include "pipeline/output.hpp"

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdio>
#include <map>
#include <random>

namespace tlsrpt::smtp_server {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

std::string session_id() {
  static std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& io;
  Settings settings;
  Sink sink;
  std::vector<tcp::acceptor> acceptors;
  net::ServerTls server_tls;
  asio::thread_pool store_pool;
  std::size_t sessions = 0;
  Stats stats;
  std::map<std::string, std::size_t> per_client;  // by net::client_key
  net::RateLimit message_rate;
  bool stopping = false;

  Impl(asio::io_context& io_, Settings s, Sink k)
      : io(io_),
        settings(std::move(s)),
        sink(std::move(k)),
        // Any TLS version a sender offers (STARTTLS is opportunistic: better than plain text).
        server_tls(settings.tls_cert, settings.tls_key, false),
        store_pool(std::max(1u, settings.store_threads)),
        message_rate(settings.messages_per_minute, settings.message_burst) {
    settings.protocol.tls_available = server_tls.enabled();
    acceptors = net::listen_all(io, settings.listen);
  }

  void start() {
    for (auto& a : acceptors) asio::co_spawn(io, accept_loop(a), asio::detached);
  }

  awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    auto self = shared_from_this();
    while (!stopping) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        continue;
      }
      asio::co_spawn(io, session(std::move(socket)), asio::detached);
    }
  }

  // Reads more bytes into `buf` within `timeout`; false on timeout, error or end of stream.
  template <class Stream>
  awaitable<bool> read_more(Stream& stream, std::string& buf, std::chrono::seconds timeout, bool& timed_out) {
    char chunk[16384];
    asio::steady_timer timer(io, timeout);
    auto result = co_await (stream.async_read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable)) ||
                            timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (result.index() == 1) {
      timed_out = true;
      co_return false;
    }
    auto [ec, n] = std::get<0>(result);
    if (ec) co_return false;
    buf.append(chunk, n);
    co_return true;
  }

  // Writes all of `text` within the command timeout; false on error or timeout (a client that
  // does not read its replies: the session is closed and counted as a timeout).
  template <class Stream>
  awaitable<bool> write(Stream& stream, const std::string& text) {
    if (text.empty()) co_return true;
    asio::steady_timer timer(io, settings.command_timeout);
    auto result = co_await (asio::async_write(stream, asio::buffer(text), asio::as_tuple(asio::use_awaitable)) ||
                            timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (result.index() == 1) {
      ++stats.timeouts;
      co_return false;
    }
    co_return !std::get<0>(std::get<0>(result));
  }

  struct Context {
    std::string id;
    std::string peer;
    std::string client;  // net::client_key(peer)
    smtp::Session session;
    std::string buf;
    bool discarding = false;  // inside an over-long command line
    unsigned messages = 0;
  };

  // Runs the protocol over one stream; returns true when the client asked for STARTTLS.
  template <class Stream>
  awaitable<bool> serve(Stream& stream, Context& c) {
    while (true) {
      // Handle every complete line in the buffer (pipelined commands are answered in order).
      std::size_t start = 0;
      std::string replies;
      bool close = false, tls = false;
      while (!close && !tls) {
        const auto nl = c.buf.find('\n', start);
        if (nl == std::string::npos) break;
        std::string_view line(c.buf.data() + start, nl - start);
        start = nl + 1;
        if (c.discarding) {
          c.discarding = false;
          continue;
        }
        const bool crlf = !line.empty() && line.back() == '\r';
        if (crlf) line.remove_suffix(1);
        smtp::Session::Output out = !c.session.in_data() && line.size() > settings.line_length
                                        ? c.session.on_overlong_line()
                                        : c.session.on_line(line, crlf);
        replies += out.reply;
        close = out.close;
        tls = out.start_tls;
        if (out.message_ready) {
          if (!co_await write(stream, replies)) co_return false;
          replies.clear();
          const auto [reply, fatal] = co_await deliver(c);
          replies += reply;
          close = fatal;
        }
      }
      c.buf.erase(0, start);
      if (!co_await write(stream, replies)) co_return false;
      if (close) co_return false;
      if (tls) {
        c.buf.clear();  // anything sent with STARTTLS is discarded (RFC 3207, command injection)
        co_return true;
      }
      // Bound the partial line: a command line past the limit is refused; a data line is passed on.
      if (c.session.in_data()) {
        if (c.buf.size() > 65536) {
          c.session.on_data_fragment(c.buf);
          c.buf.clear();
        }
      } else if (c.buf.size() > settings.line_length) {
        c.buf.clear();
        if (!c.discarding) {  // one reply per over-long line, however many reads it takes
          c.discarding = true;
          const auto out = c.session.on_overlong_line();
          if (!co_await write(stream, out.reply) || out.close) co_return false;
        }
      }
      bool timed_out = false;
      const auto timeout = c.session.in_data() ? settings.data_timeout : settings.command_timeout;
      if (!co_await read_more(stream, c.buf, timeout, timed_out)) {
        if (timed_out) ++stats.timeouts;
        if (timed_out) co_await write(stream, "421 4.4.2 " + settings.protocol.hostname + " Timeout, closing connection\r\n");
        co_return false;
      }
    }
  }

  // Stores the message on a store thread; the reply and whether to close after it.
  awaitable<std::pair<std::string, bool>> deliver(Context& c) {
    const auto& env = c.session.envelope();
    using json::string_of_bytes;
    std::string source = "{\"session\":\"" + c.id + "\",\"peer\":" + string_of_bytes(c.peer) +
                         ",\"helo\":" + string_of_bytes(env.helo) +
                         ",\"mail_from\":" + string_of_bytes(env.mail_from) + ",\"rcpt\":[";
    for (std::size_t i = 0; i < env.recipients.size(); ++i)
      source += (i ? "," : "") + string_of_bytes(env.recipients[i]);
    source += "],\"tls\":" + std::string(c.session.tls_active() ? "true" : "false") + "}";
    const Delivery d{c.session.message(), std::move(source), c.client};
    const std::size_t size = d.bytes.size(), recipients = env.recipients.size();
    const auto started = std::chrono::steady_clock::now();
    std::string outcome, id;
    bool fatal = false;
    std::string reply;
    try {
      if (settings.before_store)
        co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
            [this, &d](auto handler) {
              auto h = std::make_shared<decltype(handler)>(std::move(handler));
              settings.before_store(d.bytes, [h, ex = io.get_executor()] { asio::post(ex, [h] { std::move (*h)(); }); });
            },
            asio::use_awaitable);
      id = co_await asio::co_spawn(store_pool, [this, &d]() -> awaitable<std::string> { co_return sink(d); },
                                   asio::use_awaitable);
      reply = c.session.message_accepted(id);
      outcome = "accepted";
      ++stats.messages_accepted;
    } catch (const RefusedError& e) {
      reply = c.session.message_refused(e.what());
      outcome = "refused";
      ++stats.messages_refused;
      id = e.what();
    } catch (const TransientError& e) {
      reply = c.session.message_deferred();
      outcome = "deferred";
      ++stats.messages_deferred;
      id = e.what();
    } catch (const std::exception& e) {
      reply = "421 4.3.0 " + settings.protocol.hostname + " Internal error, closing connection\r\n";
      fatal = true;
      outcome = "error";
      ++stats.messages_failed;
      id = e.what();
    }
    ++c.messages;
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    stats.store_microseconds += static_cast<std::uint64_t>(ms * 1000);
    char store_ms[32];
    std::snprintf(store_ms, sizeof store_ms, "%.1f", ms);
    log::event(outcome == "accepted" ? log::Level::info : log::Level::warn, "smtp",
               {{"session", c.id}, {"event", "message"}, {"size", std::to_string(size)}, {"rcpt", std::to_string(recipients)},
                {"outcome", outcome}, {"store_ms", store_ms}, {outcome == "accepted" ? "id" : "error", id}});
    co_return std::make_pair(reply, fatal);
  }

  awaitable<void> session(tcp::socket socket) {
    auto self = shared_from_this();
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    if (ec) co_return;
    const std::string address = net::client_key(remote.address().to_string());
    Context c{session_id(), remote.address().to_string(), address, smtp::Session(settings.protocol), {}, false, 0};
    c.session.set_admission([this, address] {
      if (message_rate.take(address) == 0) return true;
      ++stats.rate_limited;
      return false;
    });
    const auto held = per_client.find(address);
    if (sessions >= settings.max_sessions ||
        (held != per_client.end() && held->second >= settings.max_sessions_per_client)) {
      ++stats.sessions_refused;
      log::event(log::Level::warn, "smtp",
                 {{"session", c.id}, {"event", "refused"}, {"peer", c.peer}, {"reason", "too-many-sessions"}});
      co_await write(socket, "421 4.7.0 " + settings.protocol.hostname + " Too many connections, try again later\r\n");
      co_return;
    }
    ++sessions;
    ++per_client[address];
    ++stats.sessions;
    ++stats.active_sessions;
    struct Release {
      Impl& impl;
      std::string a;
      ~Release() {
        --impl.stats.active_sessions;
        --impl.sessions;
        if (--impl.per_client[a] == 0) impl.per_client.erase(a);
      }
    } release{*this, address};
    log::event(log::Level::info, "smtp", {{"session", c.id}, {"event", "connect"}, {"peer", c.peer}});
    bool tls_started = false;
    if (co_await write(socket, c.session.greeting()) && co_await serve(socket, c) && server_tls.enabled()) {
      const auto context = server_tls.current();  // this session's, even if SIGHUP replaces it meanwhile
      asio::ssl::stream<tcp::socket&> stream(socket, *context);
      asio::steady_timer timer(io, settings.command_timeout);
      auto r = co_await (stream.async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable)) ||
                         timer.async_wait(asio::as_tuple(asio::use_awaitable)));
      if (r.index() == 0 && !std::get<0>(std::get<0>(r))) {
        tls_started = true;
        ++stats.sessions_tls;
        c.session.tls_started();
        co_await serve(stream, c);
      }
    }
    log::event(log::Level::info, "smtp",
               {{"session", c.id}, {"event", "close"}, {"messages", std::to_string(c.messages)}, {"tls", tls_started ? "yes" : "no"}});
    socket.close(ec);
  }
};

Server::Server(boost::asio::io_context& io, Settings settings, Sink sink)
    : impl_(std::make_shared<Impl>(io, std::move(settings), std::move(sink))) {
  impl_->start();
}

Server::~Server() { stop(); }

const Stats& Server::stats() const { return impl_->stats; }

bool Server::tls_enabled() const { return impl_->server_tls.enabled(); }

std::string Server::reload_tls(const std::string& cert_files, const std::string& key_files) {
  return impl_->server_tls.reload(cert_files, key_files);
}

void Server::stop() {
  impl_->stopping = true;
  for (auto& a : impl_->acceptors) {
    boost::system::error_code ec;
    a.close(ec);
  }
}

RefusedError not_authenticated(const std::string& detail, std::int64_t kept_as) {
  return RefusedError("550 5.7.20 No DKIM signature authenticates this report (" + detail + "); kept as " +
                      std::to_string(kept_as));
}

RefusedError key_lookup_deferred(const std::string& why) {
  return RefusedError("451 4.7.5 DKIM key lookup failed for now (" + why + "), try again later");
}

metrics::Families families(const Stats& st) {
  return {
      {"tlsrpt_smtp_sessions_total", "SMTP connections accepted", true, metrics::reading(st.sessions)},
      {"tlsrpt_smtp_sessions_refused_total", "SMTP connections refused (over max_sessions or per client)", true, metrics::reading(st.sessions_refused)},
      {"tlsrpt_smtp_tls_sessions_total", "SMTP sessions that completed STARTTLS", true, metrics::reading(st.sessions_tls)},
      {"tlsrpt_smtp_timeouts_total", "SMTP sessions closed for a command, data or write timeout (a client that does not read its replies)", true, metrics::reading(st.timeouts)},
      {"tlsrpt_smtp_rate_limited_total", "MAIL commands deferred (450) for the per-client message rate", true, metrics::reading(st.rate_limited)},
      {"tlsrpt_smtp_active_sessions", "SMTP sessions open now", false, metrics::reading(st.active_sessions)},
  };
}

}  // namespace tlsrpt::smtp_server
