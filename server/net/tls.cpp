#include "net/tls.hpp"

#include <openssl/ssl.h>

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
    if (SSL_CTX_use_PrivateKey_file(native, keys[i].c_str(), SSL_FILETYPE_PEM) != 1)
      throw std::runtime_error("TLS: cannot read the key " + keys[i]);
    if (SSL_CTX_check_private_key(native) != 1)
      throw std::runtime_error("TLS: the key " + keys[i] + " is not the key of " + certs[i]);
  }
  return ctx;
}

}  // namespace tlsrpt::net
