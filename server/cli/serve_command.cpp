#include "cli/serve_command.hpp"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>

#include "cli/database.hpp"
#include "pipeline/pipeline.hpp"
#include "smtp/server.hpp"

namespace tlsrpt::cli {
namespace {

struct ServeOptions {
  DatabaseOptions db;
  LimitOptions limits;
  std::vector<std::string> listen;
  std::string recipients;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  for (char c : text + ",") {
    if (c == ',' || c == ' ') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else {
      item += c;
    }
  }
  return out;
}

std::size_t number(const std::string& key, const std::string& value) {
  try {
    std::size_t used = 0;
    const unsigned long long n = std::stoull(value, &used);
    if (used == value.size() && n > 0) return static_cast<std::size_t>(n);
  } catch (...) {
  }
  throw CLI::ValidationError(key, "'" + value + "' is not a positive number");
}

smtp_server::Settings smtp_settings(const config::Settings& s, const ServeOptions& o) {
  smtp_server::Settings out;
  out.listen = o.listen.empty() ? split_list(s.smtp_listen) : o.listen;
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
  return out;
}

// A store connection per store thread, made on first use and dropped when it breaks.
thread_local std::unique_ptr<store::Store> thread_store;

int run_serve(ServeOptions opt, const config::Settings& settings) {
  const smtp_server::Settings smtp = smtp_settings(settings, opt);
  apply(opt.db, settings);
  Database db = open_database(opt.db, !opt.db.no_migrate);
  db.store.reset();  // it served the migration; messages are stored on the store threads' own connections
  const std::string url = db.url;
  const report::Limits limits = settings.limits;

  smtp_server::Sink sink = [url, limits](const smtp_server::Delivery& d) -> std::string {
    const pipeline::Result result = pipeline::parse(d.bytes, "", limits);
    store::RawMessage raw;
    raw.bytes = d.bytes;
    raw.transport = "smtp";
    raw.source_json = d.source_json;
    // A connection that broke while idle fails its first transaction, which commits nothing:
    // one retry on a fresh connection is safe.
    for (int attempt = 1;; ++attempt) {
      try {
        if (!thread_store) thread_store = std::make_unique<store::Store>(url);
        const store::StoreResult r = thread_store->store(raw, result);
        return std::to_string(r.raw_id) + " (" + std::string(store::to_string(r.outcome)) + ")";
      } catch (const store::Error& e) {
        thread_store.reset();
        if (e.transient() && attempt < 2) continue;
        if (e.transient()) throw smtp_server::TransientError(e.what());
        throw;
      }
    }
  };

  boost::asio::io_context io;
  std::unique_ptr<smtp_server::Server> listener;
  try {
    listener = std::make_unique<smtp_server::Server>(io, smtp, sink);
  } catch (const std::runtime_error& e) {  // an address that cannot be bound, a bad certificate
    std::fprintf(stderr, "tlsrpt serve: %s\n", e.what());
    return 1;
  }
  smtp_server::Server& server = *listener;
  std::string recipients;
  for (const auto& r : smtp.protocol.recipients) recipients += (recipients.empty() ? "" : ",") + r;
  for (const auto& l : smtp.listen)
    std::fprintf(stderr, "serve: smtp listening on %s for %s%s\n", l.c_str(), recipients.c_str(),
                 smtp.tls_cert.empty() ? "" : " (STARTTLS offered)");
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    std::fprintf(stderr, "serve: signal %d, stopping\n", sig);
    server.stop();
    io.stop();
  });
  io.run();
  const smtp_server::Stats& st = server.stats();
  std::fprintf(stderr,
               "serve: smtp sessions=%llu refused=%llu tls=%llu timeouts=%llu accepted=%llu deferred=%llu failed=%llu\n",
               static_cast<unsigned long long>(st.sessions.load()), static_cast<unsigned long long>(st.sessions_refused.load()),
               static_cast<unsigned long long>(st.sessions_tls.load()), static_cast<unsigned long long>(st.timeouts.load()),
               static_cast<unsigned long long>(st.messages_accepted.load()),
               static_cast<unsigned long long>(st.messages_deferred.load()),
               static_cast<unsigned long long>(st.messages_failed.load()));
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Run the SMTP listener: reports mailed to the configured recipients are stored (250 only once "
               "committed; 451 while the database is unavailable)");
  add_database_options(*cmd, o->db, true);
  add_limit_options(*cmd, o->limits);
  cmd->add_option("--smtp-listen", o->listen, "HOST:PORT to listen on, repeatable (default smtp.listen, 127.0.0.1:2525)")
      ->type_size(1)
      ->allow_extra_args(false);
  cmd->add_option("--smtp-recipients", o->recipients,
                  "Comma-separated addresses and @domains to accept mail for (default smtp.recipients)");
  cmd->callback([o, &global, &exit_code] {
    const config::Settings settings = load_settings(global, o->limits);
    exit_code = guarded("serve", [&] { return run_serve(*o, settings); });
  });
}

}  // namespace tlsrpt::cli
