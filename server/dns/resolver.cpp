#include "dns/resolver.hpp"

#include <arpa/inet.h>
#include <unbound.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <cctype>
#include <map>
#include <set>
#include <stdexcept>

namespace tlsrpt::dns {
namespace asio = boost::asio;

std::string_view to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::answer: return "answer";
    case Outcome::nodata: return "nodata";
    case Outcome::nxdomain: return "nxdomain";
    case Outcome::bogus: return "bogus";
    case Outcome::servfail: return "servfail";
    case Outcome::timeout: return "timeout";
    case Outcome::error: return "error";
  }
  return "error";
}

std::optional<std::string> txt_text(std::string_view rdata) {
  std::string out;
  while (!rdata.empty()) {
    const std::size_t n = static_cast<unsigned char>(rdata[0]);
    if (n + 1 > rdata.size()) return std::nullopt;
    out.append(rdata.substr(1, n));
    rdata.remove_prefix(n + 1);
  }
  return out;
}

namespace {

// An uncompressed wire-format name (libunbound hands rdata over uncompressed) as lower-case
// text without the final dot; nullopt when malformed or when a label holds a dot or a byte
// outside printable ASCII.
std::optional<std::string> name_text(std::string_view wire) {
  std::string out;
  while (true) {
    if (wire.empty()) return std::nullopt;
    const std::size_t n = static_cast<unsigned char>(wire[0]);
    if (n == 0) return wire.size() == 1 ? std::optional<std::string>(out) : std::nullopt;
    if (n > 63 || n + 1 > wire.size()) return std::nullopt;
    if (!out.empty()) out += '.';
    for (char c : wire.substr(1, n)) {
      if (c <= ' ' || c > '~' || c == '.') return std::nullopt;
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (out.size() > 253) return std::nullopt;
    wire.remove_prefix(n + 1);
  }
}

}  // namespace

std::optional<Mx> mx(std::string_view rdata) {
  if (rdata.size() < 3) return std::nullopt;
  Mx out;
  out.preference = static_cast<std::uint16_t>(static_cast<unsigned char>(rdata[0]) << 8 | static_cast<unsigned char>(rdata[1]));
  auto host = name_text(rdata.substr(2));
  if (!host) return std::nullopt;
  out.host = std::move(*host);
  return out;
}

std::optional<std::string> address(std::string_view rdata) {
  char text[INET6_ADDRSTRLEN];
  if (rdata.size() == 4) return inet_ntop(AF_INET, rdata.data(), text, sizeof text) ? std::optional<std::string>(text) : std::nullopt;
  if (rdata.size() == 16) return inet_ntop(AF_INET6, rdata.data(), text, sizeof text) ? std::optional<std::string>(text) : std::nullopt;
  return std::nullopt;
}

std::optional<Tlsa> tlsa(std::string_view rdata) {
  if (rdata.size() < 4) return std::nullopt;
  return Tlsa{static_cast<std::uint8_t>(rdata[0]), static_cast<std::uint8_t>(rdata[1]), static_cast<std::uint8_t>(rdata[2]),
              std::string(rdata.substr(3))};
}

struct Resolver::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& io;
  Settings settings;
  ub_ctx* ctx = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> fd;
  struct Pending {
    int async_id = 0;
    std::unique_ptr<asio::steady_timer> timer;
    std::function<void(Answer)> done;
  };
  std::map<std::uintptr_t, Pending> pending;  // by our own sequence number (libunbound's mydata)
  // The (Impl*, sequence) tokens handed to libunbound and not yet freed: a query still running
  // when the resolver goes (a caller that stopped waiting) gets its token freed with the context.
  std::set<std::pair<Impl*, std::uintptr_t>*> tokens;
  void release(std::pair<Impl*, std::uintptr_t>* token) {
    tokens.erase(token);
    delete token;
  }
  std::uintptr_t next = 1;
  bool waiting = false;
  // Asio's epoll reactor is edge-triggered and an async_wait never checks the descriptor first:
  // a result written to libunbound's pipe between ub_process() and the next async_wait would
  // wake nobody. While queries are pending, a short tick looks anyway (ub_poll).
  std::unique_ptr<asio::steady_timer> tick;
  bool ticking = false;

  Impl(asio::io_context& io_, Settings s) : io(io_), settings(std::move(s)) {
    ctx = ub_ctx_create();
    if (!ctx) throw std::runtime_error("dns: cannot create a libunbound context");
    auto check = [this](int err, const std::string& what) {
      if (err) {
        ub_ctx_delete(ctx);
        ctx = nullptr;
        throw std::runtime_error("dns: " + what + ": " + ub_strerror(err));
      }
    };
    if (!settings.server.empty()) {
      std::string addr = settings.server;
      // HOST:PORT or [V6]:PORT to libunbound's HOST@PORT.
      if (const auto colon = addr.rfind(':'); colon != std::string::npos && addr.find('@') == std::string::npos &&
                                               (addr.front() == '[' || addr.find(':') == colon))
        addr = addr.substr(0, colon) + "@" + addr.substr(colon + 1);
      if (!addr.empty() && addr.front() == '[') addr.erase(addr.find(']'), 1).erase(0, 1);
      check(ub_ctx_set_option(ctx, "do-not-query-localhost:", "no"), "do-not-query-localhost");
      check(ub_ctx_set_fwd(ctx, addr.c_str()), "dns.server '" + settings.server + "'");
    }
    if (!settings.trust_anchor_file.empty())
      check(ub_ctx_add_ta_file(ctx, settings.trust_anchor_file.c_str()),
            "dns.trust_anchor_file '" + settings.trust_anchor_file + "'");
    check(ub_ctx_async(ctx, 1), "async mode");
  }

  ~Impl() {
    if (fd) fd->release();  // the descriptor is libunbound's to close
    if (ctx) ub_ctx_delete(ctx);  // no callback runs after this
    for (auto* token : tokens) delete token;
  }

  static Answer convert(int err, ub_result* r) {
    Answer a;
    if (err || !r) {
      a.outcome = Outcome::error;
      a.why = ub_strerror(err);
      return a;
    }
    a.secure = r->secure != 0;
    if (r->canonname) a.canonical = r->canonname;
    if (r->bogus) {
      a.outcome = Outcome::bogus;
      a.why = r->why_bogus ? r->why_bogus : "DNSSEC validation failed";
    } else if (r->havedata) {
      a.outcome = Outcome::answer;
      for (int i = 0; r->data[i]; ++i) a.rdata.emplace_back(r->data[i], static_cast<std::size_t>(r->len[i]));
    } else if (r->rcode != 0 && r->rcode != 3) {
      a.outcome = Outcome::servfail;
      a.why = "rcode " + std::to_string(r->rcode);
    } else {
      a.outcome = r->nxdomain ? Outcome::nxdomain : Outcome::nodata;
    }
    return a;
  }

  static void on_result(void* data, int err, ub_result* r) {
    // Called by ub_process() on the io thread; `data` is (Impl*, sequence) packed by resolve().
    auto* token = static_cast<std::pair<Impl*, std::uintptr_t>*>(data);
    Impl* self = token->first;
    const std::uintptr_t seq = token->second;
    self->release(token);
    Answer a = convert(err, r);
    if (r) ub_resolve_free(r);
    self->finish(seq, std::move(a));
  }

  void finish(std::uintptr_t seq, Answer a) {
    auto it = pending.find(seq);
    if (it == pending.end()) return;  // already answered (timed out)
    auto done = std::move(it->second.done);
    it->second.timer->cancel();
    pending.erase(it);
    if (pending.empty() && fd) fd->cancel();  // nothing to wait for: let the io_context run out
    done(std::move(a));
  }

  void wait_readable() {
    start_tick();
    if (waiting || !fd) return;
    waiting = true;
    fd->async_wait(asio::posix::stream_descriptor::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
      self->waiting = false;
      if (ec && ec != asio::error::operation_aborted) return;
      if (!ec) ub_process(self->ctx);
      // (a wait cancelled while a new query was being started must be armed again)
      if (!self->pending.empty()) self->wait_readable();
    });
  }

  void start_tick() {
    if (ticking || pending.empty()) return;
    ticking = true;
    if (!tick) tick = std::make_unique<asio::steady_timer>(io);
    tick->expires_after(std::chrono::milliseconds(20));
    tick->async_wait([self = shared_from_this()](boost::system::error_code ec) {
      self->ticking = false;
      if (ec) return;
      if (ub_poll(self->ctx)) ub_process(self->ctx);
      self->start_tick();
    });
  }

  void resolve(std::string name, Type type, std::function<void(Answer)> done) {
    const std::uintptr_t seq = next++;
    auto* token = new std::pair<Impl*, std::uintptr_t>(this, seq);
    tokens.insert(token);
    int id = 0;
    const int err = ub_resolve_async(ctx, name.c_str(), static_cast<int>(type), 1, token, &Impl::on_result, &id);
    if (err) {
      release(token);
      Answer a;
      a.why = ub_strerror(err);
      asio::post(io, [done = std::move(done), a = std::move(a)]() mutable { done(std::move(a)); });
      return;
    }
    if (!fd) fd = std::make_unique<asio::posix::stream_descriptor>(io, ub_fd(ctx));
    Pending& p = pending[seq];
    p.async_id = id;
    p.done = std::move(done);
    p.timer = std::make_unique<asio::steady_timer>(io, settings.timeout);
    p.timer->async_wait([self = shared_from_this(), seq, token](boost::system::error_code ec) {
      if (ec) return;
      auto it = self->pending.find(seq);
      if (it == self->pending.end()) return;
      // A cancelled query's callback is never called, so its token is ours to free; when the
      // cancel fails the result is on its way and the callback frees it (finding no entry).
      if (ub_cancel(self->ctx, it->second.async_id) == 0) self->release(token);
      Answer a;
      a.outcome = Outcome::timeout;
      a.why = "no answer within " + std::to_string(self->settings.timeout.count()) + " ms";
      self->finish(seq, std::move(a));
    });
    wait_readable();
  }
};

Resolver::Resolver(asio::io_context& io, Settings settings) : impl_(std::make_shared<Impl>(io, std::move(settings))) {}

Resolver::~Resolver() {
  for (auto& [seq, p] : impl_->pending) p.timer->cancel();
  impl_->pending.clear();
  if (impl_->fd) impl_->fd->cancel();
  if (impl_->tick) impl_->tick->cancel();
}

void Resolver::resolve(std::string name, Type type, std::function<void(Answer)> done) {
  impl_->resolve(std::move(name), type, std::move(done));
}

asio::awaitable<Answer> Resolver::query(std::string name, Type type) {
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(Answer)>(
      [this, &name, type](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        resolve(std::move(name), type, [h](Answer a) { (*h)(std::move(a)); });
      },
      asio::use_awaitable);
}

}  // namespace tlsrpt::dns
