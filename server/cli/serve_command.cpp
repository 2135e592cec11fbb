#include "cli/serve_command.hpp"
#include "cli/manual.hpp"

#include <malloc.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>

#include "api/api.hpp"
#include "cli/database.hpp"
#include "cli/dkim_command.hpp"
#include "cli/monitoring.hpp"
#include "cli/privileges.hpp"
#include "cli/runtime.hpp"
#include "cli/serve_plan.hpp"
#include "rollout/publisher.hpp"
#include "http/server.hpp"
#include "imap/poller.hpp"
#include "intake/intake.hpp"
#include "log/log.hpp"
#include "net/client.hpp"
#include "net/listen.hpp"
#include "smtp/server.hpp"

namespace tlsrpt::cli {
namespace {

struct ServeOptions {
  DatabaseOptions db;
  LimitOptions limits;
  CommandLine command_line;
};

int run_serve(ServeOptions opt, const config::Settings& settings, std::function<config::Settings()> reread) {
  // Buffers of 256 KiB and more (message bodies) are mapped on their own and unmapped when
  // freed, instead of glibc's default, whose threshold rises to the largest block freed so far
  // (after one 20 MiB message, every later one would stay in the heap once freed).
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  opt.command_line.database_url = opt.db.url;
  opt.command_line.data_dir = opt.db.data_dir;
  const Plan p = plan(settings, opt.command_line);  // every refusal of a setting: exit 2, before anything starts
  log::set_level(p.log_level);
  log::set_format(p.log_format);
  const smtp_server::Settings& smtp = p.smtp;
  const http_server::Settings& http = p.http;
  // Started as root: become the service user now, before the database (the embedded cluster is
  // that user's) and before any input; only CAP_NET_BIND_SERVICE is kept, to bind the
  // listeners' sockets, and given up before any thread starts (capabilities are per thread).
  apply(opt.db, settings);
  config::hide_secret_environment();  // no thread yet: nothing reads the environment meanwhile
  try {
    if (p.run_as) {
      if (opt.db.url.empty()) give_directory(opt.db.data_dir, *p.run_as);
      become(*p.run_as);
      log::linef(log::Level::info, "serve", "running as %s (uid %u, gid %u)", p.run_as->user.c_str(),
                 static_cast<unsigned>(p.run_as->uid), static_cast<unsigned>(p.run_as->gid));
    } else if (geteuid() == 0) {
      log::linef(log::Level::info, "serve", "running as root (server.allow_root)");
    }
    not_dumpable();
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "tlsrpt serve: %s\n", e.what());
    return 1;
  }
  try {
    std::vector<std::string> addresses = smtp.listen;
    addresses.insert(addresses.end(), http.listen.begin(), http.listen.end());
    for (const auto* l : {&p.hosting.listener.listen, &p.hosting.acme.listen}) addresses.insert(addresses.end(), l->begin(), l->end());
    net::prebind(addresses);
  } catch (const std::runtime_error& e) {  // an address that cannot be bound
    std::fprintf(stderr, "tlsrpt serve: %s\n", e.what());
    return 1;
  }
  Database db = open_database(opt.db, migration(opt.db, settings));
  // The last steps that need a capability are done (binding low ports; staying root, handing the
  // embedded cluster's directory to postgres), and no thread has started yet: none keeps any.
  // Except root staying root with the embedded cluster (a quick start from a clone): the
  // cluster belongs to postgres, and root needs its capabilities to reach its socket directory
  // for every new connection and to stop it (runuser) at exit.
  if (p.run_as || db.embedded == nullptr) {
    try {
      drop_capabilities();
    } catch (const std::runtime_error& e) {
      std::fprintf(stderr, "tlsrpt serve: %s\n", e.what());
      return 1;
    }
  } else {
    log::linef(log::Level::warn, "serve",
               "staying root with the embedded cluster: capabilities kept (to reach and stop the postgres-owned "
               "cluster); set server.user (the package runs as tlsrpt) or database.url to run without any");
  }

  metrics::Metrics metrics(p.labels);
  metrics.add_families({{"tlsrpt_build_info",
                         "1, labelled with the version and http.external_url (the dashboards and alerts link to it)",
                         false, [] { return 1.0; }, {{"version", TLSRPT_VERSION}, {"external_url", p.external_url}}}});
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
    gate = std::make_unique<dkim::Gate>(p.dkim_mode, p.dkim);
  } catch (const std::runtime_error& e) {  // the resolver could not start (the plan read its files)
    std::fprintf(stderr, "tlsrpt serve: dkim: %s\n", e.what());
    return 1;
  }
  const intake::Authentication auth{gate->mode() == dkim::Mode::off ? nullptr : gate.get(), p.alert_on_authenticated};
  if (auth.gate) metrics.add_families(dkim::families(*gate));
  log::linef(log::Level::info, "serve", "dkim mode=%s alert_on=%s", std::string(dkim::to_string(gate->mode())).c_str(),
               auth.alert_on_authenticated ? "authenticated" : "all");
  store::Pool pool(db.url);  // the connections of every thread: intake's writes, the API's reads
  pool.set_reader(settings.database_read_url, settings.database_max_replica_lag, settings.http_query_timeout);
  intake::Intake intake(pool, settings.limits, metrics, quota, auth);
  if (!settings.database_read_url.empty())
    log::linef(log::Level::info, "serve", "reads (API, pages) from the replica in database.read_url");
  // The domain list's ranges: the pages' choices and the default (readiness.days).
  std::vector<int> windows{7, 30, 90, 365};
  if (std::find(windows.begin(), windows.end(), readiness_days(settings)) == windows.end())
    windows.push_back(readiness_days(settings));
  DatabaseWatch watch(pool, Maintenance(db.url, p.retention, p.prune, windows, metrics));
  metrics.add_families(watch.families());

  smtp_server::Sink sink = [&intake](const smtp_server::Delivery& d) -> std::string {
    try {
      const intake::Outcome o = intake.ingest(d.bytes, "smtp", d.source_json, d.client, std::time(nullptr));
      // dkim.mode = require: kept as rejected, and the sender is told.
      if (o.stored.outcome == store::Outcome::rejected &&
          o.parsed.rejections.front().reason == report::Reason::dkim_not_authenticated)
        throw smtp_server::not_authenticated(o.parsed.rejections.front().detail, o.stored.raw_id);
      return std::to_string(o.stored.raw_id) + " (" + std::string(store::to_string(o.stored.outcome)) + ")";
    } catch (const intake::DkimDeferred& e) {
      throw smtp_server::key_lookup_deferred(e.what());
    } catch (const store::Error& e) {
      if (e.transient()) throw smtp_server::TransientError(e.what());
      throw;
    }
  };

  api::Api routes(p.api, intake, pool);  // before io: its coroutines and worker threads use it
  boost::asio::io_context io;
  std::unique_ptr<smtp_server::Server> smtp_listener;
  std::unique_ptr<http_server::Server> http_listener, policy_listener, acme_listener;
  // The policy host: its listeners, and the thread that keeps its policies, their DNS records and
  // its certificates in step (rollout/publisher).
  rollout::PolicyHost policy_host(p.hosting.acme_webroot);
  std::shared_ptr<net::CertDirectory> certificates;
  if (!p.hosting.listener.listen.empty()) certificates = std::make_shared<net::CertDirectory>(p.hosting.cert_dir);
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
    if (certificates) {
      http_server::Settings l = p.hosting.listener;
      l.sni = certificates;
      policy_listener = std::make_unique<http_server::Server>(io, l, policy_host);
    }
    if (!p.hosting.acme.listen.empty()) acme_listener = std::make_unique<http_server::Server>(io, p.hosting.acme, policy_host);
  } catch (const std::runtime_error& e) {  // an address that cannot be bound, a bad certificate
    std::fprintf(stderr, "tlsrpt serve: %s\n", e.what());
    return 1;
  }
  if (smtp_listener) metrics.add_families(smtp_server::families(smtp_listener->stats()));
  if (http_listener) metrics.add_families(http_server::families(http_listener->stats()));
  std::unique_ptr<rollout::Publisher> publisher;
  if (policy_listener || acme_listener || !p.hosting.domains.empty()) {
    metrics.add_families(rollout::families(policy_host.stats()));
    rollout::PublisherSettings ps;
    ps.update_server = p.hosting.update_server;
    ps.key = p.hosting.key;
    ps.dns_timeout = settings.dns_timeout;
    ps.certs = certificates;
    publisher = std::make_unique<rollout::Publisher>(pool, policy_host, metrics, ps);
    for (const auto& l : p.hosting.listener.listen)
      log::linef(log::Level::info, "serve", "policy listening on %s (https, MTA-STS policies of %zu hosted domains)", l.c_str(),
                 p.hosting.domains.size());
    for (const auto& l : p.hosting.acme.listen)
      log::linef(log::Level::info, "serve", "acme listening on %s (http, challenges from %s)", l.c_str(), p.hosting.acme_webroot.c_str());
  }
  std::unique_ptr<imap_poller::Poller> poller;
  if (!p.mailboxes.empty()) {
    for (const auto& m : p.mailboxes)
      log::linef(log::Level::info, "serve", "imap polling %s (%s:%u, folder %s, then %s)", m.name.c_str(), m.host.c_str(),
                   static_cast<unsigned>(m.port), m.folder.c_str(),
                   m.after == imap_poller::Mailbox::After::move ? ("move to " + m.processed_folder).c_str()
                   : m.after == imap_poller::Mailbox::After::flag ? "flag \\Seen" : "delete");
    poller = std::make_unique<imap_poller::Poller>(p.mailboxes, intake, db.url);
    metrics.add_families(imap_poller::families(poller->stats()));
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
    checks = std::make_unique<ScheduledChecks>(settings, std::move(domains), pool, metrics);
    log::linef(log::Level::info, "serve", "posture checks of %zu monitored domain%s every %s (%lld at once)", n,
               n == 1 ? "" : "s", config::format_duration(settings.checks_interval).c_str(),
               static_cast<long long>(settings.checks_concurrency));
  };
  try {
    set_monitored(p.monitored);
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
  const bool open = p.api.read_tokens.empty() && p.api.admin_tokens.empty();
  for (const auto& l : http.listen) {
    const char* scheme = http.tls_cert.empty() ? "http" : "https";
    log::linef(log::Level::info, "serve", "%s listening on %s (API %s, intake POST /tlsrpt, /metrics, /healthz, /readyz)", scheme,
                 l.c_str(), open ? "open: loopback only" : "behind tokens");
    log::linef(log::Level::info, "serve", "web pages at %s://%s/%s", scheme, l.c_str(), open ? "" : " (log in with a token)");
  }
  if (p.api.intake_tokens.empty() && !net::all_loopback(http.listen))
    log::linef(log::Level::warn, "serve",
               "the HTTPS report intake (POST /tlsrpt) is open to anyone on a non-loopback address: its reports count as "
               "unauthenticated (left out of the alert series, tlsrpt_reports_unauthenticated_total); set "
               "http.intake_tokens for the submitters you trust");
  Reloader reload(settings, opt.command_line, std::move(reread),
                  {smtp_listener.get(), http_listener.get(), &routes, [&](std::vector<posture::Monitored> domains) {
                     try {
                       set_monitored(std::move(domains));
                     } catch (const std::runtime_error& e) {
                       log::linef(log::Level::error, "serve", "reload: posture checks stopped: %s", e.what());
                     }
                   }});
  metrics.add_families(reload.families());
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
    if (policy_listener) policy_listener->stop();
    if (acme_listener) acme_listener->stop();
    if (publisher) publisher->stop();
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
  cmd->add_option("--smtp-listen", o->command_line.smtp_listen, "HOST:PORT to listen on, repeatable (default smtp.listen, 127.0.0.1:2525)")
      ->type_size(1)
      ->allow_extra_args(false);
  cmd->add_option("--http-listen", o->command_line.http_listen, "HOST:PORT for the HTTP server, repeatable (default http.listen, 127.0.0.1:8080)")
      ->type_size(1)
      ->allow_extra_args(false);
  cmd->add_flag("--allow-root", o->command_line.allow_root,
                "Started as root: stay root unless server.user names a user (server.allow_root)");
  cmd->add_option("--smtp-recipients", o->command_line.smtp_recipients,
                  "Comma-separated addresses and @domains to accept mail for (default smtp.recipients)");
  cmd->callback([o, &global, &exit_code] {
    const config::Settings settings = load_settings(global, o->limits);
    exit_code = guarded("serve", [&] {
      return run_serve(*o, settings, [o, &global] { return load_settings(global, o->limits); });
    });
  });
}

}  // namespace tlsrpt::cli
