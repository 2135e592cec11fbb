#include "net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdexcept>
#include <vector>

namespace tlsrpt::net {
namespace {

std::vector<std::string> files(const std::string& list) {
  std::vector<std::string> out;
  std::string item;
  for (char c : list + ",") {
    if (c != ',') {
      item += c;
      continue;
    }
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
    item.clear();
  }
  return out;
}

}  // namespace

std::unique_ptr<boost::asio::ssl::context> server_tls_context(const std::string& cert_files, const std::string& key_files,
                                                              bool tls12_minimum) {
  namespace ssl = boost::asio::ssl;
  const auto certs = files(cert_files), keys = files(key_files);
  if (certs.size() != keys.size())
    throw std::runtime_error("TLS: " + std::to_string(certs.size()) + " certificate files and " +
                             std::to_string(keys.size()) + " key files (give one key per certificate, in the same order)");
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::single_dh_use |
                   (tls12_minimum ? ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 : ssl::context::options{}));
  SSL_CTX* native = ctx->native_handle();
  for (std::size_t i = 0; i < certs.size(); ++i) {
    // Each certificate goes to the slot of its key type; its key follows into the same slot.
    if (SSL_CTX_use_certificate_chain_file(native, certs[i].c_str()) != 1)
      throw std::runtime_error("TLS: cannot read the certificate chain " + certs[i]);
    ERR_clear_error();
    if (SSL_CTX_use_PrivateKey_file(native, keys[i].c_str(), SSL_FILETYPE_PEM) != 1) {
      const unsigned long e = ERR_peek_last_error();
      if (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
        throw std::runtime_error("TLS: the key " + keys[i] + " is not the key of " + certs[i]);
      throw std::runtime_error("TLS: cannot read the key " + keys[i]);
    }
    if (SSL_CTX_check_private_key(native) != 1)
      throw std::runtime_error("TLS: the key " + keys[i] + " is not the key of " + certs[i]);
  }
  return ctx;
}

ServerTls::ServerTls(const std::string& cert_files, const std::string& key_files, bool tls12_minimum)
    : tls12_minimum_(tls12_minimum) {
  if (!cert_files.empty() && !key_files.empty()) context_.store(server_tls_context(cert_files, key_files, tls12_minimum));
}

std::string ServerTls::reload(const std::string& cert_files, const std::string& key_files) {
  if (!enabled()) throw std::runtime_error("TLS was off when the server started: turning it on needs a restart");
  if (cert_files.empty() || key_files.empty()) throw std::runtime_error("TLS cannot be turned off without a restart");
  std::shared_ptr<boost::asio::ssl::context> next = server_tls_context(cert_files, key_files, tls12_minimum_);
  std::string out = "certificate";
  if (X509* cert = SSL_CTX_get0_certificate(next->native_handle())) {
    char subject[512];
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    out = subject;
    if (BIO* bio = BIO_new(BIO_s_mem())) {
      if (ASN1_TIME_print(bio, X509_get0_notAfter(cert)) == 1) {
        char* text = nullptr;
        const long n = BIO_get_mem_data(bio, &text);
        out += ", not after " + std::string(text, static_cast<std::size_t>(n));
      }
      BIO_free(bio);
    }
  }
  context_.store(std::move(next));
  return out;
}

}  // namespace tlsrpt::net
