#include "cli/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace tlsrpt::cli {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

// Sets the process's capabilities to CAP_NET_BIND_SERVICE (permitted and effective) or none.
void set_capabilities(bool bind_service) {
  cap_t caps = cap_init();  // all clear
  if (!caps) fail("cap_init");
  const cap_value_t keep[] = {CAP_NET_BIND_SERVICE};
  if (bind_service && (cap_set_flag(caps, CAP_PERMITTED, 1, keep, CAP_SET) != 0 ||
                       cap_set_flag(caps, CAP_EFFECTIVE, 1, keep, CAP_SET) != 0)) {
    cap_free(caps);
    fail("cap_set_flag");
  }
  const int rc = cap_set_proc(caps);
  cap_free(caps);
  if (rc != 0) fail("cap_set_proc");
}

}  // namespace

std::optional<RunAs> plan_run_as(const std::string& configured_user, bool allow_root) {
  if (geteuid() != 0) return std::nullopt;
  if (configured_user.empty() && allow_root) return std::nullopt;  // told to stay root, no user named
  const std::string name = configured_user.empty() ? "tlsrpt" : configured_user;
  const passwd* pw = getpwnam(name.c_str());
  if (!pw) {
    if (!configured_user.empty()) throw std::runtime_error("server.user: no user " + configured_user);
    throw std::runtime_error(
        "started as root, and there is no user tlsrpt to run as: set server.user (TLSRPT_SERVER_USER) to an "
        "unprivileged user, or server.allow_root = true (TLSRPT_SERVER_ALLOW_ROOT) to stay root");
  }
  if (pw->pw_uid == 0) {
    if (allow_root) return std::nullopt;
    throw std::runtime_error("'" + name + "' is root: name an unprivileged user, or set server.allow_root = true");
  }
  return RunAs{name, pw->pw_uid, pw->pw_gid};
}

void give_directory(const std::string& dir, const RunAs& who) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create " + dir + ": " + ec.message());
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) fail("stat " + dir);
  if (st.st_uid == who.uid) return;
  if (st.st_uid != 0) throw std::runtime_error(dir + " belongs to another user than " + who.user + " (uid " +
                                               std::to_string(st.st_uid) + "); give it to " + who.user);
  if (::chown(dir.c_str(), who.uid, who.gid) != 0) fail("chown " + dir);
  if (::chmod(dir.c_str(), 0750) != 0) fail("chmod " + dir);
}

void become(const RunAs& who) {
  // Keep the permitted capabilities across setuid, then narrow them to binding low ports.
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail("prctl(PR_SET_KEEPCAPS)");
  if (initgroups(who.user.c_str(), who.gid) != 0) fail("initgroups " + who.user);
  if (setresgid(who.gid, who.gid, who.gid) != 0) fail("setresgid");
  if (setresuid(who.uid, who.uid, who.uid) != 0) fail("setresuid");
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) fail("prctl(PR_SET_KEEPCAPS)");
  set_capabilities(true);
  // Nothing executed later (the embedded database's tools) can gain privileges.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("prctl(PR_SET_NO_NEW_PRIVS)");
  // (changing credentials made the process non-dumpable; serve keeps it so: not_dumpable())
  // No way back: root cannot be regained.
  if (setuid(0) == 0) throw std::runtime_error("still able to become root after dropping privileges");
  // The environment a login as the user would have (the embedded database's tools read HOME).
  if (const passwd* pw = getpwuid(who.uid)) ::setenv("HOME", pw->pw_dir, 1);
  ::setenv("USER", who.user.c_str(), 1);
  ::setenv("LOGNAME", who.user.c_str(), 1);
}

void drop_capabilities() { set_capabilities(false); }

void not_dumpable() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  const int dumpable = 1;  // the sanitizers' leak check and reports inspect the process
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  const int dumpable = 1;
#else
  const int dumpable = 0;
#endif
#else
  const int dumpable = 0;
#endif
  if (prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0) != 0) fail("prctl(PR_SET_DUMPABLE)");
}

}  // namespace tlsrpt::cli
