#include "store/notify.hpp"

#include <pqxx/pqxx>

#include "store/store.hpp"

namespace tlsrpt::store {

struct Listener::Impl {
  struct Receiver : pqxx::notification_receiver {
    bool& flag;
    Receiver(pqxx::connection_base& c, const std::string& channel, bool& f) : pqxx::notification_receiver(c, channel), flag(f) {}
    void operator()(const std::string&, int) override { flag = true; }
  };
  std::string url, channel;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<Receiver> receiver;
  bool notified = false;

  void connect() {
    receiver.reset();
    conn = std::make_unique<pqxx::connection>(url);
    receiver = std::make_unique<Receiver>(*conn, channel, notified);
  }
};

Listener::Listener(std::string url, std::string channel) : impl_(std::make_unique<Impl>()) {
  impl_->url = std::move(url);
  impl_->channel = std::move(channel);
  try {
    impl_->connect();
  } catch (const std::exception& e) {
    throw Error("listen: " + std::string(e.what()), true);
  }
}

Listener::~Listener() {
  try {
    impl_->receiver.reset();
  } catch (...) {
  }
}

bool Listener::wait(std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  try {
    if (!m.conn || !m.conn->is_open()) {
      m.connect();
      return true;
    }
    m.notified = false;
    const auto ms = timeout.count();
    m.conn->await_notification(static_cast<long>(ms / 1000), static_cast<long>((ms % 1000) * 1000));
    m.conn->get_notifs();
    return m.notified;
  } catch (const std::exception&) {
    m.receiver.reset();
    m.conn.reset();
    return true;
  }
}

}  // namespace tlsrpt::store
