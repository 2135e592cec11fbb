// The routes of tlsrpt's HTTP server: analytics API (/api/v1/...), RFC 8460 report intake
// (POST /tlsrpt), /healthz, /readyz and /metrics (described in schema/openapi.yaml), and the web
// pages (/, /domains/..., /reports..., /rejected, /status, /login), each rendered from the answer
// of an API route (its JSON twin) by web/.
//
// Trusts: nothing in a request. Every query parameter is checked (unknown, repeated or
// malformed ones get 400 naming it) before it reaches SQL, and only as a bound parameter.
// Access: bearer tokens with a read or admin scope, or a browser session made by logging in
// with one (GET only); with none configured the API and the pages are open (the server refuses
// that on a non-loopback address, see serve). Intake is open by design and
// bounded by media type, body size and a per-client-address rate.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "http/server.hpp"
#include "intake/intake.hpp"
#include "readiness/readiness.hpp"
#include "rollout/rollout.hpp"

namespace tlsrpt::api {

struct Settings {
  std::vector<std::string> read_tokens;   // may call the read-only API
  std::vector<std::string> admin_tokens;  // may also fetch raw bytes
  // (submitter, token): when any, POST /tlsrpt needs one of these tokens, and the report is
  // stored with its submitter's name (HTTPS has no DKIM).
  std::vector<std::pair<std::string, std::string>> intake_tokens;
  bool protect_metrics = false;           // /metrics, /healthz, /readyz need a token too
  double intake_per_minute = 60;          // POST /tlsrpt per client address (a token bucket)
  std::size_t intake_burst = 60;
  std::size_t body_limit = 20 * 1024 * 1024;
  // Analytics answers are kept this long (0: not at all) and dropped as soon as this process
  // stores anything; writes by other processes (tlsrpt ingest) show after at most this long.
  std::chrono::seconds cache{10};
  readiness::Thresholds readiness;
  int readiness_days = 30;  // the window when the request gives no `days`
  std::vector<std::string> monitored;  // domains of the posture checks (the domain list shows them)
  std::vector<std::string> hosted;     // domains whose MTA-STS policy tlsrpt hosts (policy.domains)
  rollout::Settings rollout;
  double login_per_minute = 10;        // POST /login per client address
  std::chrono::seconds query_timeout{30};  // http.query_timeout, named in its 503
};

class Api : public http_server::Handler {
 public:
  // Reports posted to /tlsrpt go through `intake`; every read goes through `pool`.
  Api(Settings settings, intake::Intake& intake, store::Pool& pool);
  ~Api() override;
  std::optional<http_server::Response> check(const http_server::Request& head) override;
  http_server::Response handle(const http_server::Request& request) override;
  // /healthz and /readyz: on a worker of their own.
  bool own_worker(const http_server::Request& request) override;
  void finished(const http_server::Request& request, const http_server::Response& response, double seconds) override;
  // SIGHUP: the tokens (read, admin, intake) and monitored domains of `s` replace the current
  // ones for requests that start from now on; browser sessions end when the tokens change.
  // Returns what changed ("tokens", "intake tokens", "monitored domains").
  std::vector<std::string> reload(const Settings& s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlsrpt::api
