// Giving up root: `tlsrpt serve` started as root binds its listeners (ports below 1024 need
// CAP_NET_BIND_SERVICE) and runs as an unprivileged user before it reads any input.
//
// The order: plan_run_as() decides the user at start (server.user when set; else root when
// server.allow_root is set; else "tlsrpt" when that user exists; else serve refuses); become() switches to it
// (groups, gid, uid) keeping only CAP_NET_BIND_SERVICE, before the database is opened (so the
// embedded cluster is created by and for that user); drop_capabilities() clears that last
// capability once the listeners are bound. Under systemd (User=tlsrpt, AmbientCapabilities)
// the process is not root and none of this applies.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace tlsrpt::cli {

struct RunAs {
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;
};

// nullopt: stay as is (not root, or root allowed). Throws std::runtime_error saying why serve
// refuses (root without a user to become), or that the configured user does not exist.
std::optional<RunAs> plan_run_as(const std::string& configured_user, bool allow_root);
// Gives `dir` (created when missing) to the user, so that the embedded database can live there.
void give_directory(const std::string& dir, const RunAs& who);
// Becomes the user keeping CAP_NET_BIND_SERVICE only. Throws std::runtime_error.
void become(const RunAs& who);
// Clears every capability left (after the listeners are bound). Throws std::runtime_error.
void drop_capabilities();
// Makes the process non-dumpable: another process of the same user can then neither read its
// memory nor /proc/PID/environ, and no core file is written. Sanitizer builds stay dumpable.
void not_dumpable();

}  // namespace tlsrpt::cli
