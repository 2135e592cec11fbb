// The HTTP server: Boost.Beast on Asio coroutines, plain or TLS, HTTP/1.1 keep-alive.
//
// Purpose: carry requests to a Handler (the API, the report intake, /metrics) and its answers
// back. It knows nothing of routes. Trusts: nothing from the network. Bounded: connections in
// all, header size (16 KiB), body size (body_limit; 413 without reading the rest), time to read
// a request and time a kept-alive connection may idle. Handler::check() sees the headers before
// the body is read, so a request refused for its media type, size, credentials or rate is never
// read; handle() runs on a worker thread and may block (database queries).
#pragma once

#include "metrics/family.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/client.hpp"
#include "net/tls.hpp"

namespace boost::asio {
class io_context;
}

namespace tlsrpt::http_server {

struct Settings {
  std::vector<std::string> listen{"127.0.0.1:8080"};
  std::string tls_cert, tls_key;  // PEM; when both are set every listener speaks TLS
  std::size_t max_connections = 512;
  std::size_t max_connections_per_client = 32;
  std::size_t body_limit = 20 * 1024 * 1024;
  // Request bodies being read or handled and responses larger than small_response being sent,
  // all connections together. At least body_limit.
  std::size_t buffer_memory = 128 * 1024 * 1024;
  std::size_t small_response = 256 * 1024;
  std::chrono::seconds read_timeout{30};  // to receive one whole request, and to send one answer
  std::chrono::seconds idle_timeout{15};  // between requests on a kept-alive connection
  unsigned worker_threads = 8;
  // Requests one client may have on the workers at once (0: no bound); past it, 429.
  std::size_t worker_requests_per_client = 4;
  std::vector<net::Cidr> trusted_proxies;  // blocks whose X-Forwarded-For is believed
  // TLS by the client's SNI from a directory of certificates (the policy listener) instead of
  // tls_cert and tls_key.
  std::shared_ptr<net::CertDirectory> sni;
};

// Counters for the metrics exporter (read at any time from any thread).
struct Stats {
  std::atomic<std::uint64_t> connections{0};          // accepted
  std::atomic<std::uint64_t> connections_refused{0};  // over max_connections or the per-client limit
  std::atomic<std::uint64_t> memory_refused{0};       // 503 for want of buffer_memory
  std::atomic<std::uint64_t> workers_refused{0};      // 429: the client had worker_requests_per_client under way
  std::atomic<std::uint64_t> active_connections{0};
  std::atomic<std::uint64_t> buffered_bytes{0};        // held against buffer_memory now
};
// The metric families of these counts, defined beside them; `st` must outlive the scrapes.
metrics::Families families(const Stats& st);

struct Request {
  std::string method;  // as sent: "GET", "POST", ...
  std::string path;    // the target before '?', not decoded
  std::string query;   // after '?', not decoded
  std::string content_type, authorization, user_agent, expect;
  std::string host;  // the Host header, lower case, without a port
  std::string sni;   // the TLS server name the client asked for (lower case), "" without
  std::string cookie;  // the Cookie header(s), joined with "; "
  bool tls = false;    // arrived over TLS (cookies are then marked Secure)
  std::optional<std::uint64_t> content_length;
  bool chunked = false;  // Transfer-Encoding: chunked (a body of unknown length follows)
  std::string peer;      // client address (behind a trusted proxy: from X-Forwarded-For)
  std::string client;    // what per-client limits count under (net::client_key of peer)
  std::string proxy;     // the trusted proxy's address when peer came from X-Forwarded-For
  std::string body;  // empty in Handler::check()
};

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // added as given (Set-Cookie may repeat)
  std::string route;  // the route template it answered, for metrics ("" when none matched)
};

class Handler {
 public:
  virtual ~Handler() = default;
  // On the I/O thread with the headers only; must not block. A response refuses the request
  // before its body is read (the connection is closed after it).
  virtual std::optional<Response> check(const Request& head) = 0;
  // On a worker thread with the whole request.
  virtual Response handle(const Request& request) = 0;
  // Whether a request is answered on a worker of its own (health and readiness), so that slow
  // requests holding every worker do not delay it; such requests do not count against
  // Settings::worker_requests_per_client.
  virtual bool own_worker(const Request&) { return false; }
  // Whether handle() answers this request on the I/O thread itself (it must not block: answers
  // from memory), sparing the hop to a worker.
  virtual bool on_io_thread(const Request&) { return false; }
  // After each response is sent (or failed to be), with the time since the request's headers.
  virtual void finished(const Request& request, const Response& response, double seconds) = 0;
};

class Server {
 public:
  // Binds every listen address (throws std::runtime_error naming the one that failed).
  Server(boost::asio::io_context& io, Settings settings, Handler& handler);
  ~Server();
  void stop();
  bool tls() const;
  // SIGHUP: reads the certificate and key files again; new handshakes use them, open sessions
  // keep theirs. Throws std::runtime_error (the current ones stay). Returns subject and expiry.
  std::string reload_tls(const std::string& cert_files, const std::string& key_files);
  const Stats& stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tlsrpt::http_server
