// PostgreSQL notifications (LISTEN): how the servers learn at once that a hosted policy changed,
// whoever changed it (tlsrpt rollout in another process, another server's API).
//
// Blocking: wait() sleeps on the connection's socket. A connection that breaks is made again on
// the next wait() (which then says true: what happened meanwhile is unknown). Errors:
// store::Error from the constructor only.
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace tlsrpt::store {

class Listener {
 public:
  Listener(std::string url, std::string channel);
  ~Listener();
  // True when a notification came (or the connection was remade) within `timeout`.
  bool wait(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlsrpt::store
