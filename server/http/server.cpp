#include "http/server.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>
#include <limits>

#include "net/listen.hpp"

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
  if (parser.content_length()) r.content_length = *parser.content_length();
  r.peer = peer;
  return r;
}

Response plain_error(unsigned status, const std::string& message) {
  Response r;
  r.status = status;
  r.body = "{\"status\":" + std::to_string(status) + ",\"error\":\"" + message + "\"}";
  return r;
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& io;
  Settings settings;
  Handler& handler;
  std::vector<tcp::acceptor> acceptors;
  std::unique_ptr<asio::ssl::context> tls_context;
  asio::thread_pool workers;
  std::size_t connections = 0;
  bool stopping = false;

  Impl(asio::io_context& io_, Settings s, Handler& h)
      : io(io_), settings(std::move(s)), handler(h), workers(std::max(1u, settings.worker_threads)) {
    if (!settings.tls_cert.empty() && !settings.tls_key.empty()) {
      tls_context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      tls_context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                               asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                               asio::ssl::context::no_tlsv1_1);
      tls_context->use_certificate_chain_file(settings.tls_cert);
      tls_context->use_private_key_file(settings.tls_key, asio::ssl::context::pem);
    }
    acceptors = net::listen_all(io, settings.listen);
  }

  ~Impl() { workers.join(); }

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
      if (connections >= settings.max_connections) {
        boost::system::error_code ignored;
        socket.close(ignored);  // over the limit: the client sees a closed connection and retries
        continue;
      }
      asio::co_spawn(io, connection(std::move(socket)), asio::detached);
    }
  }

  awaitable<void> connection(tcp::socket socket) {
    auto self = shared_from_this();
    ++connections;
    struct Count {
      std::size_t& n;
      ~Count() { --n; }
    } count{connections};
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    const std::string peer = ec ? std::string("unknown") : remote.address().to_string();
    beast::tcp_stream tcp(std::move(socket));
    if (!tls_context) {
      co_await serve(tcp, peer);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> tls(std::move(tcp), *tls_context);
    beast::get_lowest_layer(tls).expires_after(settings.read_timeout);
    auto [hs] = co_await tls.async_handshake(asio::ssl::stream_base::server, tuple_awaitable);
    if (hs) co_return;
    co_await serve(tls, peer);
    beast::get_lowest_layer(tls).expires_after(std::chrono::seconds(5));
    co_await tls.async_shutdown(tuple_awaitable);
  }

  template <class Stream>
  awaitable<bool> send(Stream& stream, const Request& req, Response& resp, unsigned version, bool keep_alive,
                       std::chrono::steady_clock::time_point started) {
    http::response<http::string_body> res{static_cast<http::status>(resp.status), version};
    res.set(http::field::server, "tlsrpt");
    res.set(http::field::content_type, resp.content_type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : resp.headers) res.set(name, value);
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

  template <class Stream>
  awaitable<void> serve(Stream& stream, const std::string& peer) {
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
      const unsigned version = parser.get().version();
      if (auto refusal = handler.check(req)) {
        co_await send(stream, req, *refusal, version, false, started);  // the body stays unread: close
        if (req.content_length.value_or(0) > 0 || parser.chunked()) co_await linger(stream);
        co_return;
      }
      parser.body_limit(settings.body_limit);
      if (beast::iequals(req.expect, "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, version};
        auto [cec, cn] = co_await http::async_write(stream, cont, tuple_awaitable);
        (void)cn;
        if (cec) co_return;
      }
      beast::get_lowest_layer(stream).expires_after(settings.read_timeout);
      auto [bec, bn] = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
      (void)bn;
      if (bec) {
        if (bec == http::error::body_limit) {
          Response r = plain_error(413, "body larger than " + std::to_string(settings.body_limit) + " bytes");
          co_await send(stream, req, r, version, false, started);
          co_await linger(stream);
        }
        co_return;
      }
      req.body = std::move(parser.get().body());
      const bool keep_alive = parser.get().keep_alive();
      Response resp;
      try {
        resp = co_await asio::co_spawn(workers, [this, &req]() -> awaitable<Response> { co_return handler.handle(req); },
                                       asio::use_awaitable);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "http: %s %s: internal error: %s\n", req.method.c_str(), req.path.c_str(), e.what());
        resp = plain_error(500, "internal error");
      }
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

bool Server::tls() const { return impl_->tls_context != nullptr; }

}  // namespace tlsrpt::http_server
