#include "posture/trust.hpp"

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

}  // namespace tlsrpt::posture
