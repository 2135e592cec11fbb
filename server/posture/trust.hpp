// What the posture checks keep for the whole process: the WebPKI trust store (the system's CAs
// plus checks.ca_file; a CA bundle is parsed in full, once per fetch and per probe was most of a
// check's CPU under a sanitizer) and the TLS client contexts (SSL_CTX_new costs OpenSSL 3 more
// than a handshake's own work). Sessions are never cached in them: no probe resumes another's.
// Thread-safe; everything lives until exit.
#pragma once

#include <openssl/x509_vfy.h>

#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <string>

namespace tlsrpt::posture {

// nullptr when ca_file cannot be read (the system's CAs alone are then not used either: the
// caller reports the check incomplete).
X509_STORE* webpki_store(const std::string& ca_file);

// The client context named `key`, made by `setup` on first use (a tls_client context with the
// session cache off; `setup` adds what that kind of connection needs).
boost::asio::ssl::context& client_context(const std::string& key,
                                          const std::function<void(boost::asio::ssl::context&)>& setup);

}  // namespace tlsrpt::posture
