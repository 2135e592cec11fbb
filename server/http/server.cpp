#include "http/server.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <arpa/inet.h>

#include <cstdio>
#include <limits>

#include "json/text.hpp"
#include <map>

#include "log/log.hpp"
#include "net/client.hpp"
#include "net/listen.hpp"
#include "net/tls.hpp"

namespace tlsrpt::http_server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::ip::tcp;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

Request head_of(const http::request_parser<http::string_body>& parser, const std::string& peer) {
  const auto& m = parser.get();
  Request r;
  r.method = std::string(m.method_string());
  const std::string_view target = m.target();
  const auto q = target.find('?');
  r.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) r.query = std::string(target.substr(q + 1));
  r.content_type = std::string(m[http::field::content_type]);
  r.authorization = std::string(m[http::field::authorization]);
  r.user_agent = std::string(m[http::field::user_agent]);
  r.expect = std::string(m[http::field::expect]);
  r.host = std::string(m[http::field::host]);
  if (!r.host.empty() && r.host.front() == '[') r.host = r.host.substr(0, r.host.find(']') + 1);  // [v6]:port
  else r.host = r.host.substr(0, r.host.find(':'));
  for (auto& c : r.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& f : m)
    if (f.name() == http::field::cookie) r.cookie += (r.cookie.empty() ? "" : "; ") + std::string(f.value());
  if (parser.content_length()) r.content_length = *parser.content_length();
  r.chunked = parser.chunked();
  r.peer = peer;
  r.client = net::client_key(peer);
  return r;
}

// All X-Forwarded-For fields of a request, joined with ",".
std::string forwarded_for(const http::request_parser<http::string_body>& parser) {
  std::string out;
  for (const auto& f : parser.get())
    if (beast::iequals(f.name_string(), "X-Forwarded-For"))
      out += (out.empty() ? "" : ",") + std::string(f.value());
  return out;
}

// Bytes held against Settings::buffer_memory, given back when it goes.
class Reservation {
 public:
  Reservation(std::size_t& used, std::size_t limit, Stats& stats) : used_(used), limit_(limit), stats_(stats) {}
  ~Reservation() { release(); }
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  // Holds `total` bytes in all (more or fewer than now); false, holding what it held, when that
  // would take the servers' total past the limit.
  bool hold(std::size_t total) {
    if (total > held_ && used_ + (total - held_) > limit_) return false;
    used_ = used_ - held_ + total;
    held_ = total;
    stats_.buffered_bytes = used_;
    return true;
  }
  void release() { hold(0); }

 private:
  std::size_t& used_;
  std::size_t limit_;
  Stats& stats_;
  std::size_t held_ = 0;
};

Response plain_error(unsigned status, const std::string& message) {
  Response r;
  r.status = status;
  r.body = "{\"status\":" + std::to_string(status) + ",\"error\":" + json::string(message) + "}";
  return r;
}

Response busy() {
  Response r = plain_error(503, "the server holds as many request and response bodies as it may; retry later");
  r.headers.emplace_back("Retry-After", "5");
  return r;
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& io;
  Settings settings;
  Handler& handler;
  std::vector<tcp::acceptor> acceptors;
  net::ServerTls tls;
  asio::thread_pool workers;
  asio::thread_pool health_worker{1};
  std::map<std::string, std::size_t> on_workers;  // requests under way on the workers, by client (I/O thread only)
  std::size_t connections = 0;
  std::map<std::string, std::size_t> per_client;  // open connections by net::client_key
  std::size_t buffered = 0;  // bytes held against settings.buffer_memory (I/O thread only)
  Stats stats;
  bool stopping = false;

  Impl(asio::io_context& io_, Settings s, Handler& h)
      : io(io_),
        settings(std::move(s)),
        handler(h),
        tls(settings.tls_cert, settings.tls_key, true),
        workers(std::max(1u, settings.worker_threads)) {
    acceptors = net::listen_all(io, settings.listen);
  }

  ~Impl() {
    workers.join();
    health_worker.join();
  }

  bool is_trusted(const std::string& peer) const {
    const auto a = net::parse_address(peer);
    return a && net::contains(settings.trusted_proxies, *a);
  }

  void start() {
    for (auto& a : acceptors) asio::co_spawn(io, accept_loop(a), asio::detached);
  }

  awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    auto self = shared_from_this();
    while (!stopping) {
      auto [ec, socket] = co_await acceptor.async_accept(tuple_awaitable);
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        continue;
      }
      boost::system::error_code rec;
      const auto remote = socket.remote_endpoint(rec);
      const std::string peer = rec ? std::string("unknown") : remote.address().to_string();
      // Trusted proxies carry many clients: they are exempt from the per-client limit.
      const std::string key = is_trusted(peer) ? std::string() : net::client_key(peer);
      const auto held = key.empty() ? per_client.end() : per_client.find(key);
      if (connections >= settings.max_connections ||
          (held != per_client.end() && held->second >= settings.max_connections_per_client)) {
        ++stats.connections_refused;
        socket.close(rec);  // over a limit: the client sees a closed connection and retries
        continue;
      }
      asio::co_spawn(io, connection(std::move(socket), peer, key), asio::detached);
    }
  }

  awaitable<void> connection(tcp::socket socket, std::string peer, std::string key) {
    auto self = shared_from_this();
    ++connections;
    ++stats.connections;
    ++stats.active_connections;
    if (!key.empty()) ++per_client[key];
    struct Count {
      Impl& impl;
      std::string key;
      ~Count() {
        --impl.connections;
        --impl.stats.active_connections;
        if (!key.empty() && --impl.per_client[key] == 0) impl.per_client.erase(key);
      }
    } count{*this, key};
    beast::tcp_stream tcp(std::move(socket));
    // This connection's context, even if SIGHUP replaces it meanwhile.
    const auto context = settings.sni ? settings.sni->context() : tls.current();
    if (!context) {
      co_await serve(tcp, peer, std::string());
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), *context);
    beast::get_lowest_layer(stream).expires_after(settings.read_timeout);
    auto [hs] = co_await stream.async_handshake(asio::ssl::stream_base::server, tuple_awaitable);
    if (hs) co_return;
    const char* name = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
    std::string sni = name ? name : "";
    for (auto& c : sni) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    co_await serve(stream, peer, sni);
    // Send close_notify without waiting for the client's: a client that read its answer to
    // "Connection: close" closes the socket without one, and waiting (up to 5 s) would hold the
    // connection's slot against the per-client limit meanwhile (as nginx does).
    SSL_set_shutdown(stream.native_handle(), SSL_RECEIVED_SHUTDOWN);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
    co_await stream.async_shutdown(tuple_awaitable);
  }

  template <class Stream>
  awaitable<bool> send(Stream& stream, const Request& req, Response& resp, unsigned version, bool keep_alive,
                       std::chrono::steady_clock::time_point started) {
    http::response<http::string_body> res{static_cast<http::status>(resp.status), version};
    res.set(http::field::server, "tlsrpt");
    res.set(http::field::content_type, resp.content_type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : resp.headers) res.insert(name, value);
    Reservation held(buffered, settings.buffer_memory, stats);
    if (resp.body.size() > settings.small_response && !held.hold(resp.body.size())) {
      ++stats.memory_refused;
      Response b = busy();
      co_return co_await send(stream, req, b, version, false, started);
    }
    res.keep_alive(keep_alive);
    res.body() = std::move(resp.body);
    res.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(settings.read_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, tuple_awaitable);
    (void)n;
    handler.finished(req, resp, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    co_return !ec && keep_alive;
  }

  // After refusing a request whose body was not read: stop sending, then read and discard what
  // the client is still sending (at most 2 s and 64 MiB), so that it sees the answer instead of
  // a connection reset.
  template <class Stream>
  awaitable<void> linger(Stream& stream) {
    auto& tcp = beast::get_lowest_layer(stream);
    boost::system::error_code ignored;
    tcp.socket().shutdown(tcp::socket::shutdown_send, ignored);
    tcp.expires_after(std::chrono::seconds(2));
    char chunk[16384];
    for (std::size_t drained = 0; drained < (64u << 20);) {
      auto [ec, n] = co_await tcp.async_read_some(asio::buffer(chunk), tuple_awaitable);
      if (ec) break;
      drained += n;
    }
  }

  // The request's client: the TCP peer, or behind a trusted proxy the address X-Forwarded-For
  // names (see net::forwarded_client).
  void identify(Request& req, const http::request_parser<http::string_body>& parser) const {
    if (settings.trusted_proxies.empty() || !is_trusted(req.peer)) return;
    const std::string header = forwarded_for(parser);
    if (header.empty()) return;
    const auto client = net::forwarded_client(header, settings.trusted_proxies);
    if (!client) return;  // a proxy that sends garbage is the client itself
    req.proxy = req.peer;
    req.client = net::client_key(*client);
    char text[INET6_ADDRSTRLEN];
    const bool v4 = client->v4;
    inet_ntop(v4 ? AF_INET : AF_INET6, client->bytes.data() + (v4 ? 12 : 0), text, sizeof text);
    req.peer = text;
  }

  // Refuses a request without reading its body (which is then drained for a moment, so that the
  // client sees the answer rather than a reset).
  template <class Stream>
  awaitable<void> refuse(Stream& stream, const Request& req, Response& r, unsigned version,
                         std::chrono::steady_clock::time_point started) {
    co_await send(stream, req, r, version, false, started);
    if (req.content_length.value_or(0) > 0 || req.chunked) co_await linger(stream);
  }

  template <class Stream>
  awaitable<void> serve(Stream& stream, const std::string& peer, const std::string& sni) {
    beast::flat_buffer buffer;
    bool first = true;
    while (!stopping) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(16 * 1024);
      // The body limit applies once check() has seen the headers (which answers a too-large
      // Content-Length itself); until then Beast would fail the header read on it.
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      beast::get_lowest_layer(stream).expires_after(first ? settings.read_timeout : settings.idle_timeout);
      first = false;
      auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, tuple_awaitable);
      (void)n;
      const auto started = std::chrono::steady_clock::now();
      if (ec) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
            ec == asio::error::connection_reset || ec == asio::error::operation_aborted || ec == asio::ssl::error::stream_truncated)
          co_return;
        Request bad;
        bad.peer = peer;
        Response r = plain_error(ec == http::error::header_limit ? 431 : 400,
                                 ec == http::error::header_limit ? "request headers too large" : "malformed HTTP request");
        co_await send(stream, bad, r, 11, false, started);
        co_return;
      }
      Request req = head_of(parser, peer);
      req.tls = !std::is_same_v<Stream, beast::tcp_stream>;
      req.sni = sni;
      identify(req, parser);
      const unsigned version = parser.get().version();
      const bool expect_continue = beast::iequals(req.expect, "100-continue");
      if (!req.expect.empty() && !expect_continue) {
        Response r = plain_error(417, "the only expectation understood is 100-continue");
        co_await refuse(stream, req, r, version, started);
        co_return;
      }
      if (auto refusal = handler.check(req)) {
        co_await refuse(stream, req, *refusal, version, started);
        co_return;
      }
      parser.body_limit(settings.body_limit);
      // The body's bytes are held against buffer_memory: all of a declared length before any of
      // it is read (Beast allocates that much at once), a chunked body as it grows.
      Reservation held(buffered, settings.buffer_memory, stats);
      if (req.content_length && !held.hold(static_cast<std::size_t>(std::min<std::uint64_t>(*req.content_length, settings.body_limit)))) {
        ++stats.memory_refused;
        Response r = busy();
        co_await refuse(stream, req, r, version, started);
        co_return;
      }
      if (expect_continue) {
        http::response<http::empty_body> cont{http::status::continue_, version};
        auto [cec, cn] = co_await http::async_write(stream, cont, tuple_awaitable);
        (void)cn;
        if (cec) co_return;
      }
      beast::get_lowest_layer(stream).expires_after(settings.read_timeout);
      boost::system::error_code bec;
      while (!parser.is_done()) {
        auto [rec, rn] = co_await http::async_read_some(stream, buffer, parser, tuple_awaitable);
        (void)rn;
        if ((bec = rec)) break;
        if (req.chunked && !held.hold(parser.get().body().capacity())) {
          ++stats.memory_refused;
          Response r = busy();
          co_await send(stream, req, r, version, false, started);
          co_await linger(stream);
          co_return;
        }
      }
      if (bec) {
        Response r;
        if (bec == http::error::body_limit) {
          r = plain_error(413, "body larger than " + std::to_string(settings.body_limit) + " bytes");
        } else if (bec.category() == http::make_error_code(http::error::bad_chunk).category() &&
                   bec != http::error::partial_message && bec != http::error::end_of_stream) {
          r = plain_error(400, "malformed request body (" + bec.message() + ")");
        } else {
          co_return;  // the client went away or timed out
        }
        co_await send(stream, req, r, version, false, started);
        co_await linger(stream);
        co_return;
      }
      req.body = std::move(parser.get().body());
      const bool keep_alive = parser.get().keep_alive();
      Response resp;
      const bool inline_answer = handler.on_io_thread(req);
      const bool own = !inline_answer && handler.own_worker(req);
      const auto held_now = on_workers.find(req.client);
      const std::size_t mine = held_now == on_workers.end() ? 0 : held_now->second;
      try {
        if (inline_answer) {
          resp = handler.handle(req);  // from memory: no hop to a worker, no per-client worker count
        } else if (!own && settings.worker_requests_per_client && mine >= settings.worker_requests_per_client) {
          ++stats.workers_refused;
          resp = plain_error(429, "too many requests under way from this address (" +
                                      std::to_string(settings.worker_requests_per_client) + "); retry when they finish");
          resp.headers.emplace_back("Retry-After", "1");
        } else {
          if (!own) ++on_workers[req.client];
          struct Done {
            Impl& impl;
            const std::string& client;
            bool counted;
            ~Done() {
              if (!counted) return;
              const auto it = impl.on_workers.find(client);
              if (it != impl.on_workers.end() && --it->second == 0) impl.on_workers.erase(it);
            }
          } done{*this, req.client, !own};
          auto& pool = own ? health_worker : workers;
          resp = co_await asio::co_spawn(pool, [this, &req]() -> awaitable<Response> { co_return handler.handle(req); },
                                         asio::use_awaitable);
        }
      } catch (const std::exception& e) {
        log::linef(log::Level::error, "http", "%s %s: internal error: %s", req.method.c_str(), req.path.c_str(), e.what());
        resp = plain_error(500, "internal error");
      }
      std::string().swap(req.body);
      held.release();
      if (!co_await send(stream, req, resp, version, keep_alive, started)) co_return;
    }
  }
};

Server::Server(asio::io_context& io, Settings settings, Handler& handler)
    : impl_(std::make_shared<Impl>(io, std::move(settings), handler)) {
  impl_->start();
}

Server::~Server() { stop(); }

void Server::stop() {
  impl_->stopping = true;
  for (auto& a : impl_->acceptors) {
    boost::system::error_code ignored;
    a.close(ignored);
  }
}

bool Server::tls() const { return impl_->tls.enabled() || impl_->settings.sni; }

std::string Server::reload_tls(const std::string& cert_files, const std::string& key_files) {
  return impl_->tls.reload(cert_files, key_files);
}

const Stats& Server::stats() const { return impl_->stats; }

metrics::Families families(const Stats& st) {
  return {
      {"tlsrpt_http_connections_total", "HTTP connections accepted", true, metrics::reading(st.connections)},
      {"tlsrpt_http_connections_refused_total", "HTTP connections closed at once (over http.max_connections or the per-client limit)", true, metrics::reading(st.connections_refused)},
      {"tlsrpt_http_memory_refused_total", "HTTP requests answered 503 because request and response bodies held reached http.buffer_memory", true, metrics::reading(st.memory_refused)},
      {"tlsrpt_http_workers_refused_total", "HTTP requests answered 429 because their client had http.workers_per_client requests under way", true, metrics::reading(st.workers_refused)},
      {"tlsrpt_http_active_connections", "HTTP connections open now", false, metrics::reading(st.active_connections)},
      {"tlsrpt_http_buffered_bytes", "bytes of request and response bodies held now (at most http.buffer_memory)", false, metrics::reading(st.buffered_bytes)},
  };
}

}  // namespace tlsrpt::http_server
