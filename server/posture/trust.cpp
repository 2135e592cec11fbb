#include "posture/trust.hpp"

#include <map>
#include <mutex>

namespace tlsrpt::posture {

X509_STORE* webpki_store(const std::string& ca_file) {
  static std::mutex mutex;
  static std::map<std::string, X509_STORE*> stores;  // by ca_file; never freed
  std::lock_guard lock(mutex);
  if (auto it = stores.find(ca_file); it != stores.end()) return it->second;
  X509_STORE* store = X509_STORE_new();
  if (!store) return nullptr;
  X509_STORE_set_default_paths(store);
  if (!ca_file.empty() && X509_STORE_load_file(store, ca_file.c_str()) != 1) {
    X509_STORE_free(store);
    return nullptr;
  }
  stores.emplace(ca_file, store);
  return store;
}

}  // namespace tlsrpt::posture
