// The server side of TLS for the SMTP and HTTP listeners: one context from the configured
// certificate and key files. Several pairs may be given (comma-separated, in the same order):
// an RSA and an ECDSA certificate side by side, OpenSSL presenting the one each client's
// signature algorithms allow, as MX hosts often do.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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

// The certificates of many host names from one directory, chosen by the client's SNI: the policy
// listener's (policy.cert_dir). One pair per host, in either layout an ACME client writes:
// HOST.crt with HOST.key (lego's certificates directory: HOST.crt holds the chain) or
// HOST/fullchain.pem with HOST/privkey.pem (certbot's live directory). A pair whose certificate
// does not name its host, has no matching key or cannot be read is left out (entries() says
// why). A handshake without SNI, or for a name with no pair, is refused with the TLS alert
// unrecognized_name: no certificate is ever shown for a name it was not asked for.
// rescan() reads the directory again; new handshakes use what it found, open sessions keep
// theirs. Thread-safe.
class CertDirectory {
 public:
  CertDirectory(std::string dir, bool tls12_minimum = true);
  struct Entry {
    std::string host, cert_file, key_file;
    std::int64_t not_after = 0;  // seconds since the epoch, 0 when not loaded
    std::string error;           // why it is not served, "" when it is
  };
  // Reads the directory again (a pair is reloaded only when one of its files changed). Returns
  // one line per change, for the log.
  std::vector<std::string> rescan();
  std::vector<Entry> entries() const;
  // The context to give each new TLS stream.
  std::shared_ptr<boost::asio::ssl::context> context() const { return base_; }
  const std::string& dir() const { return dir_; }

 private:
  struct Loaded;
  static int servername(SSL* ssl, int* alert, void* self);
  std::string dir_;
  bool tls12_minimum_;
  std::shared_ptr<boost::asio::ssl::context> base_;
  std::atomic<std::shared_ptr<const std::map<std::string, std::shared_ptr<Loaded>>>> hosts_;
  std::mutex rescan_;
};

}  // namespace tlsrpt::net
