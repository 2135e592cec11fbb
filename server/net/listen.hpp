// Listening sockets from "HOST:PORT" texts ([v6]:port for IPv6), shared by the SMTP and HTTP
// servers.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <vector>

namespace tlsrpt::net {

// Throws std::runtime_error naming the text when it is not HOST:PORT with a numeric address.
boost::asio::ip::tcp::endpoint parse_endpoint(const std::string& text);

// Binds and listens on every address (IPv6 sockets v6-only), or takes the socket prebind()
// opened for it; throws std::runtime_error naming the address that failed.
std::vector<boost::asio::ip::tcp::acceptor> listen_all(boost::asio::io_context& io,
                                                       const std::vector<std::string>& addresses);

// Binds and listens on every address now and keeps the sockets for listen_all: serve does this
// while it may still bind ports below 1024, before any thread starts, so that it can give up
// that capability at once (capabilities are per thread: a thread started earlier would keep
// it). Throws std::runtime_error naming the address that failed.
void prebind(const std::vector<std::string>& addresses);

// Whether every address is a loopback address.
bool all_loopback(const std::vector<std::string>& addresses);

}  // namespace tlsrpt::net
