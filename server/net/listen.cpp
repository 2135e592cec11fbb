#include "net/listen.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <map>
#include <mutex>
#include <stdexcept>

namespace tlsrpt::net {

namespace asio = boost::asio;
using asio::ip::tcp;

tcp::endpoint parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("listen address " + text + ": expected HOST:PORT");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) throw std::runtime_error("listen address " + text + ": " + ec.message());
  int port = 0;
  try {
    port = std::stoi(text.substr(colon + 1));
  } catch (...) {
  }
  if (port <= 0 || port > 65535) throw std::runtime_error("listen address " + text + ": bad port");
  return {address, static_cast<unsigned short>(port)};
}

namespace {

// Sockets prebind() opened, by address text, until listen_all takes them.
std::mutex prebound_mutex;
std::map<std::string, int> prebound;

}  // namespace

std::vector<tcp::acceptor> listen_all(asio::io_context& io, const std::vector<std::string>& addresses) {
  std::vector<tcp::acceptor> out;
  for (const auto& l : addresses) {
    const tcp::endpoint ep = parse_endpoint(l);
    {
      std::lock_guard lock(prebound_mutex);
      if (const auto it = prebound.find(l); it != prebound.end()) {
        tcp::acceptor a(io);
        a.assign(ep.protocol(), it->second);
        prebound.erase(it);
        out.push_back(std::move(a));
        continue;
      }
    }
    tcp::acceptor a(io, ep.protocol());
    a.set_option(asio::socket_base::reuse_address(true));
    if (ep.address().is_v6()) a.set_option(asio::ip::v6_only(true));
    boost::system::error_code ec;
    a.bind(ep, ec);
    if (ec) throw std::runtime_error("cannot listen on " + l + ": " + ec.message());
    a.listen(asio::socket_base::max_listen_connections);
    out.push_back(std::move(a));
  }
  return out;
}

void prebind(const std::vector<std::string>& addresses) {
  asio::io_context io;  // only to open them: the sockets are released from it
  std::vector<tcp::acceptor> bound = listen_all(io, addresses);
  std::lock_guard lock(prebound_mutex);
  for (std::size_t i = 0; i < bound.size(); ++i) prebound[addresses[i]] = bound[i].release();
}

bool all_loopback(const std::vector<std::string>& addresses) {
  for (const auto& l : addresses)
    if (!parse_endpoint(l).address().is_loopback()) return false;
  return true;
}

}  // namespace tlsrpt::net
