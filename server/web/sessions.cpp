#include "web/sessions.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace tlsrpt::web {

std::string random_token() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes (RAND_bytes failed)");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

bool same_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string Sessions::create(bool admin) {
  std::string id = random_token();
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  for (auto it = sessions_.begin(); it != sessions_.end();) it = it->second.expires <= now ? sessions_.erase(it) : std::next(it);
  // Each role has its own cap: read logins never push an admin session out, nor the reverse.
  std::size_t same_role = 0;
  auto oldest = sessions_.end();
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
    if (it->second.admin == admin) {
      ++same_role;
      if (oldest == sessions_.end() || it->second.expires < oldest->second.expires) oldest = it;
    }
  if (same_role >= max_sessions) sessions_.erase(oldest);  // that role's session closest to expiry goes
  sessions_[id] = Session{admin, random_token(), now + lifetime};
  return id;
}

std::optional<Session> Sessions::find(std::string_view id) {
  if (id.size() != 64) return std::nullopt;
  std::lock_guard lock(mutex_);
  // Looked up by value; the map's comparison is not constant-time, but an id is 256 random bits,
  // so its timing tells nothing usable about other ids.
  const auto it = sessions_.find(id);
  if (it == sessions_.end() || !same_secret(it->first, id)) return std::nullopt;
  if (it->second.expires <= std::chrono::steady_clock::now()) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void Sessions::remove(std::string_view id) {
  std::lock_guard lock(mutex_);
  const auto it = sessions_.find(id);
  if (it != sessions_.end()) sessions_.erase(it);
}

void Sessions::clear() {
  std::lock_guard lock(mutex_);
  sessions_.clear();
}

std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semi = header.find(';');
    std::string_view item = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    const auto eq = item.find('=');
    if (eq != std::string_view::npos && item.substr(0, eq) == name) return std::string(item.substr(eq + 1));
  }
  return std::nullopt;
}

std::string set_cookie(std::string_view name, std::string_view value, std::string_view path, bool secure,
                       std::chrono::seconds max_age) {
  return std::string(name) + "=" + std::string(value) + "; Path=" + std::string(path) +
         "; Max-Age=" + std::to_string(max_age.count()) + "; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "");
}

}  // namespace tlsrpt::web
