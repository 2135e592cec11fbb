#include "cli/serve_command.hpp"

#include <malloc.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>

#include <condition_variable>
#include <fstream>
#include <limits>
#include <mutex>
#include <thread>

#include "api/api.hpp"
#include "cli/database.hpp"
#include "cli/privileges.hpp"
#include "cli/dkim_command.hpp"
#include "cli/monitoring.hpp"
#include "cli/setting_values.hpp"
#include "http/server.hpp"
#include "imap/poller.hpp"
#include "intake/intake.hpp"
#include "net/client.hpp"
#include "net/listen.hpp"
#include "smtp/server.hpp"

namespace tlsrpt::cli {
namespace {

struct ServeOptions {
  DatabaseOptions db;
  LimitOptions limits;
  std::vector<std::string> listen;
  std::string recipients;
  std::vector<std::string> http_listen;
  bool allow_root = false;
};


// Listen addresses from the command line (repeatable, each may be a list), else the setting;
// an empty value turns the listener off.
std::vector<std::string> listen_list(const std::vector<std::string>& flags, const std::string& setting) {
  if (flags.empty()) return split_list(setting);
  std::vector<std::string> out;
  for (const auto& f : flags)
    for (auto& a : split_list(f)) out.push_back(std::move(a));
  return out;
}


smtp_server::Settings smtp_settings(const config::Settings& s, const ServeOptions& o) {
  smtp_server::Settings out;
  out.listen = listen_list(o.listen, s.smtp_listen);
  if (out.listen.empty()) return out;  // no SMTP listener
  out.protocol.recipients = split_list(o.recipients.empty() ? s.smtp_recipients : o.recipients);
  if (out.protocol.recipients.empty())
    throw CLI::ValidationError("smtp.recipients",
                               "no recipients configured: set smtp.recipients, TLSRPT_SMTP_RECIPIENTS or --smtp-recipients "
                               "(addresses and @domains the rua points at)");
  for (const auto& r : out.protocol.recipients)
    if (r.find('@') == std::string::npos || r.back() == '@')
      throw CLI::ValidationError("smtp.recipients", "'" + r + "' is neither user@domain nor @domain");
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "localhost");
  out.protocol.hostname = s.smtp_hostname.empty() ? host : s.smtp_hostname;
  out.protocol.limits.message_size = s.limits.message_size;
  out.protocol.limits.recipients = number("smtp.recipients_per_message", s.smtp_recipients_per_message);
  out.tls_cert = s.smtp_tls_cert;
  out.tls_key = s.smtp_tls_key;
  if (out.tls_cert.empty() != out.tls_key.empty())
    throw CLI::ValidationError("smtp.tls_cert", "set both smtp.tls_cert and smtp.tls_key, or neither");
  out.max_sessions = number("smtp.max_sessions", s.smtp_max_sessions);
  out.max_sessions_per_client = number("smtp.max_sessions_per_client", s.smtp_max_sessions_per_client);
  out.command_timeout = std::chrono::seconds(number("smtp.command_timeout", s.smtp_command_timeout));
  out.data_timeout = std::chrono::seconds(number("smtp.data_timeout", s.smtp_data_timeout));
  out.store_threads = static_cast<unsigned>(number("smtp.store_connections", s.smtp_store_connections));
  out.messages_per_minute = static_cast<double>(number("smtp.messages_per_minute", s.smtp_messages_per_minute));
  out.message_burst = number("smtp.message_burst", s.smtp_message_burst);
  return out;
}




http_server::Settings http_settings(const config::Settings& s, const ServeOptions& o) {
  http_server::Settings out;
  out.listen = listen_list(o.http_listen, s.http_listen);
  out.tls_cert = s.http_tls_cert;
  out.tls_key = s.http_tls_key;
  if (out.tls_cert.empty() != out.tls_key.empty())
    throw CLI::ValidationError("http.tls_cert", "set both http.tls_cert and http.tls_key, or neither");
  out.max_connections = number("http.max_connections", s.http_max_connections);
  out.max_connections_per_client = number("http.max_connections_per_client", s.http_max_connections_per_client);
  out.worker_threads = static_cast<unsigned>(number("http.workers", s.http_workers));
  out.body_limit = s.limits.message_size;
  out.buffer_memory = size_setting("http.buffer_memory", s.http_buffer_memory);
  if (out.buffer_memory < out.body_limit)
    throw CLI::ValidationError("http.buffer_memory", "must be at least limits.message_size (" +
                                                         std::to_string(out.body_limit) + " bytes), the largest body");
  out.read_timeout = std::chrono::seconds(number("http.request_timeout", s.http_request_timeout));
  out.idle_timeout = std::chrono::seconds(number("http.idle_timeout", s.http_idle_timeout));
  for (const auto& t : split_list(s.http_trusted_proxies)) {
    const auto block = net::parse_cidr(t);
    if (!block) throw CLI::ValidationError("http.trusted_proxies", "'" + t + "' is not an address or address/prefix");
    out.trusted_proxies.push_back(*block);
  }
  return out;
}

api::Settings api_settings(const config::Settings& s, const http_server::Settings& http) {
  api::Settings out;
  out.read_tokens = secret_list("http.read_tokens", s.http_read_tokens);
  out.admin_tokens = secret_list("http.admin_tokens", s.http_admin_tokens);
  for (const auto* list : {&out.read_tokens, &out.admin_tokens})
    for (const auto& t : *list)
      if (t.size() < 16)
        throw CLI::ValidationError("http tokens", "a token is shorter than 16 characters (use e.g. openssl rand -hex 24)");
  for (const auto& item : secret_list("http.intake_tokens", s.http_intake_tokens)) {
    const auto colon = item.find(':');
    if (colon == 0 || colon == std::string::npos || item.size() - colon - 1 < 16)
      throw CLI::ValidationError("http.intake_tokens",
                                 "each entry is submitter:token, with a token of 16 characters or more");
    out.intake_tokens.emplace_back(item.substr(0, colon), item.substr(colon + 1));
  }
  out.protect_metrics = boolean("http.protect_metrics", s.http_protect_metrics);
  out.intake_per_minute = static_cast<double>(number("http.intake_per_minute", s.http_intake_per_minute));
  out.intake_burst = number("http.intake_burst", s.http_intake_burst);
  out.body_limit = http.body_limit;
  out.cache = std::chrono::seconds(number("http.cache_seconds", s.http_cache_seconds, true));
  out.readiness = readiness_thresholds(s);
  out.readiness_days = readiness_days(s);
  if (out.read_tokens.empty() && out.admin_tokens.empty() && !net::all_loopback(http.listen))
    throw CLI::ValidationError("http.listen",
                               "the API has no tokens and would be open on a non-loopback address; set http.read_tokens "
                               "and http.admin_tokens (or TLSRPT_HTTP_*_TOKENS[_FILE]), or listen on 127.0.0.1 / [::1]");
  return out;
}

std::vector<imap_poller::Mailbox> imap_mailboxes(const config::Settings& s) {
  std::vector<imap_poller::Mailbox> out;
  for (std::size_t i = 0; i < s.imap.size(); ++i) {
    const config::ImapMailbox& c = s.imap[i];
    const std::string key = "imap[" + std::to_string(i) + "]";
    imap_poller::Mailbox m;
    m.name = c.name;
    m.host = c.host;
    if (m.host.empty()) throw CLI::ValidationError(key + ".host", "missing");
    if (c.tls == "implicit") m.tls = imap_poller::Mailbox::Tls::implicit;
    else if (c.tls == "starttls") m.tls = imap_poller::Mailbox::Tls::starttls;
    else if (c.tls == "plain") m.tls = imap_poller::Mailbox::Tls::plain;
    else throw CLI::ValidationError(key + ".tls", "'" + c.tls + "' is not implicit, starttls or plain");
    if (m.tls == imap_poller::Mailbox::Tls::plain) {
      boost::system::error_code ec;
      const auto address = boost::asio::ip::make_address(m.host, ec);
      if (ec || !address.is_loopback())
        throw CLI::ValidationError(key + ".tls", "plain (no TLS) is allowed only to a loopback address such as 127.0.0.1");
    }
    const std::string port = c.port.empty() ? (m.tls == imap_poller::Mailbox::Tls::implicit ? "993" : "143") : c.port;
    const std::size_t p = number(key + ".port", port);
    if (p > 65535) throw CLI::ValidationError(key + ".port", "'" + port + "' is not a port");
    m.port = static_cast<unsigned short>(p);
    m.username = c.username;
    if (m.username.empty()) throw CLI::ValidationError(key + ".username", "missing");
    m.password = c.password;
    if (!c.password_file.empty()) {
      std::ifstream in(c.password_file);
      if (!in) throw CLI::ValidationError(key + ".password_file", "cannot read " + c.password_file);
      std::getline(in, m.password);
    }
    if (m.password.empty()) throw CLI::ValidationError(key + ".password", "set password or password_file");
    m.folder = c.folder;
    if (c.after == "move") m.after = imap_poller::Mailbox::After::move;
    else if (c.after == "flag") m.after = imap_poller::Mailbox::After::flag;
    else if (c.after == "delete") m.after = imap_poller::Mailbox::After::remove;
    else throw CLI::ValidationError(key + ".after", "'" + c.after + "' is not move, flag or delete");
    m.processed_folder = c.processed_folder;
    m.invalid_folder = c.invalid_folder;
    for (const auto* f : {&m.folder, &m.processed_folder, &m.invalid_folder})
      for (char ch : *f)
        if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e || ch == '"' || ch == '\\')
          throw CLI::ValidationError(key, "folder names must be printable ASCII without quotes or backslashes");
    m.poll_interval = std::chrono::seconds(number(key + ".poll_interval", c.poll_interval));
    m.ca_file = c.ca_file;
    m.verify = boolean(key + ".verify", c.verify);
    out.push_back(std::move(m));
  }
  return out;
}

metrics::LabelSettings label_settings(const config::Settings& s) {
  metrics::LabelSettings out;
  out.domains = split_list(s.metrics_domains);
  out.organizations = split_list(s.metrics_organizations);
  out.max_domains = number("metrics.max_domains", s.metrics_max_domains);
  out.max_organizations = number("metrics.max_organizations", s.metrics_max_organizations);
  out.known_reporters = split_list(s.dkim_known_reporters);
  return out;
}

// Every 10 s, off the I/O thread: whether the database answers and its migrations are applied
// (so that a scrape never waits for the database), and compaction of the rollups.
class DatabaseWatch {
 public:
  explicit DatabaseWatch(intake::Intake& intake)
      : thread_([this, &intake](std::stop_token stop) {
          while (!stop.stop_requested()) {
            bool ok = false;
            try {
              ok = intake.with_store([](store::Store& s) { return s.pending().empty(); });
              if (ok) intake.with_store([](store::Store& s) { return s.compact(); });
            } catch (const store::Error&) {
            }
            up_ = ok;
            // Give freed memory back to the system (a flood's buffers would otherwise stay in
            // malloc's arenas for good); cheap when there is nothing to return.
            malloc_trim(0);
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, stop, std::chrono::seconds(10), [] { return false; });
          }
        }) {}
  bool up() const { return up_; }

 private:
  std::atomic<bool> up_{false};
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::jthread thread_;  // last: starts after the members it uses exist
};

void add_smtp_sources(metrics::Metrics& m, const smtp_server::Stats& st) {
  using K = metrics::Metrics::Kind;
  m.add_source("tlsrpt_smtp_sessions_total", "SMTP connections accepted", K::counter, st.sessions);
  m.add_source("tlsrpt_smtp_sessions_refused_total", "SMTP connections refused (over max_sessions or per client)",
               K::counter, st.sessions_refused);
  m.add_source("tlsrpt_smtp_tls_sessions_total", "SMTP sessions that completed STARTTLS", K::counter, st.sessions_tls);
  m.add_source("tlsrpt_smtp_timeouts_total",
               "SMTP sessions closed for a command, data or write timeout (a client that does not read its replies)",
               K::counter, st.timeouts);
  m.add_source("tlsrpt_smtp_rate_limited_total", "MAIL commands deferred (450) for the per-client message rate",
               K::counter, st.rate_limited);
  m.add_source("tlsrpt_smtp_active_sessions", "SMTP sessions open now", K::gauge, st.active_sessions);
}

void add_http_sources(metrics::Metrics& m, const http_server::Stats& st) {
  using K = metrics::Metrics::Kind;
  m.add_source("tlsrpt_http_connections_total", "HTTP connections accepted", K::counter, st.connections);
  m.add_source("tlsrpt_http_connections_refused_total",
               "HTTP connections closed at once (over http.max_connections or the per-client limit)", K::counter,
               st.connections_refused);
  m.add_source("tlsrpt_http_memory_refused_total",
               "HTTP requests answered 503 because request and response bodies held reached http.buffer_memory",
               K::counter, st.memory_refused);
  m.add_source("tlsrpt_http_active_connections", "HTTP connections open now", K::gauge, st.active_connections);
  m.add_source("tlsrpt_http_buffered_bytes", "bytes of request and response bodies held now (at most http.buffer_memory)",
               K::gauge, st.buffered_bytes);
}

void add_imap_sources(metrics::Metrics& m, const imap_poller::Stats& st) {
  using K = metrics::Metrics::Kind;
  m.add_source("tlsrpt_imap_logins_total", "IMAP logins that succeeded", K::counter, st.connections);
  m.add_source("tlsrpt_imap_errors_total", "IMAP connection, protocol and login failures (then retried with backoff)",
               K::counter, st.errors);
  m.add_source("tlsrpt_imap_messages_total", "messages fetched from IMAP, stored and filed", K::counter, st.messages);
  m.add_source("tlsrpt_imap_deferred_total", "IMAP batches left in place because the database was unavailable",
               K::counter, st.deferred);
  m.add_source("tlsrpt_imap_polling_mailboxes", "mailboxes this server polls now (it holds their lock)", K::gauge,
               st.polling);
}

int run_serve(ServeOptions opt, const config::Settings& settings) {
  // Buffers of 256 KiB and more (message bodies) are mapped on their own and unmapped when
  // freed, instead of glibc's default, whose threshold rises to the largest block freed so far
  // (after one 20 MiB message, every later one would stay in the heap once freed).
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  const smtp_server::Settings smtp = smtp_settings(settings, opt);
  const http_server::Settings http = http_settings(settings, opt);
  api::Settings api_config = api_settings(settings, http);
  std::vector<imap_poller::Mailbox> mailboxes = imap_mailboxes(settings);
  std::vector<posture::Monitored> monitored = monitored_domains(settings);
  for (const auto& m : monitored) api_config.monitored.push_back(m.name);
  if (!monitored.empty()) {  // the values are checked now, before anything starts
    check_settings(settings);
    dns_settings(settings);
    number("checks.interval", settings.checks_interval);
    number("checks.concurrency", settings.checks_concurrency);
  }
  if (smtp.listen.empty() && http.listen.empty() && mailboxes.empty() && monitored.empty()) {
    std::fprintf(stderr,
                 "tlsrpt serve: no smtp.listen, no http.listen, no [[imap]] mailbox and no monitored domain: nothing to do\n");
    return 2;
  }
  // Started as root: become the service user now, before the database (the embedded cluster is
  // that user's) and before any input; only CAP_NET_BIND_SERVICE is kept, until the listeners
  // are bound.
  apply(opt.db, settings);
  try {
    if (const auto who = plan_run_as(settings.server_user, boolean("server.allow_root", settings.server_allow_root) ||
                                                                opt.allow_root)) {
      if (opt.db.url.empty()) give_directory(opt.db.data_dir, *who);
      become(*who);
      std::fprintf(stderr, "serve: running as %s (uid %u, gid %u)\n", who->user.c_str(), static_cast<unsigned>(who->uid),
                   static_cast<unsigned>(who->gid));
    } else if (geteuid() == 0) {
      std::fprintf(stderr, "serve: running as root (server.allow_root)\n");
    }
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "tlsrpt serve: %s\n", e.what());
    return 2;
  }
  Database db = open_database(opt.db, !opt.db.no_migrate);

  metrics::Metrics metrics(label_settings(settings));
  metrics.add_source("tlsrpt_build_info", "tlsrpt version (the value is 1); label-free for now: " TLSRPT_VERSION,
                     metrics::Metrics::Kind::gauge, [] { return 1.0; });
  // Bounded label sets start from what the database already knows, most reports first.
  for (const auto& l : db.store->last_reports(1000))
    metrics.seed_last_report(l.policy_domain, l.organization, static_cast<double>(l.end_epoch));
  db.store.reset();  // it served the migration; requests and messages use the workers' own connections

  store::RejectedQuota quota;
  quota.per_client = size_setting("quota.rejected_per_client", settings.quota_rejected_per_client);
  quota.total = size_setting("quota.rejected_total", settings.quota_rejected_total);
  // DKIM: one verifier (and its resolver) for every transport.
  std::unique_ptr<dkim::Gate> gate;
  try {
    gate = std::make_unique<dkim::Gate>(dkim_mode(settings), dkim_settings(settings));
  } catch (const std::runtime_error& e) {  // the resolver: a trust anchor file that cannot be read
    std::fprintf(stderr, "tlsrpt serve: dkim: %s\n", e.what());
    return 1;
  }
  const intake::Authentication auth{gate->mode() == dkim::Mode::off ? nullptr : gate.get(),
                                    dkim_alert_on_authenticated(settings)};
  if (auth.gate) {
    using K = metrics::Metrics::Kind;
    metrics.add_source("tlsrpt_dkim_key_lookups_total", "DKIM key lookups sent to DNS (not answered from the cache)",
                       K::counter, [g = gate.get()] { return static_cast<double>(g->stats().lookups); });
    metrics.add_source("tlsrpt_dkim_key_cache_hits_total", "DKIM key lookups answered from the cache", K::counter,
                       [g = gate.get()] { return static_cast<double>(g->stats().cached); });
    metrics.add_source("tlsrpt_dkim_key_temperrors_total",
                       "DKIM key lookups that failed for now (SERVFAIL, bogus, timeout, the message's deadline)", K::counter,
                       [g = gate.get()] { return static_cast<double>(g->stats().temperrors); });
  }
  std::fprintf(stderr, "serve: dkim mode=%s alert_on=%s\n", std::string(dkim::to_string(gate->mode())).c_str(),
               auth.alert_on_authenticated ? "authenticated" : "all");
  intake::Intake intake(db.url, settings.limits, metrics, quota, auth);
  DatabaseWatch watch(intake);
  metrics.add_source("tlsrpt_database_up", "1 when the database answers and its migrations are applied (checked every 10 s)",
                     metrics::Metrics::Kind::gauge, [&watch] { return watch.up() ? 1.0 : 0.0; });

  smtp_server::Sink sink = [&intake](const smtp_server::Delivery& d) -> std::string {
    try {
      const intake::Outcome o = intake.ingest(d.bytes, "smtp", d.source_json, d.client, std::time(nullptr));
      // dkim.mode = require: kept as rejected, and the sender is told.
      if (o.stored.outcome == store::Outcome::rejected &&
          o.parsed.rejections.front().reason == report::Reason::dkim_not_authenticated)
        throw smtp_server::RefusedError("550 5.7.20 No DKIM signature authenticates this report (" +
                                        o.parsed.rejections.front().detail + "); kept as " +
                                        std::to_string(o.stored.raw_id));
      return std::to_string(o.stored.raw_id) + " (" + std::string(store::to_string(o.stored.outcome)) + ")";
    } catch (const intake::DkimDeferred& e) {
      throw smtp_server::RefusedError("451 4.7.5 DKIM key lookup failed for now (" + std::string(e.what()) +
                                      "), try again later");
    } catch (const store::Error& e) {
      if (e.transient()) throw smtp_server::TransientError(e.what());
      throw;
    }
  };

  api::Api routes(api_config, intake);  // before io: its coroutines and worker threads use it
  boost::asio::io_context io;
  std::unique_ptr<smtp_server::Server> smtp_listener;
  std::unique_ptr<http_server::Server> http_listener;
  try {
    if (!smtp.listen.empty()) smtp_listener = std::make_unique<smtp_server::Server>(io, smtp, sink);
    if (!http.listen.empty()) http_listener = std::make_unique<http_server::Server>(io, http, routes);
  } catch (const std::runtime_error& e) {  // an address that cannot be bound, a bad certificate
    std::fprintf(stderr, "tlsrpt serve: %s\n", e.what());
    return 1;
  }
  try {  // the listeners are bound: no capability is needed any more
    drop_capabilities();
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "tlsrpt serve: %s\n", e.what());
    return 1;
  }
  if (smtp_listener) add_smtp_sources(metrics, smtp_listener->stats());
  if (http_listener) add_http_sources(metrics, http_listener->stats());
  std::unique_ptr<imap_poller::Poller> poller;
  if (!mailboxes.empty()) {
    for (const auto& m : mailboxes)
      std::fprintf(stderr, "serve: imap polling %s (%s:%u, folder %s, then %s)\n", m.name.c_str(), m.host.c_str(),
                   static_cast<unsigned>(m.port), m.folder.c_str(),
                   m.after == imap_poller::Mailbox::After::move ? ("move to " + m.processed_folder).c_str()
                   : m.after == imap_poller::Mailbox::After::flag ? "flag \\Seen" : "delete");
    poller = std::make_unique<imap_poller::Poller>(mailboxes, intake, db.url);
    add_imap_sources(metrics, poller->stats());
  }
  std::unique_ptr<ScheduledChecks> checks;
  if (!monitored.empty()) {
    const std::size_t n = monitored.size();
    try {
      checks = std::make_unique<ScheduledChecks>(settings, std::move(monitored), intake);
    } catch (const std::runtime_error& e) {  // the resolver: a trust anchor file that cannot be read
      std::fprintf(stderr, "tlsrpt serve: posture checks: %s\n", e.what());
      return 1;
    }
    metrics.add_source("tlsrpt_posture_monitored_domains", "domains whose posture this server checks (checks.domains, [[domain]])",
                       metrics::Metrics::Kind::gauge, [n] { return static_cast<double>(n); });
    std::fprintf(stderr, "serve: posture checks of %zu monitored domain%s every %s s (%s at once)\n", n, n == 1 ? "" : "s",
                 settings.checks_interval.c_str(), settings.checks_concurrency.c_str());
  }
  std::string recipients;
  for (const auto& r : smtp.protocol.recipients) recipients += (recipients.empty() ? "" : ",") + r;
  for (const auto& l : smtp.listen)
    std::fprintf(stderr, "serve: smtp listening on %s for %s%s\n", l.c_str(), recipients.c_str(),
                 smtp.tls_cert.empty() ? "" : " (STARTTLS offered)");
  const bool open = api_config.read_tokens.empty() && api_config.admin_tokens.empty();
  for (const auto& l : http.listen) {
    const char* scheme = http.tls_cert.empty() ? "http" : "https";
    std::fprintf(stderr, "serve: %s listening on %s (API %s, intake POST /tlsrpt, /metrics, /healthz, /readyz)\n", scheme,
                 l.c_str(), open ? "open: loopback only" : "behind tokens");
    std::fprintf(stderr, "serve: web pages at %s://%s/%s\n", scheme, l.c_str(), open ? "" : " (log in with a token)");
  }
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    std::fprintf(stderr, "serve: signal %d, stopping\n", sig);
    if (smtp_listener) smtp_listener->stop();
    if (http_listener) http_listener->stop();
    if (poller) poller->stop();
    if (checks) checks->stop();
    io.stop();
  });
  io.run();
  if (smtp_listener) {
    const smtp_server::Stats& st = smtp_listener->stats();
    std::fprintf(stderr,
                 "serve: smtp sessions=%llu refused=%llu tls=%llu timeouts=%llu accepted=%llu deferred=%llu failed=%llu "
                 "dkim_refused=%llu\n",
                 static_cast<unsigned long long>(st.sessions.load()), static_cast<unsigned long long>(st.sessions_refused.load()),
                 static_cast<unsigned long long>(st.sessions_tls.load()), static_cast<unsigned long long>(st.timeouts.load()),
                 static_cast<unsigned long long>(st.messages_accepted.load()),
                 static_cast<unsigned long long>(st.messages_deferred.load()),
                 static_cast<unsigned long long>(st.messages_failed.load()),
                 static_cast<unsigned long long>(st.messages_refused.load()));
  }
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Run the SMTP listener (reports mailed to the configured recipients are stored; 250 only once "
               "committed, 451 while the database is unavailable) and the HTTP server (API, POST /tlsrpt, /metrics)");
  add_database_options(*cmd, o->db, true);
  add_limit_options(*cmd, o->limits);
  cmd->add_option("--smtp-listen", o->listen, "HOST:PORT to listen on, repeatable (default smtp.listen, 127.0.0.1:2525)")
      ->type_size(1)
      ->allow_extra_args(false);
  cmd->add_option("--http-listen", o->http_listen, "HOST:PORT for the HTTP server, repeatable (default http.listen, 127.0.0.1:8080)")
      ->type_size(1)
      ->allow_extra_args(false);
  cmd->add_flag("--allow-root", o->allow_root,
                "Started as root: stay root unless server.user names a user (server.allow_root)");
  cmd->add_option("--smtp-recipients", o->recipients,
                  "Comma-separated addresses and @domains to accept mail for (default smtp.recipients)");
  cmd->callback([o, &global, &exit_code] {
    const config::Settings settings = load_settings(global, o->limits);
    exit_code = guarded("serve", [&] { return run_serve(*o, settings); });
  });
}

}  // namespace tlsrpt::cli
