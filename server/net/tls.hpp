// The server side of TLS for the SMTP and HTTP listeners: one context from the configured
// certificate and key files. Several pairs may be given (comma-separated, in the same order):
// an RSA and an ECDSA certificate side by side, OpenSSL presenting the one each client's
// signature algorithms allow, as MX hosts often do.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

namespace tlsrpt::net {

// Throws std::runtime_error naming the file when a certificate or key cannot be read, or they
// do not pair up (counts differ, a key that is not its certificate's).
std::unique_ptr<boost::asio::ssl::context> server_tls_context(const std::string& cert_files, const std::string& key_files,
                                                              bool tls12_minimum);

}  // namespace tlsrpt::net
