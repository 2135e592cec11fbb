// Browser sessions of the web pages: a login with a read or admin token makes a session whose
// random id travels in an HttpOnly, SameSite=Strict cookie (Secure over TLS).
//
// Trusts: nothing in a cookie or a form; ids and CSRF values are compared in constant time.
// Bounded: at most 10,000 read sessions and 10,000 admin sessions (when a role is full, its
// oldest session goes: read logins never end an admin's session), each for at most 12 hours.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace tlsrpt::web {

struct Session {
  bool admin = false;
  std::string csrf;  // the value the session's forms carry (logout)
  std::chrono::steady_clock::time_point expires;
};

class Sessions {
 public:
  static constexpr std::chrono::hours lifetime{12};
  static constexpr std::size_t max_sessions = 10000;  // per role
  // A new session; returns its id.
  std::string create(bool admin);
  std::optional<Session> find(std::string_view id);
  void remove(std::string_view id);
  void clear();  // every session ends

 private:
  std::mutex mutex_;
  std::map<std::string, Session, std::less<>> sessions_;
};

// 32 random bytes as hex (ids, CSRF values).
std::string random_token();
// Whether two secrets are equal, in constant time for equal lengths.
bool same_secret(std::string_view a, std::string_view b);
// The value of cookie `name` in a Cookie header ("a=1; b=2"), if present.
std::optional<std::string> cookie_value(std::string_view header, std::string_view name);
// A Set-Cookie value: HttpOnly, SameSite=Strict, Path; Secure when `secure`; max_age 0 deletes.
std::string set_cookie(std::string_view name, std::string_view value, std::string_view path, bool secure,
                       std::chrono::seconds max_age);

}  // namespace tlsrpt::web
