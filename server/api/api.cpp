#include "api/api.hpp"

#include "api/params.hpp"


#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <utility>

#include "log/log.hpp"
#include "net/client.hpp"
#include "pipeline/output.hpp"
#include "policy/policy.hpp"
#include "store/queries.hpp"
#include "web/pages.hpp"
#include "web/sessions.hpp"

namespace tlsrpt::api {
namespace {

using http_server::Request;
using http_server::Response;

// open: anyone; health: open unless http.protect_metrics; read, admin: a token (or a session);
// page: a web page (open when the API is, else a session; a login form otherwise).
enum class Access { open, health, read, admin, page };

constexpr std::string_view session_cookie = "tlsrpt_session", login_cookie = "tlsrpt_login";


Response json_error(unsigned status, std::string_view message) {
  Response r;
  r.status = status;
  r.body = "{\"status\":" + std::to_string(status) + ",\"error\":" + json_string(message) + "}";
  return r;
}

Response json_ok(std::string body, unsigned status = 200) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response html(std::string body, unsigned status = 200) {
  Response r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::move(body);
  return r;
}

Response redirect(const std::string& location) {
  Response r;
  r.status = 303;
  r.content_type = "text/plain; charset=utf-8";
  r.headers.emplace_back("Location", location);
  r.body = "see " + location + "\n";
  return r;
}

// Where a login may send the browser: a path on this server only.
std::string local_path(const std::optional<std::string>& next) {
  if (!next || next->empty() || (*next)[0] != '/' || (next->size() > 1 && ((*next)[1] == '/' || (*next)[1] == '\\')))
    return "/";
  return *next;
}

std::int64_t now_epoch() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Whether `token` is one of `tokens`, compared in constant time.
bool token_in(const std::string& token, const std::vector<std::string>& tokens) {
  bool found = false;
  for (const auto& t : tokens) found = web::same_secret(t, token) || found;
  return found;
}

// The token of an `Authorization: Bearer <token>` header, if that is what it holds.
std::optional<std::string> bearer_token(std::string_view auth) {
  if (auth.size() < 7 || !(auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer ")) return std::nullopt;
  return std::string(auth.substr(7));
}

// Answers of the analytics routes by route and query text, for Settings::cache, valid while the
// pool's change epoch is unchanged. Bounded: at most 4,096 answers and 64 MiB (then it starts over).
class ResponseCache {
 public:
  std::optional<std::string> get(const std::string& key, std::uint64_t writes) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    if (it->second.writes != writes || std::chrono::steady_clock::now() >= it->second.expires) {
      bytes_ -= it->second.body.size();
      entries_.erase(it);
      return std::nullopt;
    }
    return it->second.body;
  }
  void put(const std::string& key, const std::string& body, std::uint64_t writes, std::chrono::seconds ttl) {
    std::lock_guard lock(mutex_);
    if (entries_.size() >= 4096 || bytes_ + body.size() > (64u << 20)) {
      entries_.clear();
      bytes_ = 0;
    }
    auto [it, fresh] = entries_.try_emplace(key);
    if (!fresh) bytes_ -= it->second.body.size();
    it->second = {body, writes, std::chrono::steady_clock::now() + ttl};
    bytes_ += body.size();
  }
  void clear() {
    std::lock_guard lock(mutex_);
    entries_.clear();
    bytes_ = 0;
  }

 private:
  struct Entry {
    std::string body;
    std::uint64_t writes;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  std::size_t bytes_ = 0;
};

bool media_type_is(std::string_view content_type, std::string_view want) {
  const auto semi = content_type.find(';');
  std::string_view t = content_type.substr(0, semi);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  if (t.size() != want.size()) return false;
  for (std::size_t i = 0; i < t.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(t[i])) != want[i]) return false;
  return true;
}

}  // namespace

struct Api::Impl {
  Settings settings;  // its tokens and monitored domains are read from `keys` (SIGHUP replaces those)
  struct Keys {
    std::vector<std::string> read_tokens, admin_tokens;
    std::vector<std::pair<std::string, std::string>> intake_tokens;
    std::vector<std::string> monitored, hosted;
    bool operator==(const Keys&) const = default;
  };
  std::atomic<std::shared_ptr<const Keys>> live_keys;
  std::shared_ptr<const Keys> keys() const { return live_keys.load(); }
  static std::shared_ptr<const Keys> keys_of(const Settings& s) {
    return std::make_shared<const Keys>(Keys{s.read_tokens, s.admin_tokens, s.intake_tokens, s.monitored, s.hosted});
  }
  intake::Intake& intake;
  store::Pool& pool;
  net::RateLimit intake_rate;
  net::RateLimit login_rate;
  // Failed authentication (a wrong bearer or submitter token, a failed login) per client: while
  // a client has none left, a token it presents is not even compared (a guess learns nothing)
  // and it gets 429; 10 attempts at once, one more every 6 s (Settings::login_per_minute).
  net::RateLimit auth_failures;
  std::atomic<std::uint64_t> auth_failure_count{0}, auth_throttled_count{0};

  // 0 while the client has failed-authentication attempts left, else the seconds until one is
  // back (the request is then refused, counted here, with 429 and Retry-After).
  unsigned throttled(const Request& req) {
    const unsigned wait = auth_failures.wait(req.client);
    if (wait) ++auth_throttled_count;
    return wait;
  }
  static std::string throttled_message(unsigned wait) {
    return "too many failed authentication attempts from this address; retry in " + std::to_string(wait) + " s";
  }
  static Response with_retry_after(Response r, unsigned wait) {
    r.headers.emplace_back("Retry-After", std::to_string(wait));
    return r;
  }
  void failed_authentication(const Request& req) {
    ++auth_failure_count;
    auth_failures.take(req.client);
  }
  ResponseCache cache;
  web::Sessions sessions;
  // The domain list's readiness verdicts by (domain, days), each computed at most once per
  // verdict_ttl (a verdict reads the domain's reports and checks: tens of milliseconds each, too
  // much for a list of many monitored domains). The domain page and the readiness route compute
  // theirs fresh.
  // (a ResponseCache used by time alone: its write count stays 0)
  static constexpr std::chrono::minutes verdict_ttl{5};
  ResponseCache verdicts;

  using Handler = Response (Impl::*)(const Request&, const Query&, const std::vector<std::string>&);
  struct Route {
    std::string_view method;
    std::string_view pattern;  // segments; "{id}" matches any segment (the handler checks it)
    Access access;
    Params params;  // what its query string may hold
    Handler handler;
  };
  static const Route routes[];

  Impl(Settings s, intake::Intake& i, store::Pool& p)
      : settings(std::move(s)),
        live_keys(keys_of(settings)),
        intake(i),
        pool(p),
        intake_rate(settings.intake_per_minute, settings.intake_burst),
        login_rate(settings.login_per_minute, 10),
        auth_failures(settings.login_per_minute, 10) {
    intake.metrics().add_source("tlsrpt_http_auth_failures_total",
                                "requests refused for a wrong bearer or submitter token, and failed logins; each takes one "
                                "of the client's attempts (10 at once, one more every 6 s)",
                                metrics::Metrics::Kind::counter, auth_failure_count);
    intake.metrics().add_source("tlsrpt_http_auth_throttled_total",
                                "requests answered 429 because the client's failed-authentication attempts were spent",
                                metrics::Metrics::Kind::counter, auth_throttled_count);
  }

  bool open_api() const {
    const auto k = keys();
    return k->read_tokens.empty() && k->admin_tokens.empty();
  }

  // The route for a path and method, with its {id} values; nullptr when none (`allow` then lists
  // the methods the path has).
  static const Route* match(std::string_view method, std::string_view path, std::vector<std::string>& ids,
                            std::string& allow);

  // Who looks at a page or calls a route by browser: everyone when the API is open, else the
  // holder of a session cookie; nullopt for nobody.
  std::optional<web::Viewer> viewer(const Request& req) {
    if (open_api()) return web::Viewer{true, false, ""};
    const auto id = web::cookie_value(req.cookie, session_cookie);
    if (!id) return std::nullopt;
    const auto session = sessions.find(*id);
    if (!session) return std::nullopt;
    return web::Viewer{session->admin, true, session->csrf};
  }

  std::optional<Response> authorize(const Request& req, Access access) {
    if (access == Access::open || (access == Access::health && !settings.protect_metrics) || open_api())
      return std::nullopt;
    std::string_view auth = req.authorization;
    if (access == Access::page) {
      if (viewer(req)) return std::nullopt;
      std::string next = req.path + (req.query.empty() ? "" : "?" + req.query);
      return redirect(req.method == "GET" ? "/login?next=" + web::url_encode(next) : "/login");
    }
    if (auth.empty() && req.method == "GET")  // a browser following a page's link
      if (const auto v = viewer(req)) {
        if (access != Access::admin || v->admin) return std::nullopt;
        return json_error(403, "this route needs an admin token (this session has read access)");
      }
    const auto token = bearer_token(auth);
    if (!token) {
      Response r = json_error(401, "this route needs a bearer token (Authorization: Bearer <token>)");
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"tlsrpt\"");
      return r;
    }
    if (const unsigned wait = throttled(req)) return with_retry_after(json_error(429, throttled_message(wait)), wait);
    const auto k = keys();
    if (token_in(*token, k->admin_tokens)) return std::nullopt;
    if (token_in(*token, k->read_tokens)) {
      if (access != Access::admin) return std::nullopt;
      return json_error(403, "this route needs an admin token");
    }
    failed_authentication(req);
    Response r = json_error(401, "unknown token");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"tlsrpt\", error=\"invalid_token\"");
    return r;
  }

  // The submitter whose intake token the request carries (compared in constant time).
  std::optional<std::string> submitter(const Request& req) const {
    const auto token = bearer_token(req.authorization);
    if (!token) return std::nullopt;
    std::optional<std::string> found;
    const auto k = keys();
    for (const auto& [name, t] : k->intake_tokens)
      if (web::same_secret(t, *token)) found = name;
    return found;
  }

  std::optional<Response> check(const Request& req) {
    std::vector<std::string> ids;
    std::string allow;
    const auto path = decode_path(req.path);
    if (!path) return json_error(400, "the path has bad percent-encoding, an encoded \"/\" or a control character");
    const Route* route = match(req.method, *path, ids, allow);
    if (!route) {
      if (allow.empty()) return json_error(404, "no such route: see schema/openapi.yaml");
      Response r = json_error(405, "method " + req.method + " not allowed here (allowed: " + allow + ")");
      r.headers.emplace_back("Allow", allow);
      r.route = "unmatched";
      return r;
    }
    if (auto refusal = authorize(req, route->access)) {
      refusal->route = route->pattern;
      return refusal;
    }
    std::optional<Response> out;
    const bool needs_submitter = route->handler == &Impl::report_intake && !keys()->intake_tokens.empty();
    const unsigned throttle = needs_submitter ? throttled(req) : 0;  // (before the token is compared)
    if (throttle) {
      out = with_retry_after(json_error(429, throttled_message(throttle)), throttle);
    } else if (needs_submitter && !submitter(req)) {
      failed_authentication(req);
      out = json_error(401, "POST /tlsrpt needs a submitter's token (Authorization: Bearer <token>, http.intake_tokens)");
      out->headers.emplace_back("WWW-Authenticate", "Bearer realm=\"tlsrpt intake\"");
    } else if (route->handler == &Impl::report_intake) {
      if (!media_type_is(req.content_type, "application/tlsrpt+gzip") &&
          !media_type_is(req.content_type, "application/tlsrpt+json"))
        out = json_error(415, "send application/tlsrpt+gzip or application/tlsrpt+json (RFC 8460 section 5.3), not " +
                                  (req.content_type.empty() ? std::string("nothing") : json_string(req.content_type)));
      else if (req.content_length && *req.content_length > settings.body_limit)
        out = json_error(413, "body of " + std::to_string(*req.content_length) + " bytes; the limit is " +
                                  std::to_string(settings.body_limit));
      else if (const unsigned wait = intake_rate.take(req.client)) {
        out = json_error(429, "too many reports from " + req.client + "; retry later");
        out->headers.emplace_back("Retry-After", std::to_string(wait));
      }
    } else if (route->handler == &Impl::rollout_change) {
      if (!media_type_is(req.content_type, "application/x-www-form-urlencoded"))
        out = json_error(415, "send the step as application/x-www-form-urlencoded (action, reason, force, mx)");
      else if (req.chunked || req.content_length.value_or(0) > 4096)
        out = json_error(413, "a form of at most 4,096 bytes");
    } else if (route->handler == &Impl::login_post || route->handler == &Impl::logout) {
      if (!media_type_is(req.content_type, "application/x-www-form-urlencoded"))
        out = html(web::error_page(415, "send the form as application/x-www-form-urlencoded", {}), 415);
      else if (req.chunked || req.content_length.value_or(0) > 4096)
        out = html(web::error_page(413, "a form of at most 4,096 bytes", {}), 413);
      else if (const unsigned locked = route->handler == &Impl::login_post ? throttled(req) : 0)
        out = with_retry_after(html(web::error_page(429, throttled_message(locked), {}), 429), locked);
      else if (route->handler == &Impl::login_post)
        if (const unsigned wait = login_rate.take(req.client)) {
          out = html(web::error_page(429, "too many login attempts from this address; retry in " + std::to_string(wait) + " s", {}), 429);
          out->headers.emplace_back("Retry-After", std::to_string(wait));
        }
    } else if ((req.content_length && *req.content_length > 0) || req.chunked) {
      out = json_error(413, "this route takes no request body");
    }
    if (out) out->route = route->pattern;
    return out;
  }

  Response handle(const Request& req) {
    std::vector<std::string> ids;
    std::string allow;
    const auto path = decode_path(req.path);
    const Route* route = path ? match(req.method, *path, ids, allow) : nullptr;
    if (!route) return json_error(404, "no such route");  // check() answered already
    Response r;
    const bool page = route->access == Access::page || route->handler == &Impl::login_page ||
                      route->handler == &Impl::login_post;
    const auto failed = [&](unsigned status, const std::string& message) {
      return page ? html(web::error_page(status, message, frame(req, "")), status) : json_error(status, message);
    };
    try {
      r = (this->*(route->handler))(req, parse_query(route->params, req.query), ids);
    } catch (const BadRequest& e) {
      r = failed(400, e.message);
    } catch (const store::Error& e) {
      if (e.timed_out()) {  // http.query_timeout: the client's question, not the database, is at fault
        log::linef(log::Level::warn, "http", "%s %s: longer than http.query_timeout", req.method.c_str(), route->pattern.data());
        r = failed(503, "the database took longer than http.query_timeout (" + std::to_string(settings.query_timeout.count()) +
                            " s) for this request; ask for a shorter range or retry later");
        r.headers.emplace_back("Retry-After", "30");
      } else {
        log::linef(log::Level::error, "http", "%s %s: %s", req.method.c_str(), route->pattern.data(), e.what());
        r = e.transient() ? failed(503, "database unavailable; retry later") : failed(500, "internal error");
        if (e.transient()) r.headers.emplace_back("Retry-After", "30");
      }
    } catch (const std::runtime_error& e) {  // a page whose JSON twin was not what it expects
      log::linef(log::Level::error, "http", "%s %s: %s", req.method.c_str(), route->pattern.data(), e.what());
      r = failed(500, "internal error");
    }
    r.route = route->pattern;
    return r;
  }

  // Routes. ---------------------------------------------------------------------------------

  Response healthz(const Request&, const Query&, const std::vector<std::string>&) { return json_ok("{\"status\":\"ok\"}"); }

  Response readyz(const Request&, const Query&, const std::vector<std::string>&) {
    try {
      const auto pending = pool.with_store([](store::Store& s) { return s.pending(); });
      if (!pending.empty()) return json_error(503, "migrations pending: " + pending.front() + " (run tlsrpt migrate)");
    } catch (const store::Error& e) {
      log::linef(log::Level::warn, "http", "readyz: %s", e.what());
      return json_error(503, "database unavailable");
    }
    return json_ok("{\"status\":\"ready\"}");
  }

  Response metrics(const Request&, const Query&, const std::vector<std::string>&) {
    Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = intake.metrics().expose();
    return r;
  }

  Response report_intake(const Request& req, const Query&, const std::vector<std::string>&) {
    // A configured submitter authenticates the report; without http.intake_tokens it counts as
    // unauthenticated, as unsigned mail does.
    const std::optional<std::string> who = submitter(req);
    const std::string source = "{\"peer\":" + json_string(req.peer) +
                               (req.proxy.empty() ? "" : ",\"proxy\":" + json_string(req.proxy)) + ",\"content_type\":" +
                               json_string(req.content_type) + ",\"user_agent\":" + json_string(req.user_agent) +
                               (keys()->intake_tokens.empty() ? "" : ",\"submitter\":" + json_string(who.value_or(""))) +
                               "}";
    const intake::Outcome o = intake.ingest(req.body, "https", source, req.client, std::nullopt, who.has_value());
    const std::string id = std::to_string(o.stored.raw_id);
    if (o.stored.outcome == store::Outcome::rejected) {
      const report::Rejection& rej = o.parsed.rejections.front();
      Response r = json_error(400, std::string(report::to_string(rej.reason)) + ": " + rej.detail);
      r.body.pop_back();
      r.body += ",\"reason\":" + json_string(report::to_string(rej.reason)) + ",\"detail\":" + json_string(rej.detail) +
                ",\"raw_message_id\":" + id + "}";
      return r;
    }
    const bool stored = o.stored.outcome == store::Outcome::stored;
    return json_ok("{\"status\":" + std::string(stored ? "201" : "200") + ",\"outcome\":\"" +
                       std::string(store::to_string(o.stored.outcome)) + "\",\"raw_message_id\":" + id +
                       ",\"new_reports\":" + std::to_string(o.stored.new_reports) +
                       ",\"duplicate_reports\":" + std::to_string(o.stored.duplicate_reports) + "}",
                   stored ? 201 : 200);
  }

  // An analytics answer from the cache or, on a miss, from the database (then cached).
  template <class F>
  Response query(const Request& req, F&& f) {
    return query_at(req.path + "?" + req.query, std::forward<F>(f));
  }

  // The same for the answer of the API route `twin` (path?query): the pages render their JSON
  // twin's answer, cached under the twin's own key.
  template <class F>
  Response query_at(const std::string& key, F&& f) {
    const std::uint64_t writes = pool.epoch();  // read before the query: a write during it makes the entry stale
    if (settings.cache.count() > 0)
      if (auto body = cache.get(key, writes)) {
        Response r = json_ok(std::move(*body));
        r.headers.emplace_back("X-Cache", "hit");
        return r;
      }
    Response r = json_ok(pool.with_reader(std::forward<F>(f)));
    if (settings.cache.count() > 0 && !r.body.empty()) {
      cache.put(key, r.body, writes, settings.cache);
      r.headers.emplace_back("X-Cache", "miss");
    }
    return r;
  }

  Response domains(const Request& req, const Query& q, const std::vector<std::string>&) {
    return query(req, [&](store::Store& s) { return store::domains_json(s, q.filter, q.page); });
  }

  Response summary(const Request& req, const Query& q, const std::vector<std::string>&) {
    return query(req, [&](store::Store& s) { return store::summary_json(s, q.filter); });
  }

  Response timeseries(const Request& req, const Query& q, const std::vector<std::string>&) {
    return query(req, [&](store::Store& s) { return store::timeseries_json(s, q.filter, q.bucket); });
  }

  Response reports(const Request& req, const Query& q, const std::vector<std::string>&) {
    return query(req, [&](store::Store& s) { return store::reports_json(s, q.filter, q.page); });
  }

  Response report(const Request& req, const Query&, const std::vector<std::string>& ids) {
    const std::int64_t id = positive(ids.at(0), "report id");
    // The normalised report exactly as `tlsrpt parse` prints it, read again from the stored bytes
    // (cached like the other answers, so that repeated calls do not parse it again).
    Response r = query(req, [&](store::Store& s) -> std::string {
      const auto stored = store::stored_report(s, id);
      if (!stored) return {};
      const pipeline::Result parsed = pipeline::parse(stored->body, "", intake.limits());
      std::string body = stored->meta_json;
      body.pop_back();
      body += ",\"report\":";
      bool found = false;
      for (const auto& p : parsed.reports)
        if (store::dedup_key(p.report) == stored->dedup_key) {
          pipeline::append_json(body, p, "", false);
          found = true;
          break;
        }
      if (!found) body += "null,\"error\":\"the stored message no longer yields this report under the current limits\"";
      body += "}";
      return body;
    });
    return r.body.empty() ? json_error(404, "no report " + std::to_string(id)) : r;
  }

  Response rejected(const Request& req, const Query& q, const std::vector<std::string>&) {
    return query(req, [&](store::Store& s) { return store::rejected_json(s, q.filter, q.reason, q.page); });
  }

  // Posture answers are read fresh (the checks write outside the intake, past the cache's
  // notion of a change).
  Response monitored(const std::string& path_domain, std::string (*read)(store::Store&, const std::string&)) {
    const auto domain = policy::normalize_domain(path_domain);
    if (!domain) return json_error(400, "domain: not a domain name");
    std::string body = pool.with_reader([&](store::Store& s) { return read(s, *domain); });
    if (body.empty()) return json_error(404, "no posture check of " + *domain + " (monitored domains: checks.domains, [[domain]])");
    return json_ok(std::move(body));
  }

  Response posture(const Request&, const Query&, const std::vector<std::string>& ids) {
    return monitored(ids.at(0), &store::posture_json);
  }

  Response policies(const Request&, const Query&, const std::vector<std::string>& ids) {
    return monitored(ids.at(0), &store::policies_json);
  }

  Response readiness(const Request&, const Query& q, const std::vector<std::string>& ids) {
    const auto domain = policy::normalize_domain(ids.at(0));
    if (!domain) return json_error(400, "domain: not a domain name");
    const int days = q.days.value_or(settings.readiness_days);
    return json_ok(pool.with_reader([&](store::Store& s) { return readiness::answer(s, *domain, days, settings.readiness).json; }));
  }

  // Whether the settings host `domain`'s policy (policy.domains, [[domain]] hosted).
  bool hosted(const std::string& domain) const {
    const auto k = keys();
    return std::find(k->hosted.begin(), k->hosted.end(), domain) != k->hosted.end();
  }

  // The roll-out of a hosted domain: its status (GET), or one step (POST, admin).
  Response rollout_answer(const std::string& path_domain, rollout::Request rq) {
    const auto domain = policy::normalize_domain(path_domain);
    if (!domain) return json_error(400, "domain: not a domain name");
    rq.domain = *domain;
    rq.configured = hosted(*domain);
    const rollout::Outcome out = pool.with_store([&](store::Store& s) {
      return rollout::run(s, rq, settings.rollout, settings.readiness_days, settings.readiness);
    });
    if (out.applied) {
      pool.changed();
      cache.clear();
      log::linef(log::Level::info, "http", "rollout %s %s by %s: applied", rq.domain.c_str(),
                 std::string(rollout::to_string(rq.action)).c_str(), rq.actor.c_str());
    }
    return json_ok(out.json, out.refused ? 409 : 200);
  }

  Response rollout_status(const Request&, const Query&, const std::vector<std::string>& ids) {
    return rollout_answer(ids.at(0), rollout::Request{});
  }

  Response rollout_change(const Request& req, const Query&, const std::vector<std::string>& ids) {
    const auto form = form_fields(req.body, {"action", "reason", "force", "mx", "wait"});
    const auto field = [&](const char* name) { const auto it = form.find(name); return it == form.end() ? std::string() : it->second; };
    rollout::Request rq;
    const auto action = rollout::action_from_string(field("action"));
    if (!action || *action == rollout::Action::status)
      throw BadRequest("action: one of testing, enforce, rollback, none, remove, plan");
    rq.action = *action;
    rq.reason = field("reason");
    const std::string force = field("force");
    if (force != "" && force != "true" && force != "false") throw BadRequest("force: true or false");
    rq.force = force == "true";
    if (const auto usage = rollout::complete(rq, {field("mx")})) throw BadRequest(usage->field + ": " + usage->what);
    const std::string wait = field("wait");
    if (!wait.empty() && (wait.size() > 2 || wait.find_first_not_of("0123456789") != std::string::npos || std::stoi(wait) > 30))
      throw BadRequest("wait: seconds, 0 to 30");
    rq.wait = wait.empty() ? settings.rollout.default_wait() : std::chrono::seconds(std::stoi(wait));
    rq.actor = actor(req);
    return rollout_answer(ids.at(0), rq);
  }

  // Who made a change: the admin token's position in http.admin_tokens (never the token).
  std::string actor(const Request& req) const {
    if (open_api()) return "api (open, loopback)";
    const auto token = bearer_token(req.authorization);
    const auto k = keys();
    for (std::size_t i = 0; token && i < k->admin_tokens.size(); ++i)
      if (web::same_secret(k->admin_tokens[i], *token)) return "admin token " + std::to_string(i + 1);
    return "api";
  }

  // The bytes of a raw message exactly as received, as a download (rejected inputs only, or any).
  Response raw_download(const std::string& id_text, bool rejected, const std::string& missing, const std::string& file) {
    const std::int64_t id = positive(id_text, "raw message id");
    auto body = pool.with_reader([&](store::Store& s) { return s.raw_body(id, rejected); });
    if (!body) return json_error(404, missing + " " + std::to_string(id) + " whose body was kept" +
                                          (rejected ? " (see quota.rejected_*)" : ""));
    Response r;
    r.content_type = "application/octet-stream";
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + file + "-" + std::to_string(id) +
                                                      (rejected ? ".bin\"" : ".eml\""));
    r.body = std::move(*body);
    return r;
  }

  Response rejected_raw(const Request&, const Query&, const std::vector<std::string>& ids) {
    return raw_download(ids.at(0), true, "no rejected input", "rejected");
  }

  Response message_raw(const Request&, const Query&, const std::vector<std::string>& ids) {
    return raw_download(ids.at(0), false, "no raw message", "message");
  }

  Response hints(const Request&, const Query&, const std::vector<std::string>&) { return json_ok(web::hints_json()); }

  // The JSON twins of the pages. --------------------------------------------------------------

  int days_of(const Query& q) const { return q.days.value_or(settings.readiness_days); }

  std::string overview_answer(store::Store& s, int days, const store::ListPage& page) {
    const auto k = keys();
    return store::overview_json(s, days, k->monitored, now_epoch(), page, [&](const std::string& domain) {
      const std::string key = domain + "/" + std::to_string(days);
      if (auto cached = verdicts.get(key, 0)) return *cached;
      std::string verdict(readiness::to_string(readiness::answer(s, domain, days, settings.readiness).decision.verdict));
      verdicts.put(key, verdict, 0, verdict_ttl);
      return verdict;
    });
  }

  // The roll-out of a hosted domain (or of one that still has a policy hosted), else null;
  // `verdict` is the readiness answer over readiness.days when the caller has it.
  std::string rollout_json(store::Store& s, const std::string& domain, const readiness::Answer* verdict) {
    rollout::Request rq;
    rq.domain = domain;
    rq.configured = hosted(domain);
    if (!rq.configured && !store::hosted_policy(s, domain)) return "null";
    return rollout::run(s, rq, settings.rollout, settings.readiness_days, settings.readiness, verdict).json;
  }

  std::string domain_answer(store::Store& s, const std::string& domain, int days) {
    store::Filter f;
    f.policy_domain = domain;
    f.from = report::format_datetime(store::range_start(days, now_epoch()));
    store::Page newest;
    newest.limit = 10;
    const std::string posture = store::posture_json(s, domain), policies = store::policies_json(s, domain);
    const readiness::Answer ready = readiness::answer(s, domain, days, settings.readiness);
    return "{\"domain\":" + json_string(domain) + ",\"days\":" + std::to_string(days) + ",\"from\":\"" + *f.from +
           "\",\"summary\":" + store::summary_json(s, f) + ",\"timeseries\":" + store::timeseries_json(s, f, "day") +
           ",\"reports\":" + store::reports_json(s, f, newest) + ",\"posture\":" + (posture.empty() ? "null" : posture) +
           ",\"policies\":" + (policies.empty() ? "null" : policies) +
           ",\"readiness\":" + ready.json +
           ",\"rollout\":" + rollout_json(s, domain, days == settings.readiness_days ? &ready : nullptr) + "}";
  }

  static std::string days_query(const Query& q) { return q.days ? "?days=" + std::to_string(*q.days) : ""; }

  Response overview(const Request& req, const Query& q, const std::vector<std::string>&) {
    return query(req, [&](store::Store& s) { return overview_answer(s, days_of(q), q.list); });
  }

  Response domain_overview(const Request& req, const Query& q, const std::vector<std::string>& ids) {
    const auto domain = policy::normalize_domain(ids.at(0));
    if (!domain) return json_error(400, "domain: not a domain name");
    return query(req, [&](store::Store& s) { return domain_answer(s, *domain, days_of(q)); });
  }

  Response status(const Request& req, const Query& q, const std::vector<std::string>&) {
    return query(req, [&](store::Store& s) { return status_answer(s, q.days.value_or(7)); });
  }

  std::string status_answer(store::Store& s, int days) {
    const auto pending = s.pending();
    std::string body = store::status_json(s, days);
    body.pop_back();
    return body + ",\"migrations_pending\":" + json_string(pending.empty() ? "" : pending.front()) + "}";
  }

  // The pages. --------------------------------------------------------------------------------

  web::Frame frame(const Request& req, std::string twin) {
    return web::Frame{viewer(req).value_or(web::Viewer{}), std::move(twin)};
  }

  Response page_domains(const Request& req, const Query& q, const std::vector<std::string>&) {
    const std::string twin = "/api/v1/overview" + (req.query.empty() ? "" : "?" + req.query);
    const Response json = query_at(twin, [&](store::Store& s) { return overview_answer(s, days_of(q), q.list); });
    return html(web::domains_page(json.body, frame(req, twin), q.name_filter.value_or("")));
  }

  Response page_domain(const Request& req, const Query& q, const std::vector<std::string>& ids) {
    const auto domain = policy::normalize_domain(ids.at(0));
    if (!domain) throw BadRequest{"not a domain name"};
    const std::string twin = "/api/v1/domains/" + web::url_encode(*domain) + "/overview" + days_query(q);
    const Response json = query_at(twin, [&](store::Store& s) { return domain_answer(s, *domain, days_of(q)); });
    return html(web::domain_page(json.body, frame(req, twin)));
  }

  Response page_report(const Request& req, const Query& q, const std::vector<std::string>& ids) {
    const std::string twin = "/api/v1/reports/" + std::to_string(positive(ids.at(0), "report id"));
    Request api = req;
    api.path = twin;
    const Response json = report(api, q, ids);
    if (json.status != 200) return html(web::error_page(json.status, "no report " + ids.at(0), frame(req, "")), json.status);
    return html(web::report_page(json.body, frame(req, twin)));
  }

  // The query string without its cursor (the next-page link adds the answer's).
  static std::string without_cursor(std::string_view query) {
    std::string out;
    while (!query.empty()) {
      const auto amp = query.find('&');
      const std::string_view item = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (item.empty() || item.substr(0, 7) == "cursor=") continue;
      out += (out.empty() ? "" : "&") + std::string(item);
    }
    return out;
  }

  Response page_reports(const Request& req, const Query& q, const std::vector<std::string>&) {
    const std::string twin = "/api/v1/reports" + (req.query.empty() ? "" : "?" + req.query);
    const Response json = query_at(twin, [&](store::Store& s) { return store::reports_json(s, q.filter, q.page); });
    return html(web::reports_page(json.body, frame(req, twin), without_cursor(req.query)));
  }

  Response page_rejected(const Request& req, const Query& q, const std::vector<std::string>&) {
    const std::string twin = "/api/v1/rejected" + (req.query.empty() ? "" : "?" + req.query);
    const Response json =
        query_at(twin, [&](store::Store& s) { return store::rejected_json(s, q.filter, q.reason, q.page); });
    return html(web::rejected_page(json.body, frame(req, twin), without_cursor(req.query)));
  }

  // With the database unavailable the status page still answers, saying so (503).
  Response page_status(const Request& req, const Query& q, const std::vector<std::string>&) {
    const int days = q.days.value_or(7);
    const std::string twin = "/api/v1/status" + days_query(q);
    try {
      const Response json = query_at(twin, [&](store::Store& s) { return status_answer(s, days); });
      return html(web::status_page(json.body, frame(req, twin)));
    } catch (const store::Error& e) {
      if (!e.transient() || e.timed_out()) throw;
      log::linef(log::Level::warn, "http", "GET /status: %s", e.what());
      Response r = html(web::status_page("{\"days\":" + std::to_string(days) + ",\"database\":\"unavailable\",\"inputs\":[],"
                                         "\"rejections\":[],\"dkim\":[],\"migrations_pending\":\"\"}", frame(req, twin)), 503);
      r.headers.emplace_back("Retry-After", "30");
      return r;
    }
  }

  Response stylesheet(const Request&, const Query&, const std::vector<std::string>&) {
    Response r;
    r.content_type = "text/css; charset=utf-8";
    r.body = std::string(web::stylesheet());
    return r;
  }

  // Login: a form whose CSRF value is also in a cookie only this path sees (double submit).
  Response login_form(const Request& req, const std::string& next, const std::string& message, unsigned status) {
    const std::string csrf = web::random_token();
    Response r = html(web::login_page(next, csrf, message, !open_api()), status);
    r.headers.emplace_back("Set-Cookie", web::set_cookie(login_cookie, csrf, "/login", req.tls, std::chrono::hours(1)));
    return r;
  }

  Response login_page(const Request& req, const Query& q, const std::vector<std::string>&) {
    if (open_api() || viewer(req)) return redirect(local_path(q.next));
    return login_form(req, local_path(q.next), "", 200);
  }

  Response login_post(const Request& req, const Query&, const std::vector<std::string>&) {
    const auto form = form_fields(req.body, {"csrf", "next", "token"});
    const auto get = [&](const char* k) { const auto it = form.find(k); return it == form.end() ? std::string() : it->second; };
    const std::string next = local_path(get("next"));
    const auto expected = web::cookie_value(req.cookie, login_cookie);
    if (!expected || get("csrf").empty() || !web::same_secret(*expected, get("csrf")))
      return login_form(req, next, "The form expired or came from another site; log in again.", 403);
    if (open_api()) return redirect(next);
    const std::string token = get("token");
    const auto k = keys();
    const bool admin = token_in(token, k->admin_tokens);
    if (!admin && !token_in(token, k->read_tokens)) {
      failed_authentication(req);
      return login_form(req, next, "Unknown token.", 401);
    }
    Response r = redirect(next);
    r.headers.emplace_back("Set-Cookie", web::set_cookie(session_cookie, sessions.create(admin), "/", req.tls,
                                                         std::chrono::duration_cast<std::chrono::seconds>(web::Sessions::lifetime)));
    r.headers.emplace_back("Set-Cookie", web::set_cookie(login_cookie, "", "/login", req.tls, std::chrono::seconds(0)));
    return r;
  }

  Response logout(const Request& req, const Query&, const std::vector<std::string>&) {
    const auto form = form_fields(req.body, {"csrf"});
    const auto v = viewer(req);
    const auto it = form.find("csrf");
    if (!v || !v->signed_in || it == form.end() || !web::same_secret(v->csrf, it->second))
      return html(web::error_page(403, "the logout form expired or came from another site", frame(req, "")), 403);
    sessions.remove(*web::cookie_value(req.cookie, session_cookie));
    Response r = redirect("/login");
    r.headers.emplace_back("Set-Cookie", web::set_cookie(session_cookie, "", "/", req.tls, std::chrono::seconds(0)));
    return r;
  }
};

const Api::Impl::Route Api::Impl::routes[] = {
    {"GET", "/healthz", Access::health, Params::none, &Impl::healthz},
    {"GET", "/readyz", Access::health, Params::none, &Impl::readyz},
    {"GET", "/metrics", Access::health, Params::none, &Impl::metrics},
    {"POST", "/tlsrpt", Access::open, Params::none, &Impl::report_intake},
    {"GET", "/api/v1/domains", Access::read, Params::domains, &Impl::domains},
    {"GET", "/api/v1/summary", Access::read, Params::summary, &Impl::summary},
    {"GET", "/api/v1/timeseries", Access::read, Params::timeseries, &Impl::timeseries},
    {"GET", "/api/v1/reports", Access::read, Params::reports, &Impl::reports},
    {"GET", "/api/v1/reports/{id}", Access::read, Params::none, &Impl::report},
    {"GET", "/api/v1/domains/{domain}/posture", Access::read, Params::none, &Impl::posture},
    {"GET", "/api/v1/domains/{domain}/policies", Access::read, Params::none, &Impl::policies},
    {"GET", "/api/v1/domains/{domain}/readiness", Access::read, Params::days, &Impl::readiness},
    {"GET", "/api/v1/domains/{domain}/overview", Access::read, Params::days, &Impl::domain_overview},
    {"GET", "/api/v1/domains/{domain}/rollout", Access::read, Params::none, &Impl::rollout_status},
    {"POST", "/api/v1/domains/{domain}/rollout", Access::admin, Params::none, &Impl::rollout_change},
    {"GET", "/api/v1/overview", Access::read, Params::domain_list, &Impl::overview},
    {"GET", "/api/v1/status", Access::read, Params::days, &Impl::status},
    {"GET", "/api/v1/hints", Access::read, Params::none, &Impl::hints},
    {"GET", "/api/v1/rejected", Access::read, Params::rejected, &Impl::rejected},
    {"GET", "/api/v1/rejected/{id}/raw", Access::admin, Params::none, &Impl::rejected_raw},
    {"GET", "/api/v1/messages/{id}/raw", Access::admin, Params::none, &Impl::message_raw},
    {"GET", "/", Access::page, Params::domain_list, &Impl::page_domains},
    {"GET", "/domains/{domain}", Access::page, Params::days, &Impl::page_domain},
    {"GET", "/reports", Access::page, Params::reports, &Impl::page_reports},
    {"GET", "/reports/{id}", Access::page, Params::none, &Impl::page_report},
    {"GET", "/rejected", Access::page, Params::rejected, &Impl::page_rejected},
    {"GET", "/status", Access::page, Params::days, &Impl::page_status},
    {"GET", "/static/style.css", Access::open, Params::none, &Impl::stylesheet},
    {"GET", "/login", Access::open, Params::login, &Impl::login_page},
    {"POST", "/login", Access::open, Params::none, &Impl::login_post},
    {"POST", "/logout", Access::page, Params::none, &Impl::logout},
};

const Api::Impl::Route* Api::Impl::match(std::string_view method, std::string_view path, std::vector<std::string>& ids,
                          std::string& allow) {
  const Route* found = nullptr;
  for (const Route& r : routes) {
    std::vector<std::string> values;
    if (!match_path(r.pattern, path, values)) continue;
    allow += (allow.empty() ? "" : ", ") + std::string(r.method);
    if (r.method == method) {
      found = &r;
      ids = std::move(values);
    }
  }
  return found;
}

Api::Api(Settings settings, intake::Intake& intake, store::Pool& pool)
    : impl_(std::make_unique<Impl>(std::move(settings), intake, pool)) {}

std::vector<std::string> Api::reload(const Settings& s) {
  const auto next = Impl::keys_of(s);
  const auto before = impl_->keys();
  std::vector<std::string> changed;
  if (next->read_tokens != before->read_tokens || next->admin_tokens != before->admin_tokens) {
    changed.emplace_back("tokens");
    impl_->sessions.clear();  // a session may stand for a token that is gone: everyone logs in again
  }
  if (next->intake_tokens != before->intake_tokens) changed.emplace_back("intake tokens");
  if (next->hosted != before->hosted) changed.emplace_back("hosted domains");
  if (next->monitored != before->monitored) {
    changed.emplace_back("monitored domains");
    impl_->verdicts.clear();
  }
  impl_->live_keys.store(next);
  if (!changed.empty()) impl_->cache.clear();
  return changed;
}
Api::~Api() = default;

std::optional<Response> Api::check(const Request& head) {
  auto r = impl_->check(head);
  if (r) r->headers.insert(r->headers.end(), web::security_headers().begin(), web::security_headers().end());
  return r;
}

Response Api::handle(const Request& request) {
  Response r = impl_->handle(request);
  r.headers.insert(r.headers.end(), web::security_headers().begin(), web::security_headers().end());
  // Reads come from a replica that lags past database.max_replica_lag: the answer says how much.
  if (const auto lag = impl_->pool.replica_lag()) r.headers.emplace_back("X-Replica-Lag", std::to_string(std::lround(*lag)));
  return r;
}

bool Api::own_worker(const http_server::Request& request) {
  if (request.method != "GET" && request.method != "HEAD") return false;
  return request.path == "/healthz" || request.path == "/readyz";
}

void Api::finished(const Request&, const Response& response, double seconds) {
  impl_->intake.metrics().http_request(response.route.empty() ? "unmatched" : response.route, response.status, seconds);
}

}  // namespace tlsrpt::api
