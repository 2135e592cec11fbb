// The server side of TLS for the SMTP and HTTP listeners: one context from the configured
// certificate and key files. Several pairs may be given (comma-separated, in the same order):
// an RSA and an ECDSA certificate side by side, OpenSSL presenting the one each client's
// signature algorithms allow, as MX hosts often do.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <atomic>
#include <memory>
#include <string>

namespace tlsrpt::net {

// Throws std::runtime_error naming the file when a certificate or key cannot be read, or they
// do not pair up (counts differ, a key that is not its certificate's).
std::unique_ptr<boost::asio::ssl::context> server_tls_context(const std::string& cert_files, const std::string& key_files,
                                                              bool tls12_minimum);

// A listener's TLS context that SIGHUP can replace: a connection takes current() when its
// handshake starts and keeps that context to its end, so a renewed certificate serves every new
// handshake and no open session is cut. Safe across threads.
class ServerTls {
 public:
  // Off (current() is null) when either list is empty.
  ServerTls(const std::string& cert_files, const std::string& key_files, bool tls12_minimum);
  std::shared_ptr<boost::asio::ssl::context> current() const { return context_.load(); }
  bool enabled() const { return current() != nullptr; }
  // Reads the files again (the same paths or new ones). On any error it throws
  // std::runtime_error and the current context stays. Returns the new first certificate's
  // subject and expiry, for the log.
  std::string reload(const std::string& cert_files, const std::string& key_files);

 private:
  bool tls12_minimum_;
  std::atomic<std::shared_ptr<boost::asio::ssl::context>> context_;
};

}  // namespace tlsrpt::net
