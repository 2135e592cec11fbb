#include "imap/poller.hpp"
#include "json/text.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "imap/protocol.hpp"
#include "log/log.hpp"
#include "pipeline/output.hpp"
#include "store/store.hpp"

namespace tlsrpt::imap_poller {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// The server or the network failed us: reconnect later. Never carries a credential.
struct ImapError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The connection is fine but the time given to wait ran out (an IDLE with nothing new).
struct Quiet {};

constexpr std::chrono::seconds step_timeout{60};

// One connection to one server: commands out, responses in, every step within a timeout.
class Connection {
 public:
  using Response = imap::Response;
  Connection(const Mailbox& m, const std::atomic<bool>& stopping, std::size_t literal_limit)
      : m_(m), stopping_(stopping), socket_(io_), reader_({64 * 1024, literal_limit}) {}

  asio::io_context& io() { return io_; }

  void connect() {
    tcp::resolver resolver(io_);
    boost::system::error_code ec;
    auto endpoints = resolver.resolve(m_.host, std::to_string(m_.port), ec);
    if (ec) throw ImapError("cannot resolve " + m_.host + ": " + ec.message());
    run([&](auto done) { asio::async_connect(socket_, endpoints, [done](auto e, auto) { done(e); }); }, step_timeout,
        "connect");
    if (m_.tls == Mailbox::Tls::implicit) handshake();
    Response greeting = read(step_timeout);
    if (imap::status_of(greeting.text) == "BYE") throw ImapError("server said: " + greeting.text);
    capabilities_ = imap::capabilities(greeting.text);
    if (m_.tls == Mailbox::Tls::starttls) {
      if (!has("STARTTLS")) refresh_capabilities();
      if (!has("STARTTLS")) throw ImapError("the server does not offer STARTTLS");
      command("STARTTLS");
      handshake();
      capabilities_.clear();
    }
    if (capabilities_.empty()) refresh_capabilities();
  }

  void login() {
    Response done;
    if (has("AUTH=PLAIN") && has("SASL-IR")) {
      std::string plain;
      plain.push_back('\0');
      plain += m_.username;
      plain.push_back('\0');
      plain += m_.password;
      done = command_secret("AUTHENTICATE PLAIN " + imap::base64(plain));
    } else if (!has("LOGINDISABLED")) {
      done = command_secret("LOGIN " + astring(m_.username) + " " + astring(m_.password));
    } else {
      throw ImapError("the server offers neither LOGIN nor AUTHENTICATE PLAIN with SASL-IR");
    }
    if (imap::status_of(done.text) != "OK") throw ImapError("login as " + m_.username + " refused: " + safe(done.text));
    const auto caps = imap::capabilities(done.text);
    if (!caps.empty()) capabilities_ = caps;
    else refresh_capabilities();
  }

  bool has(std::string_view capability) const {
    for (const auto& c : capabilities_)
      if (c == capability) return true;
    return false;
  }

  // Sends a command, collects untagged responses until its tagged answer; throws unless OK.
  std::vector<Response> command(const std::string& text, std::chrono::seconds timeout = step_timeout) {
    std::vector<Response> untagged;
    Response done = exchange(text, untagged, timeout);
    if (imap::status_of(done.text) != "OK")
      throw ImapError(text.substr(0, text.find(' ')) + " failed: " + safe(done.text));
    return untagged;
  }

  // The same, returning the tagged answer whatever it says.
  Response exchange(const std::string& text, std::vector<Response>& untagged, std::chrono::seconds timeout = step_timeout) {
    const std::string tag = "t" + std::to_string(++tag_);
    write(tag + " " + text + "\r\n");
    for (;;) {
      Response r = read(timeout);
      if (imap::tag_of(r.text) == tag) return r;
      if (imap::status_of(r.text) == "BYE" && imap::tag_of(r.text) == "*") throw ImapError("server said: " + safe(r.text));
      untagged.push_back(std::move(r));
    }
  }

  // IDLE until the folder changes or `wait` passes; true when something arrived.
  bool idle(std::chrono::seconds wait) {
    const std::string tag = "t" + std::to_string(++tag_);
    write(tag + " IDLE\r\n");
    Response cont = read(step_timeout);
    if (imap::tag_of(cont.text) != "+") throw ImapError("IDLE refused: " + safe(cont.text));
    bool changed = false;
    const auto until = Clock::now() + wait;
    while (!changed && Clock::now() < until && !stopping_) {
      try {
        Response r = read(std::chrono::duration_cast<std::chrono::seconds>(until - Clock::now()) + std::chrono::seconds(1),
                          true);
        changed = imap::is_exists(r.text);
      } catch (const Quiet&) {
        break;
      }
    }
    write("DONE\r\n");
    for (;;) {
      Response r = read(step_timeout);
      if (imap::tag_of(r.text) == tag) break;
      changed = changed || imap::is_exists(r.text);
    }
    return changed;
  }

  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 private:
  // Runs one asynchronous step to completion or timeout (then the socket is closed).
  template <class Start>
  void run(Start start, std::chrono::steady_clock::duration timeout, const char* what, bool quiet_ok = false) {
    std::optional<boost::system::error_code> result;
    io_.restart();
    start([&result](boost::system::error_code ec) { result = ec; });
    io_.run_for(timeout);
    if (!result) {
      if (quiet_ok) {  // nothing arrived: cancel the read and let the connection go on
        boost::system::error_code ignored;
        socket_.cancel(ignored);
        io_.restart();
        io_.run();
        throw Quiet{};
      }
      close();
      io_.restart();
      io_.run();
      throw ImapError(std::string(what) + ": no answer within " +
                      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) + " s");
    }
    if (*result) throw ImapError(std::string(what) + ": " + result->message());
    if (stopping_) throw ImapError("stopping");
  }

  void handshake() {
    tls_.emplace(socket_, context());
    if (m_.verify) {
      tls_->set_verify_mode(ssl::verify_peer);
      tls_->set_verify_callback(ssl::host_name_verification(m_.host));
    }
    SSL_set_tlsext_host_name(tls_->native_handle(), m_.host.c_str());
    run([&](auto done) { tls_->async_handshake(ssl::stream_base::client, done); }, step_timeout, "TLS handshake");
  }

  ssl::context& context() {
    if (!context_) {
      context_.emplace(ssl::context::tls_client);
      context_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                            ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      context_->set_default_verify_paths();
      if (!m_.ca_file.empty()) context_->load_verify_file(m_.ca_file);
    }
    return *context_;
  }

  void write(const std::string& bytes) {
    if (tls_)
      run([&](auto done) { asio::async_write(*tls_, asio::buffer(bytes), [done](auto e, auto) { done(e); }); },
          step_timeout, "write");
    else
      run([&](auto done) { asio::async_write(socket_, asio::buffer(bytes), [done](auto e, auto) { done(e); }); },
          step_timeout, "write");
  }

  Response read(std::chrono::steady_clock::duration timeout, bool quiet_ok = false) {
    for (;;) {
      if (auto r = reader_.next()) return std::move(*r);
      char chunk[65536];
      std::size_t n = 0;
      auto on_read = [&n](auto done) { return [&n, done](boost::system::error_code e, std::size_t k) { n = k; done(e); }; };
      if (tls_)
        run([&](auto done) { tls_->async_read_some(asio::buffer(chunk), on_read(done)); }, timeout, "read", quiet_ok);
      else
        run([&](auto done) { socket_.async_read_some(asio::buffer(chunk), on_read(done)); }, timeout, "read", quiet_ok);
      if (!reader_.feed(std::string_view(chunk, n))) throw ImapError("bad response: " + reader_.error());
    }
  }

  // A command with a credential: its text never appears in an error.
  Response command_secret(const std::string& text) {
    std::vector<Response> untagged;
    return exchange(text, untagged);
  }

  void refresh_capabilities() {
    for (const auto& r : command("CAPABILITY")) {
      auto caps = imap::capabilities(r.text);
      if (!caps.empty()) capabilities_ = std::move(caps);
    }
  }

  std::string astring(const std::string& s) {
    if (!imap::needs_literal(s)) return imap::quoted(s);
    throw ImapError("user names and passwords must be printable ASCII");
  }

  // Server text for an error message: printable and bounded.
  static std::string safe(std::string_view text) { return report::printable(text, 200); }

  const Mailbox& m_;
  const std::atomic<bool>& stopping_;
  asio::io_context io_;
  tcp::socket socket_;
  std::optional<ssl::context> context_;
  std::optional<ssl::stream<tcp::socket&>> tls_;
  imap::Reader reader_;
  std::vector<std::string> capabilities_;
  unsigned tag_ = 0;
};

std::string uid_set(const std::vector<std::uint32_t>& uids) {
  std::string s;
  for (auto u : uids) s += (s.empty() ? "" : ",") + std::to_string(u);
  return s;
}

// The advisory lock key of a mailbox: host, user and folder, hashed into 63 bits.
std::int64_t lock_key(const Mailbox& m) {
  return store::advisory_key("imap\n" + m.host + "\n" + m.username + "\n" + m.folder);
}

}  // namespace

struct Poller::Impl {
  Impl(std::vector<Mailbox> m, intake::Intake& i, std::string url)
      : mailboxes(std::move(m)), intake(i), database_url(std::move(url)) {}
  std::vector<Mailbox> mailboxes;
  intake::Intake& intake;
  std::string database_url;
  Stats stats;
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::condition_variable wake;
  std::vector<Connection*> live;  // connections to close on stop
  std::vector<std::thread> threads;

  static void log(const Mailbox& m, log::Level level, std::string_view event, log::Fields fields) {
    fields.insert(fields.begin(), {{"mailbox", m.name}, {"event", std::string(event)}});
    log::event(level, "imap", fields);
  }

  // Sleeps unless stopping; false when stopping.
  bool sleep(std::chrono::seconds s) {
    std::unique_lock lock(mutex);
    return !wake.wait_for(lock, s, [this] { return stopping.load(); });
  }

  void run(const Mailbox& m) {
    std::unique_ptr<store::Store> lock_connection;
    std::chrono::seconds backoff{1};
    bool standing_by = false, announced = false;
    while (!stopping) {
      // The mailbox lock: only the server that holds it polls.
      try {
        if (!lock_connection || !lock_connection->alive()) {
          if (lock_connection && !standing_by) --stats.polling;
          lock_connection.reset();
          lock_connection = std::make_unique<store::Store>(database_url);
          standing_by = true;
        }
        if (standing_by) {
          if (!lock_connection->try_advisory_lock(lock_key(m))) {
            if (!announced) log(m, log::Level::info, "standby", {{"reason", "another tlsrpt polls this mailbox"}});
            announced = true;  // once, not every poll interval
            if (!sleep(m.poll_interval)) break;
            continue;
          }
          standing_by = false;
          announced = false;
          ++stats.polling;
          log(m, log::Level::info, "lock", {{"host", m.host}, {"folder", m.folder}});
        }
      } catch (const store::Error& e) {
        lock_connection.reset();
        log(m, log::Level::warn, "database-unavailable", {{"error", e.what()}});
        if (!sleep(std::chrono::seconds(10))) break;
        continue;
      }
      try {
        session(m, *lock_connection);
        backoff = std::chrono::seconds(1);
      } catch (const ImapError& e) {
        if (stopping) break;
        ++stats.errors;
        log(m, log::Level::warn, "error",
            {{"error", report::printable(e.what(), 300)}, {"retry_in", std::to_string(backoff.count()) + "s"}});
        if (!sleep(backoff)) break;
        backoff = std::min(backoff * 2, std::chrono::seconds(300));
      }
    }
    if (!standing_by && lock_connection) --stats.polling;
  }

  // One connection: log in, then drain and wait until an error or stop.
  void session(const Mailbox& m, store::Store& lock_connection) {
    Connection c(m, stopping, intake.limits().message_size);
    {
      std::lock_guard lock(mutex);
      live.push_back(&c);
    }
    struct Unlist {
      Impl& impl;
      Connection* c;
      ~Unlist() {
        std::lock_guard lock(impl.mutex);
        std::erase(impl.live, c);
      }
    } unlist{*this, &c};
    if (stopping) return;
    c.connect();
    c.login();
    ++stats.connections;
    // Folder names: "/" in the settings is the server's hierarchy delimiter.
    char delimiter = '/';
    for (const auto& r : c.command("LIST \"\" \"\""))
      if (auto d = imap::list_delimiter(r.text); d && *d) delimiter = *d;
    auto server_name = [delimiter](std::string name) {
      for (char& ch : name)
        if (ch == '/') ch = delimiter;
      return imap::quoted(name);
    };
    for (const auto* f : {&m.processed_folder, &m.invalid_folder}) {
      if (m.after != Mailbox::After::move && f == &m.processed_folder) continue;
      bool exists = false;
      for (const auto& r : c.command("LIST \"\" " + server_name(*f))) exists = exists || imap::list_delimiter(r.text).has_value();
      if (!exists) c.command("CREATE " + server_name(*f));
    }
    std::uint64_t uidvalidity = 0;
    for (const auto& r : c.command("SELECT " + server_name(m.folder)))
      if (auto v = imap::response_code_number(r.text, "UIDVALIDITY")) uidvalidity = *v;
    log(m, log::Level::info, "connected",
        {{"host", m.host}, {"folder", m.folder}, {"uidvalidity", std::to_string(uidvalidity)},
         {"idle", c.has("IDLE") ? "yes" : "no"}, {"move", c.has("MOVE") ? "yes" : "no"}});

    while (!stopping) {
      if (!lock_connection.alive()) throw ImapError("lost the database connection that holds the mailbox lock");
      std::vector<std::uint32_t> uids;
      for (const auto& r : c.command(std::string("UID SEARCH ") + (m.after == Mailbox::After::flag ? "UNSEEN" : "ALL")))
        for (auto u : imap::search_uids(r.text, 1000000)) uids.push_back(u);
      bool deferred = false;
      Filing filing;  // committed, not yet filed: filed every 1,000 messages (a MOVE costs the
                      // server time in proportion to the folder's size) and at the end
      for (std::size_t at = 0; at < uids.size() && !stopping && !deferred; at += m.batch) {
        const std::vector<std::uint32_t> part(uids.begin() + static_cast<std::ptrdiff_t>(at),
                                              uids.begin() + static_cast<std::ptrdiff_t>(std::min(uids.size(), at + m.batch)));
        deferred = !drain(m, c, part, uidvalidity, filing);
        if (filing.good.size() + filing.bad.size() >= 1000) file(m, c, filing, server_name);
      }
      file(m, c, filing, server_name);
      if (stopping) return;
      if (deferred) {  // the database is away: leave everything in place, look again later
        if (!sleep(std::chrono::seconds(10))) return;
        continue;
      }
      if (c.has("IDLE")) {
        c.idle(std::min<std::chrono::seconds>(m.poll_interval, std::chrono::minutes(25)));
      } else {
        if (!sleep(m.poll_interval)) return;
        c.command("NOOP");
      }
    }
  }

  struct Filing {
    std::vector<std::uint32_t> good, bad;  // stored or duplicate; rejected
  };

  // Moves, flags or deletes what was committed.
  template <class Name>
  void file(const Mailbox& m, Connection& c, Filing& f, const Name& server_name) {
    if (!f.good.empty()) {
      if (m.after == Mailbox::After::move) move(c, f.good, server_name(m.processed_folder));
      else if (m.after == Mailbox::After::flag) c.command("UID STORE " + uid_set(f.good) + " +FLAGS.SILENT (\\Seen)");
      else remove(c, f.good);
    }
    if (!f.bad.empty()) move(c, f.bad, server_name(m.invalid_folder));
    f = Filing{};
  }

  // Fetches and stores one batch of messages, adding them to `filing` once committed; false
  // when the database was unavailable (nothing added).
  bool drain(const Mailbox& m, Connection& c, const std::vector<std::uint32_t>& uids, std::uint64_t uidvalidity,
             Filing& filing) {
    const auto t0 = Clock::now();
    std::vector<std::pair<std::uint32_t, std::string>> messages;
    for (auto& r : c.command("UID FETCH " + uid_set(uids) + " (UID BODY.PEEK[])", std::chrono::seconds(300))) {
      const auto uid = imap::fetch_uid(r.text);
      if (uid && !r.literals.empty()) messages.emplace_back(*uid, std::move(r.literals.front()));
    }
    if (messages.empty()) return true;
    std::vector<intake::Intake::Input> inputs;
    for (const auto& [uid, bytes] : messages)
      inputs.push_back({bytes, "{\"mailbox\":" + json::string_of_bytes(m.name) + ",\"host\":" +
                                   json::string_of_bytes(m.host) + ",\"folder\":" +
                                   json::string_of_bytes(m.folder) + ",\"uid\":" + std::to_string(uid) +
                                   ",\"uidvalidity\":" + std::to_string(uidvalidity) + "}",
                        {}});  // no client: the rejected-input quota is for senders on the open internet
    const auto t1 = Clock::now();
    std::vector<intake::Outcome> outcomes;
    try {
      outcomes = intake.ingest_batch(inputs, "imap");
    } catch (const store::Error& e) {
      ++stats.deferred;
      log(m, log::Level::warn, "deferred",
          {{"messages", std::to_string(messages.size())}, {"error", report::printable(e.what(), 300)}});
      if (e.transient()) return false;
      throw ImapError("storing failed (a bug?): " + std::string(e.what()));
    }
    const auto t2 = Clock::now();
    // Committed: to be filed.
    std::size_t rejected = 0;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      const bool bad = outcomes[i].stored.outcome == store::Outcome::rejected;
      (bad ? filing.bad : filing.good).push_back(messages[i].first);
      rejected += bad;
    }
    stats.messages += messages.size();
    const auto ms = [](Clock::duration d) { return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()); };
    log(m, log::Level::info, "stored",
        {{"messages", std::to_string(messages.size())}, {"rejected", std::to_string(rejected)}, {"fetch_ms", ms(t1 - t0)},
         {"store_ms", ms(t2 - t1)}});
    return true;
  }

  static void move(Connection& c, const std::vector<std::uint32_t>& uids, const std::string& folder) {
    if (c.has("MOVE")) {
      c.command("UID MOVE " + uid_set(uids) + " " + folder);
      return;
    }
    c.command("UID COPY " + uid_set(uids) + " " + folder);
    remove(c, uids);
  }

  static void remove(Connection& c, const std::vector<std::uint32_t>& uids) {
    c.command("UID STORE " + uid_set(uids) + " +FLAGS.SILENT (\\Deleted)");
    c.command(c.has("UIDPLUS") ? "UID EXPUNGE " + uid_set(uids) : std::string("EXPUNGE"));
  }
};

Poller::Poller(std::vector<Mailbox> mailboxes, intake::Intake& intake, std::string database_url)
    : impl_(std::make_unique<Impl>(std::move(mailboxes), intake, std::move(database_url))) {
  for (const auto& m : impl_->mailboxes) impl_->threads.emplace_back([this, &m] { impl_->run(m); });
}

Poller::~Poller() { stop(); }

void Poller::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping.exchange(true)) return;
    for (Connection* c : impl_->live) asio::post(c->io(), [c] { c->close(); });
  }
  impl_->wake.notify_all();
  for (auto& t : impl_->threads) t.join();
}

const Stats& Poller::stats() const { return impl_->stats; }

metrics::Families families(const Stats& st) {
  return {
      {"tlsrpt_imap_logins_total", "IMAP logins that succeeded", true, metrics::reading(st.connections)},
      {"tlsrpt_imap_errors_total", "IMAP connection, protocol and login failures (then retried with backoff)", true, metrics::reading(st.errors)},
      {"tlsrpt_imap_messages_total", "messages fetched from IMAP, stored and filed", true, metrics::reading(st.messages)},
      {"tlsrpt_imap_deferred_total", "IMAP batches left in place because the database was unavailable", true, metrics::reading(st.deferred)},
      {"tlsrpt_imap_polling_mailboxes", "mailboxes this server polls now (it holds their lock)", false, metrics::reading(st.polling)},
  };
}

}  // namespace tlsrpt::imap_poller
