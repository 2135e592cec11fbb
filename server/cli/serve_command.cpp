#include "cli/serve_command.hpp"
#include "cli/manual.hpp"

#include <malloc.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <fstream>
#include <limits>
#include <mutex>
#include <thread>

#include "api/api.hpp"
#include "cli/database.hpp"
#include "cli/privileges.hpp"
#include "cli/dkim_command.hpp"
#include "cli/monitoring.hpp"
#include "http/server.hpp"
#include "imap/poller.hpp"
#include "log/log.hpp"
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
// The addresses of `key` (smtp.listen, http.listen): the command line's, else the setting's,
// each checked to be HOST:PORT with a numeric address (a usage error naming the key and the
// value, exit 2, instead of an exception nobody catches when the listener is made).
std::vector<std::string> listen_list(const char* key, const std::vector<std::string>& flags,
                                     const std::vector<std::string>& setting) {
  std::vector<std::string> out = setting;
  if (!flags.empty()) {
    out.clear();
    for (const auto& f : flags)
      for (auto& a : config::split_list(f)) out.push_back(std::move(a));
  }
  for (const auto& a : out) try {
      net::parse_endpoint(a);
    } catch (const std::runtime_error& e) {
      throw CLI::ValidationError(key, "'" + a + "' is not HOST:PORT with a numeric address and a port of 1 to 65535 (" +
                                          e.what() + ")");
    }
  return out;
}


smtp_server::Settings smtp_settings(const config::Settings& s, const ServeOptions& o) {
  smtp_server::Settings out;
  out.listen = listen_list("smtp.listen", o.listen, s.smtp_listen);
  if (out.listen.empty()) return out;  // no SMTP listener
  out.protocol.recipients = o.recipients.empty() ? s.smtp_recipients : config::split_list(o.recipients);
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
  out.protocol.limits.recipients = static_cast<std::size_t>(s.smtp_recipients_per_message);
  out.tls_cert = s.smtp_tls_cert;
  out.tls_key = s.smtp_tls_key;
  if (out.tls_cert.empty() != out.tls_key.empty())
    throw CLI::ValidationError("smtp.tls_cert", "set both smtp.tls_cert and smtp.tls_key, or neither");
  out.max_sessions = static_cast<std::size_t>(s.smtp_max_sessions);
  out.max_sessions_per_client = static_cast<std::size_t>(s.smtp_max_sessions_per_client);
  out.command_timeout = s.smtp_command_timeout;
  out.data_timeout = s.smtp_data_timeout;
  out.store_threads = static_cast<unsigned>(s.smtp_store_connections);
  out.messages_per_minute = static_cast<double>(s.smtp_messages_per_minute);
  out.message_burst = static_cast<std::size_t>(s.smtp_message_burst);
  return out;
}




http_server::Settings http_settings(const config::Settings& s, const ServeOptions& o) {
  http_server::Settings out;
  out.listen = listen_list("http.listen", o.http_listen, s.http_listen);
  out.tls_cert = s.http_tls_cert;
  out.tls_key = s.http_tls_key;
  if (out.tls_cert.empty() != out.tls_key.empty())
    throw CLI::ValidationError("http.tls_cert", "set both http.tls_cert and http.tls_key, or neither");
  out.max_connections = static_cast<std::size_t>(s.http_max_connections);
  out.max_connections_per_client = static_cast<std::size_t>(s.http_max_connections_per_client);
  out.worker_threads = static_cast<unsigned>(s.http_workers);
  out.worker_requests_per_client = static_cast<std::size_t>(s.http_workers_per_client);
  out.body_limit = s.limits.message_size;
  out.buffer_memory = s.http_buffer_memory;
  if (out.buffer_memory < out.body_limit)
    throw CLI::ValidationError("http.buffer_memory", "must be at least limits.message_size (" +
                                                         std::to_string(out.body_limit) + " bytes), the largest body");
  out.read_timeout = s.http_request_timeout;
  out.idle_timeout = s.http_idle_timeout;
  for (const auto& t : s.http_trusted_proxies) {
    const auto block = net::parse_cidr(t);
    if (!block) throw CLI::ValidationError("http.trusted_proxies", "'" + t + "' is not an address or address/prefix");
    out.trusted_proxies.push_back(*block);
  }
  return out;
}

api::Settings api_settings(const config::Settings& s, const http_server::Settings& http) {
  api::Settings out;
  out.read_tokens = s.http_read_tokens;
  out.admin_tokens = s.http_admin_tokens;
  for (const auto* list : {&out.read_tokens, &out.admin_tokens})
    for (const auto& t : *list)
      if (t.size() < 16)
        throw CLI::ValidationError("http tokens", "a token is shorter than 16 characters (use e.g. openssl rand -hex 24)");
  for (const auto& item : s.http_intake_tokens) {
    const auto colon = item.find(':');
    if (colon == 0 || colon == std::string::npos || item.size() - colon - 1 < 16)
      throw CLI::ValidationError("http.intake_tokens",
                                 "each entry is submitter:token, with a token of 16 characters or more");
    out.intake_tokens.emplace_back(item.substr(0, colon), item.substr(colon + 1));
  }
  out.protect_metrics = s.http_protect_metrics;
  out.intake_per_minute = static_cast<double>(s.http_intake_per_minute);
  out.intake_burst = static_cast<std::size_t>(s.http_intake_burst);
  out.body_limit = http.body_limit;
  out.cache = s.http_cache_seconds;
  out.readiness = readiness_thresholds(s);
  out.readiness_days = readiness_days(s);
  out.query_timeout = s.http_query_timeout;
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
    m.tls = c.tls == "implicit"   ? imap_poller::Mailbox::Tls::implicit
            : c.tls == "starttls" ? imap_poller::Mailbox::Tls::starttls
                                  : imap_poller::Mailbox::Tls::plain;  // the choices config accepts
    if (m.tls == imap_poller::Mailbox::Tls::plain) {
      boost::system::error_code ec;
      const auto address = boost::asio::ip::make_address(m.host, ec);
      if (ec || !address.is_loopback())
        throw CLI::ValidationError(key + ".tls", "plain (no TLS) is allowed only to a loopback address such as 127.0.0.1");
    }
    m.port = static_cast<unsigned short>(c.port != 0 ? c.port : m.tls == imap_poller::Mailbox::Tls::implicit ? 993 : 143);
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
    m.after = c.after == "move"   ? imap_poller::Mailbox::After::move
              : c.after == "flag" ? imap_poller::Mailbox::After::flag
                                  : imap_poller::Mailbox::After::remove;
    m.processed_folder = c.processed_folder;
    m.invalid_folder = c.invalid_folder;
    for (const auto* f : {&m.folder, &m.processed_folder, &m.invalid_folder})
      for (char ch : *f)
        if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e || ch == '"' || ch == '\\')
          throw CLI::ValidationError(key, "folder names must be printable ASCII without quotes or backslashes");
    m.poll_interval = c.poll_interval;
    m.ca_file = c.ca_file;
    m.verify = c.verify;
    out.push_back(std::move(m));
  }
  return out;
}

metrics::LabelSettings label_settings(const config::Settings& s) {
  metrics::LabelSettings out;
  out.domains = s.metrics_domains;
  out.organizations = s.metrics_organizations;
  out.max_domains = static_cast<std::size_t>(s.metrics_max_domains);
  out.max_organizations = static_cast<std::size_t>(s.metrics_max_organizations);
  out.known_reporters = s.dkim_known_reporters;
  return out;
}

// Partitions and retention, run by one server among several on a database (the one holding an
// advisory lock on its own connection; another takes over when that connection ends): the
// months of failure_details ahead of time every 6 hours, and `tlsrpt prune` once a day, the
// first an hour after start (time to look at what a new installation holds before it goes).
class Maintenance {
 public:
  Maintenance(std::string url, store::Retention retention, bool prune, metrics::Metrics& metrics)
      : url_(std::move(url)), retention_(retention), prune_(prune), metrics_(metrics) {}

  void tick() {
    const auto now = std::chrono::steady_clock::now();
    try {
      if (!conn_) {
        conn_ = std::make_unique<store::Store>(url_);
        leader_ = false;
      }
      static const std::int64_t key = store::advisory_key("maintenance");
      if (!leader_ && !(leader_ = conn_->try_advisory_lock(key))) return;
      std::vector<std::tuple<std::string, double, double>> sizes;
      for (const auto& t : store::table_sizes(*conn_))
        sizes.emplace_back(t.name, static_cast<double>(t.bytes), static_cast<double>(t.rows));
      metrics_.tables(sizes);
      if (now >= next_partitions_) {
        ensure_months(*conn_, retention_);
        next_partitions_ = now + std::chrono::hours(6);
      }
      if (prune_ && now >= next_prune_) {
        const store::PruneResult r = store::prune(*conn_, retention_, false);
        for (const auto& line : r.lines(false)) log::linef(log::Level::info, "prune", "%s", line.c_str());
        log::linef(log::Level::info, "prune", "done in %.1f s; next in 24 h", r.seconds);
        next_prune_ = now + std::chrono::hours(24);
      }
    } catch (const store::Error& e) {
      log::linef(log::Level::warn, "serve", "maintenance (partitions, retention): %s (retrying)", e.what());
      conn_.reset();
      metrics_.tables({});  // another server may take the lock over
    }
  }

 private:
  std::string url_;
  store::Retention retention_;
  bool prune_;
  metrics::Metrics& metrics_;
  std::unique_ptr<store::Store> conn_;
  bool leader_ = false;
  std::chrono::steady_clock::time_point next_partitions_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point next_prune_ = std::chrono::steady_clock::now() + std::chrono::hours(1);
};

// Every 10 s, off the I/O thread: whether the database answers and its migrations are applied
// (so that a scrape never waits for the database), compaction of the rollups, and maintenance.
class DatabaseWatch {
 public:
  DatabaseWatch(intake::Intake& intake, Maintenance maintenance)
      : maintenance_(std::move(maintenance)), thread_([this, &intake](std::stop_token stop) {
          while (!stop.stop_requested()) {
            bool ok = false;
            try {
              ok = intake.with_store([](store::Store& s) { return s.pending().empty(); });
              if (ok) intake.with_store([](store::Store& s) { return s.compact(); });
            } catch (const store::Error&) {
            }
            up_ = ok;
            if (ok) maintenance_.tick();
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
  Maintenance maintenance_;
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
  m.add_source("tlsrpt_http_workers_refused_total",
               "HTTP requests answered 429 because their client had http.workers_per_client requests under way",
               K::counter, st.workers_refused);
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

// log.level and log.format (their values are the choices config accepts).
void apply_log_settings(const config::Settings& s) {
  log::set_level(log::level_from_string(s.log_level).value_or(log::Level::info));
  log::set_format(log::format_from_string(s.log_format).value_or(log::Format::text));
}

// SIGHUP: the settings are read again and what can change safely is applied. Each part says in
// the log what it did; the rest says that it needs a restart.
struct Reloader {
  const config::Settings& started;
  std::function<config::Settings()> reread;
  config::Settings current;
  smtp_server::Server* smtp;
  http_server::Server* http;
  api::Api& routes;
  const http_server::Settings& http_settings;
  std::function<void(std::vector<posture::Monitored>)> set_monitored;

  void tls(const char* name, auto* server, const std::string& cert, const std::string& key) {
    if (!server) return;
    try {
      log::linef(log::Level::info, "serve", "reload: %s TLS certificate %s", name, server->reload_tls(cert, key).c_str());
    } catch (const std::runtime_error& e) {
      log::linef(log::Level::error, "serve", "reload: %s TLS unchanged: %s", name, e.what());
    }
  }

  void operator()() {
    config::Settings next;
    try {
      next = reread();
    } catch (const std::exception& e) {  // config::Error, CLI::ValidationError
      log::linef(log::Level::error, "serve", "reload: settings not reloaded, the running ones stay: %s", e.what());
      return;
    }
    const auto changes = config::changed(current, next);
    apply_log_settings(next);
    if (smtp && smtp->tls_enabled()) tls("smtp", smtp, next.smtp_tls_cert, next.smtp_tls_key);
    if (http && http->tls()) tls("https", http, next.http_tls_cert, next.http_tls_key);
    try {
      api::Settings a = api_settings(next, http_settings);
      std::vector<posture::Monitored> monitored = monitored_domains(next);
      for (const auto& m : monitored) a.monitored.push_back(m.name);
      for (const auto& what : routes.reload(a)) log::linef(log::Level::info, "serve", "reload: %s replaced", what.c_str());
      if (std::find(changes.begin(), changes.end(), "checks.domains") != changes.end() ||
          std::find(changes.begin(), changes.end(), "domain") != changes.end() ||
          std::find(changes.begin(), changes.end(), "smtp.recipients") != changes.end())
        set_monitored(std::move(monitored));
    } catch (const CLI::ValidationError& e) {
      log::linef(log::Level::error, "serve", "reload: tokens and monitored domains unchanged: %s", e.what());
    }
    for (const auto& key : config::changed(started, next))
      if (!config::reloadable(key))
        log::linef(log::Level::warn, "serve", "reload: %s changed; it takes effect after a restart", key.c_str());
    if (!changes.empty()) {
      std::string list;
      for (const auto& k : changes) list += (list.empty() ? "" : ", ") + k;
      log::linef(log::Level::info, "serve", "reload: done (changed: %s)", list.c_str());
    } else {
      log::linef(log::Level::info, "serve", "reload: done (no setting changed)");
    }
    current = std::move(next);
  }
};

int run_serve(ServeOptions opt, const config::Settings& settings, std::function<config::Settings()> reread) {
  // Buffers of 256 KiB and more (message bodies) are mapped on their own and unmapped when
  // freed, instead of glibc's default, whose threshold rises to the largest block freed so far
  // (after one 20 MiB message, every later one would stay in the heap once freed).
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  apply_log_settings(settings);
  const smtp_server::Settings smtp = smtp_settings(settings, opt);
  const http_server::Settings http = http_settings(settings, opt);
  api::Settings api_config = api_settings(settings, http);
  std::vector<imap_poller::Mailbox> mailboxes = imap_mailboxes(settings);
  std::vector<posture::Monitored> monitored = monitored_domains(settings);
  for (const auto& m : monitored) api_config.monitored.push_back(m.name);
  if (!monitored.empty()) {  // the values are checked now, before anything starts
    check_settings(settings);
    dns_settings(settings);
  }
  if (smtp.listen.empty() && http.listen.empty() && mailboxes.empty() && monitored.empty()) {
    std::fprintf(stderr,
                 "tlsrpt serve: no smtp.listen, no http.listen, no [[imap]] mailbox and no monitored domain: nothing to do\n");
    return 2;
  }
  // Started as root: become the service user now, before the database (the embedded cluster is
  // that user's) and before any input; only CAP_NET_BIND_SERVICE is kept, to bind the
  // listeners' sockets, and given up before any thread starts (capabilities are per thread).
  apply(opt.db, settings);
  config::hide_secret_environment();  // no thread yet: nothing reads the environment meanwhile
  try {
    if (const auto who = plan_run_as(settings.server_user, settings.server_allow_root || opt.allow_root)) {
      if (opt.db.url.empty()) give_directory(opt.db.data_dir, *who);
      become(*who);
      log::linef(log::Level::info, "serve", "running as %s (uid %u, gid %u)", who->user.c_str(), static_cast<unsigned>(who->uid),
                   static_cast<unsigned>(who->gid));
    } else if (geteuid() == 0) {
      log::linef(log::Level::info, "serve", "running as root (server.allow_root)");
    }
    not_dumpable();
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "tlsrpt serve: %s\n", e.what());
    return 2;
  }
  try {
    std::vector<std::string> addresses = smtp.listen;
    addresses.insert(addresses.end(), http.listen.begin(), http.listen.end());
    net::prebind(addresses);
  } catch (const std::runtime_error& e) {  // an address that cannot be bound
    std::fprintf(stderr, "tlsrpt serve: %s\n", e.what());
    return 1;
  }
  Database db = open_database(opt.db, migration(opt.db, settings));
  // The last steps that need a capability are done (binding low ports; staying root, handing the
  // embedded cluster's directory to postgres), and no thread has started yet: none keeps any.
  try {
    drop_capabilities();
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "tlsrpt serve: %s\n", e.what());
    return 1;
  }

  metrics::Metrics metrics(label_settings(settings));
  metrics.add_source("tlsrpt_build_info", "tlsrpt version (the value is 1); label-free for now: " TLSRPT_VERSION,
                     metrics::Metrics::Kind::gauge, [] { return 1.0; });
  // Bounded label sets start from what the database already knows, most reports first.
  {
    std::unique_ptr<store::Store> replica;
    if (!settings.database_read_url.empty()) replica = std::make_unique<store::Store>(settings.database_read_url);
    for (const auto& l : (replica ? *replica : *db.store).last_reports(1000))
      metrics.seed_last_report(l.policy_domain, l.organization, static_cast<double>(l.end_epoch));
  }
  db.store.reset();  // it served the migration; requests and messages use the workers' own connections

  store::RejectedQuota quota;
  quota.per_client = settings.quota_rejected_per_client;
  quota.total = settings.quota_rejected_total;
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
    metrics.add_source("tlsrpt_dkim_key_lookups_silenced_total",
                       "DKIM key lookups answered temperror without asking, because a lookup under the same organisational "
                       "domain got no answer within the last 30 s (counted in the temperrors too)",
                       K::counter, [g = gate.get()] { return static_cast<double>(g->stats().silenced); });
  }
  log::linef(log::Level::info, "serve", "dkim mode=%s alert_on=%s", std::string(dkim::to_string(gate->mode())).c_str(),
               auth.alert_on_authenticated ? "authenticated" : "all");
  intake::Intake intake(db.url, settings.limits, metrics, quota, auth);
  intake.set_reader(settings.database_read_url, settings.database_max_replica_lag, settings.http_query_timeout);
  if (!settings.database_read_url.empty())
    log::linef(log::Level::info, "serve", "reads (API, pages) from the replica in database.read_url");
  DatabaseWatch watch(intake, Maintenance(db.url, retention(settings), settings.retention_prune, metrics));
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
    if (!smtp.listen.empty()) {
      smtp_server::Settings with_keys = smtp;
      if (auth.gate)  // DKIM keys are looked up before a message takes a store thread
        with_keys.before_store = [g = auth.gate](std::string_view message, std::function<void()> ready) {
          g->prefetch(message, std::move(ready));
        };
      smtp_listener = std::make_unique<smtp_server::Server>(io, with_keys, sink);
    }
    if (!http.listen.empty()) http_listener = std::make_unique<http_server::Server>(io, http, routes);
  } catch (const std::runtime_error& e) {  // an address that cannot be bound, a bad certificate
    std::fprintf(stderr, "tlsrpt serve: %s\n", e.what());
    return 1;
  }
  if (smtp_listener) add_smtp_sources(metrics, smtp_listener->stats());
  if (http_listener) add_http_sources(metrics, http_listener->stats());
  std::unique_ptr<imap_poller::Poller> poller;
  if (!mailboxes.empty()) {
    for (const auto& m : mailboxes)
      log::linef(log::Level::info, "serve", "imap polling %s (%s:%u, folder %s, then %s)", m.name.c_str(), m.host.c_str(),
                   static_cast<unsigned>(m.port), m.folder.c_str(),
                   m.after == imap_poller::Mailbox::After::move ? ("move to " + m.processed_folder).c_str()
                   : m.after == imap_poller::Mailbox::After::flag ? "flag \\Seen" : "delete");
    poller = std::make_unique<imap_poller::Poller>(mailboxes, intake, db.url);
    add_imap_sources(metrics, poller->stats());
  }
  std::unique_ptr<ScheduledChecks> checks;
  std::atomic<std::size_t> monitored_count{0};
  // (Re)starts the scheduled checks with these domains: at start, and on SIGHUP (the new list's
  // first pass then starts within 10 s). Throws std::runtime_error when the resolver cannot start.
  auto set_monitored = [&](std::vector<posture::Monitored> domains) {
    if (checks) checks->stop();
    checks.reset();
    const std::size_t n = domains.size();
    monitored_count = n;
    if (n == 0) return;
    checks = std::make_unique<ScheduledChecks>(settings, std::move(domains), intake);
    log::linef(log::Level::info, "serve", "posture checks of %zu monitored domain%s every %s (%lld at once)", n,
               n == 1 ? "" : "s", config::format_duration(settings.checks_interval).c_str(),
               static_cast<long long>(settings.checks_concurrency));
  };
  try {
    set_monitored(std::move(monitored));
  } catch (const std::runtime_error& e) {  // the resolver: a trust anchor file that cannot be read
    std::fprintf(stderr, "tlsrpt serve: posture checks: %s\n", e.what());
    return 1;
  }
  metrics.add_source("tlsrpt_posture_monitored_domains",
                     "domains whose posture this server checks (checks.domains, [[domain]])",
                     metrics::Metrics::Kind::gauge, [&monitored_count] { return static_cast<double>(monitored_count.load()); });
  std::string recipients;
  for (const auto& r : smtp.protocol.recipients) recipients += (recipients.empty() ? "" : ",") + r;
  for (const auto& l : smtp.listen)
    log::linef(log::Level::info, "serve", "smtp listening on %s for %s%s", l.c_str(), recipients.c_str(),
                 smtp.tls_cert.empty() ? "" : " (STARTTLS offered)");
  const bool open = api_config.read_tokens.empty() && api_config.admin_tokens.empty();
  for (const auto& l : http.listen) {
    const char* scheme = http.tls_cert.empty() ? "http" : "https";
    log::linef(log::Level::info, "serve", "%s listening on %s (API %s, intake POST /tlsrpt, /metrics, /healthz, /readyz)", scheme,
                 l.c_str(), open ? "open: loopback only" : "behind tokens");
    log::linef(log::Level::info, "serve", "web pages at %s://%s/%s", scheme, l.c_str(), open ? "" : " (log in with a token)");
  }
  if (api_config.intake_tokens.empty() && !net::all_loopback(http.listen))
    log::linef(log::Level::warn, "serve",
               "the HTTPS report intake (POST /tlsrpt) is open to anyone on a non-loopback address: its reports count as "
               "unauthenticated (left out of the alert series, tlsrpt_reports_unauthenticated_total); set "
               "http.intake_tokens for the submitters you trust");
  Reloader reload{settings, std::move(reread), settings, smtp_listener.get(), http_listener.get(), routes, http,
                  [&](std::vector<posture::Monitored> domains) {
                    try {
                      set_monitored(std::move(domains));
                    } catch (const std::runtime_error& e) {
                      log::linef(log::Level::error, "serve", "reload: posture checks stopped: %s", e.what());
                    }
                  }};
  boost::asio::signal_set hangup(io, SIGHUP);
  std::function<void()> wait_for_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      log::linef(log::Level::info, "serve", "SIGHUP: reloading the settings");
      reload();
      wait_for_hangup();
    });
  };
  wait_for_hangup();
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    log::linef(log::Level::info, "serve", "signal %d, stopping", sig);
    if (smtp_listener) smtp_listener->stop();
    if (http_listener) http_listener->stop();
    if (poller) poller->stop();
    if (checks) checks->stop();
    hangup.cancel();
    io.stop();
  });
  io.run();
  if (smtp_listener) {
    const smtp_server::Stats& st = smtp_listener->stats();
    log::linef(log::Level::info, "serve",
               "smtp sessions=%llu refused=%llu tls=%llu timeouts=%llu accepted=%llu deferred=%llu failed=%llu "
               "dkim_refused=%llu",
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
               "committed, 451 while the database is unavailable), the HTTP server (API, web pages, POST /tlsrpt, /metrics), the "
               "IMAP poller and the scheduled posture checks. SIGHUP reloads certificates, tokens, monitored domains "
               "and the log settings; SIGTERM or SIGINT stops.");
  exit_statuses(*cmd, "0 stopped by SIGTERM or SIGINT; 1 a listener could not be bound, a certificate or a trust anchor "
                      "could not be read; 2 usage error (a setting, nothing to do, root without a user to become); 3 "
                      "database error");
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
    exit_code = guarded("serve", [&] {
      return run_serve(*o, settings, [o, &global] { return load_settings(global, o->limits); });
    });
  });
}

}  // namespace tlsrpt::cli
