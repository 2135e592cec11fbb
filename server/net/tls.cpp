#include "net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
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

struct CertDirectory::Loaded {
  Entry entry;
  std::string signature;  // the files' sizes and modification times when loaded
  std::shared_ptr<boost::asio::ssl::context> context;
};

namespace {

std::string signature_of(const std::string& cert, const std::string& key) {
  std::string out;
  for (const auto* f : {&cert, &key}) {
    struct stat st {};
    if (::stat(f->c_str(), &st) != 0) return "";
    out += std::to_string(st.st_size) + "." + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ";";
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// A host name as a file name may give it: letters, digits, '-', '.', at least one dot.
bool host_like(const std::string& name) {
  if (name.empty() || name.size() > 253 || name.find('.') == std::string::npos || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.'; });
}

}  // namespace

CertDirectory::CertDirectory(std::string dir, bool tls12_minimum) : dir_(std::move(dir)), tls12_minimum_(tls12_minimum) {
  namespace ssl = boost::asio::ssl;
  base_ = std::make_shared<ssl::context>(ssl::context::tls_server);
  base_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::single_dh_use |
                     (tls12_minimum ? ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 : ssl::context::options{}));
  SSL_CTX_set_tlsext_servername_callback(base_->native_handle(), &CertDirectory::servername);
  SSL_CTX_set_tlsext_servername_arg(base_->native_handle(), this);
  hosts_.store(std::make_shared<const std::map<std::string, std::shared_ptr<Loaded>>>());
}

int CertDirectory::servername(SSL* ssl, int* alert, void* self) {
  const auto* me = static_cast<const CertDirectory*>(self);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name) {
    const auto hosts = me->hosts_.load();
    const auto it = hosts->find(lower(name));
    if (it != hosts->end() && it->second->context) {
      SSL_set_SSL_CTX(ssl, it->second->context->native_handle());
      return SSL_TLSEXT_ERR_OK;
    }
  }
  *alert = SSL_AD_UNRECOGNIZED_NAME;
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

std::vector<std::string> CertDirectory::rescan() {
  namespace fs = std::filesystem;
  std::lock_guard lock(rescan_);
  const auto old = hosts_.load();
  auto next = std::make_shared<std::map<std::string, std::shared_ptr<Loaded>>>();
  std::vector<std::string> log;
  std::error_code ec;
  std::vector<std::tuple<std::string, std::string, std::string>> pairs;  // host, cert, key
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory(ec)) {
      if (host_like(name) && fs::exists(e.path() / "fullchain.pem", ec))
        pairs.emplace_back(lower(name), (e.path() / "fullchain.pem").string(), (e.path() / "privkey.pem").string());
    } else if (name.size() > 4 && name.ends_with(".crt")) {
      const std::string host = name.substr(0, name.size() - 4);
      if (host_like(host) && fs::exists(e.path().parent_path() / (host + ".key"), ec))
        pairs.emplace_back(lower(host), e.path().string(), (e.path().parent_path() / (host + ".key")).string());
    }
  }
  if (ec) log.push_back("policy.cert_dir: cannot read " + dir_ + ": " + ec.message());
  for (const auto& [host, cert, key] : pairs) {
    const std::string sig = signature_of(cert, key);
    const auto before = old->find(host);
    if (before != old->end() && before->second->signature == sig && before->second->entry.cert_file == cert) {
      (*next)[host] = before->second;
      continue;
    }
    auto l = std::make_shared<Loaded>();
    l->entry = {host, cert, key, 0, ""};
    l->signature = sig;
    try {
      l->context = server_tls_context(cert, key, tls12_minimum_);
      X509* x = SSL_CTX_get0_certificate(l->context->native_handle());
      if (!x) throw std::runtime_error("no certificate in " + cert);
      if (X509_check_host(x, host.data(), host.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) != 1)
        throw std::runtime_error(cert + " does not name " + host);
      std::tm tm{};
      if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) l->entry.not_after = static_cast<std::int64_t>(timegm(&tm));
    } catch (const std::runtime_error& e) {
      l->context.reset();
      l->entry.error = e.what();
    }
    if (l->entry.error.empty())
      log.push_back(std::string(before == old->end() ? "serving" : "renewed") + " the certificate of " + host + " (" + cert + ")");
    else
      log.push_back("not serving " + host + ": " + l->entry.error);
    (*next)[host] = l;
  }
  // The other names of each certificate (an ACME client names the files after the first of
  // them), where no pair of their own was found.
  std::vector<std::pair<std::string, std::shared_ptr<Loaded>>> aliases;
  for (const auto& [host, l] : *next) {
    if (!l->context) continue;
    X509* x = SSL_CTX_get0_certificate(l->context->native_handle());
    auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
      if (n->type != GEN_DNS) continue;
      const std::string name = lower(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                                                 static_cast<std::size_t>(ASN1_STRING_length(n->d.dNSName))));
      if (host_like(name) && name != host && !next->count(name)) aliases.emplace_back(name, l);
    }
    GENERAL_NAMES_free(names);
  }
  for (auto& [name, l] : aliases) {
    auto alias = std::make_shared<Loaded>(*l);
    alias->entry.host = name;
    if (!old->count(name)) log.push_back("serving the certificate of " + name + " (" + l->entry.cert_file + ")");
    next->emplace(name, std::move(alias));
  }
  for (const auto& [host, l] : *old)
    if (!next->count(host)) log.push_back("no certificate for " + host + " any more");
  hosts_.store(std::move(next));
  return log;
}

std::vector<CertDirectory::Entry> CertDirectory::entries() const {
  std::vector<Entry> out;
  for (const auto& [host, l] : *hosts_.load()) out.push_back(l->entry);
  return out;
}

}  // namespace tlsrpt::net
