#include "posture/trust.hpp"

#include <openssl/ssl.h>

#include <map>
#include <memory>
#include <mutex>

namespace tlsrpt::posture {

X509_STORE* webpki_store(const std::string& ca_file) {
  struct Free {
    void operator()(X509_STORE* s) const { X509_STORE_free(s); }
  };
  static std::mutex mutex;
  // By ca_file; freed at exit with the map (every TLS context using one is gone by then).
  static std::map<std::string, std::unique_ptr<X509_STORE, Free>> stores;
  std::lock_guard lock(mutex);
  if (auto it = stores.find(ca_file); it != stores.end()) return it->second.get();
  std::unique_ptr<X509_STORE, Free> store(X509_STORE_new());
  if (!store) return nullptr;
  X509_STORE_set_default_paths(store.get());
  if (!ca_file.empty() && X509_STORE_load_file(store.get(), ca_file.c_str()) != 1) return nullptr;
  return stores.emplace(ca_file, std::move(store)).first->second.get();
}

boost::asio::ssl::context& client_context(const std::string& key,
                                          const std::function<void(boost::asio::ssl::context&)>& setup) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<boost::asio::ssl::context>> contexts;
  std::lock_guard lock(mutex);
  auto& slot = contexts[key];
  if (!slot) {
    slot = std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
    SSL_CTX_set_session_cache_mode(slot->native_handle(), SSL_SESS_CACHE_OFF);
    setup(*slot);
  }
  return *slot;
}

}  // namespace tlsrpt::posture
